#include "pool.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "http.h"

namespace layerleak::oci::registry {

namespace {

constexpr auto kWaitSlice = std::chrono::milliseconds(100);  // how often waiters look at the cancel flag
constexpr std::size_t kMaxIdleMultis = 64;                    // beyond this, finished multis are closed

}  // namespace

// libcurl asks for one lock per kind of shared data (DNS, TLS sessions, the share itself).
struct RegistryPool::ShareLocks {
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<ShareLocks*>(self)->locks[static_cast<std::size_t>(data) % CURL_LOCK_DATA_LAST].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<ShareLocks*>(self)->locks[static_cast<std::size_t>(data) % CURL_LOCK_DATA_LAST].unlock();
  }
};

RegistryPool::RegistryPool(std::string registry, std::shared_ptr<ConnectGuard> guard, unsigned concurrency)
    : registry_(std::move(registry)), guard_(std::move(guard)), concurrency_(std::max(1u, concurrency)),
      locks_(std::make_unique<ShareLocks>()) {
  curl_global_init(CURL_GLOBAL_DEFAULT);  // reference-counted by libcurl; idempotent after the first
  // Why no CURL_LOCK_DATA_CONNECT: libcurl's shared connection cache is not thread-safe (its known bug
  // 11.11, issue 4915); idle connections live in multi handles lent to one transfer at a time instead.
  if (CURLSH* share = curl_share_init()) {
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &ShareLocks::lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &ShareLocks::unlock);
    curl_share_setopt(share, CURLSHOPT_USERDATA, locks_.get());
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    share_ = share;
  }
}

RegistryPool::~RegistryPool() {
  for (void* m : idle_multis_) curl_multi_cleanup(static_cast<CURLM*>(m));
  if (share_) curl_share_cleanup(static_cast<CURLSH*>(share_));
}

Status RegistryPool::acquire(const std::atomic<bool>* cancel) {
  std::unique_lock lock(mutex_);
  const auto me = std::this_thread::get_id();
  for (;;) {
    if (is_cancelled(cancel)) return make_error(Errc::cancelled, "cancelled while waiting to contact registry " + registry_);
    const auto now = Clock::now();
    const bool nested = held_.count(me) != 0;
    if (now >= not_before_ && (nested || in_flight_ < concurrency_)) break;
    const auto until = now < not_before_ ? std::min(not_before_, now + kWaitSlice) : now + kWaitSlice;
    changed_.wait_until(lock, until);
  }
  take_locked(me);
  return Ok{};
}

bool RegistryPool::try_acquire_ahead() {
  std::lock_guard lock(mutex_);
  if (Clock::now() < not_before_ || in_flight_ + 1 >= concurrency_) return false;
  take_locked(std::thread::id());
  return true;
}

void RegistryPool::take_locked(std::thread::id owner) {
  ++in_flight_;
  ++held_[owner];
  transfers_.fetch_add(1, std::memory_order_relaxed);
  unsigned peak = peak_.load();
  while (in_flight_ > peak && !peak_.compare_exchange_weak(peak, in_flight_)) {
  }
}

void RegistryPool::release(std::thread::id owner) {
  {
    std::lock_guard lock(mutex_);
    if (in_flight_ > 0) --in_flight_;
    if (auto it = held_.find(owner); it != held_.end() && --it->second == 0) held_.erase(it);
  }
  changed_.notify_all();
}

void RegistryPool::defer(Clock::duration wait) {
  std::lock_guard lock(mutex_);
  not_before_ = std::max(not_before_, Clock::now() + wait);
}

RegistryPool::Clock::duration RegistryPool::deferred_for() const {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  return not_before_ > now ? not_before_ - now : Clock::duration::zero();
}

void* RegistryPool::take_multi() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_multis_.empty()) {
      void* m = idle_multis_.back();
      idle_multis_.pop_back();
      return m;
    }
  }
  return curl_multi_init();
}

void RegistryPool::give_back(void* multi) {
  if (!multi) return;
  {
    std::lock_guard lock(mutex_);
    if (idle_multis_.size() < kMaxIdleMultis) {
      idle_multis_.push_back(multi);
      return;
    }
  }
  curl_multi_cleanup(static_cast<CURLM*>(multi));
}

std::string RegistryPool::scheme() const {
  std::lock_guard lock(mutex_);
  return scheme_;
}

void RegistryPool::set_scheme(const std::string& scheme) {
  std::lock_guard lock(mutex_);
  scheme_ = scheme;
}

std::optional<RegistryPool::Token> RegistryPool::token(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = tokens_.find(key);
  if (it == tokens_.end()) return std::nullopt;
  return it->second;
}

void RegistryPool::put_token(const std::string& key, Token token) {
  // Why a bound: a long-running serve meets a new scope (repository) with every image; tokens past their
  // refresh time are dropped first, then the one due soonest.
  constexpr std::size_t kMaxTokens = 256;
  std::lock_guard lock(mutex_);
  if (!tokens_.contains(key) && tokens_.size() >= kMaxTokens) {
    const Clock::time_point now = Clock::now();
    std::erase_if(tokens_, [&](const auto& entry) { return entry.second.refresh_at <= now; });
    while (tokens_.size() >= kMaxTokens) {
      auto soonest = std::min_element(tokens_.begin(), tokens_.end(), [](const auto& a, const auto& b) {
        return a.second.refresh_at < b.second.refresh_at;
      });
      tokens_.erase(soonest);
    }
  }
  tokens_[key] = std::move(token);
}

void RegistryPool::drop_token(const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  if (auto it = tokens_.find(key); it != tokens_.end() && it->second.value == value) tokens_.erase(it);
}

std::shared_ptr<RegistryPool> shared_pool(const std::string& key, const std::function<std::shared_ptr<RegistryPool>()>& make) {
  // Why a bound and not "one per registry forever": a serve without --allow-registry is asked about images
  // on any registry, and each pool keeps idle connections open. Past kMaxPools, the least recently used
  // pools that no session holds are closed (their connections with them); pools in use are never dropped.
  // A process that scans thousands of images of one registry keeps reusing the same pool.
  constexpr std::size_t kMaxPools = 32;
  struct Entry {
    std::shared_ptr<RegistryPool> pool;
    std::uint64_t last_use = 0;
  };
  static std::mutex mutex;
  static auto* pools = new std::map<std::string, Entry>();  // never destroyed: used until exit
  static std::uint64_t uses = 0;
  std::lock_guard lock(mutex);
  if (auto it = pools->find(key); it != pools->end()) {
    it->second.last_use = ++uses;
    return it->second.pool;
  }
  while (pools->size() >= kMaxPools) {
    auto oldest = pools->end();
    for (auto it = pools->begin(); it != pools->end(); ++it) {
      if (it->second.pool.use_count() == 1 && (oldest == pools->end() || it->second.last_use < oldest->second.last_use)) {
        oldest = it;
      }
    }
    if (oldest == pools->end()) break;  // every pool is in use: the sessions holding them bound their number
    pools->erase(oldest);
  }
  Entry& entry = (*pools)[key];
  entry.pool = make();
  entry.last_use = ++uses;
  return entry.pool;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::time_t now, std::chrono::seconds cap) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // Digits only: seconds. Compared digit by digit so that a huge number cannot overflow.
    std::int64_t seconds = 0;
    for (char c : value) {
      seconds = seconds * 10 + (c - '0');
      if (seconds > cap.count()) return cap;
    }
    return std::chrono::seconds(seconds);
  }
  // An HTTP-date: letters, digits, spaces, commas, colons and dashes only, and short.
  if (value.size() > 64 || !std::all_of(value.begin(), value.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == ',' || c == ':' || c == '-';
      })) {
    return std::nullopt;
  }
  if (!std::isalpha(static_cast<unsigned char>(value.front()))) return std::nullopt;  // dates start with a day name
  const std::string text(value);
  const std::time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  if (when <= now) return std::chrono::seconds(0);
  return std::min(cap, std::chrono::seconds(when - now));
}

}  // namespace layerleak::oci::registry
