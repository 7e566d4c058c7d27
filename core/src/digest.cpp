#include <openssl/evp.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "layerleak/core.h"

namespace layerleak {

Result<Digest> Digest::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return make_error(Errc::malformed, "digest without algorithm: \"" + std::string(text.substr(0, 80)) + "\"");
  }
  std::string_view algorithm = text.substr(0, colon);
  std::string_view hex = text.substr(colon + 1);
  if (algorithm != "sha256") {
    return make_error(Errc::unsupported, "unsupported digest algorithm \"" + std::string(algorithm.substr(0, 20)) + "\"");
  }
  if (hex.size() != 64) return make_error(Errc::malformed, "sha256 digest must have 64 hex digits");
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return make_error(Errc::malformed, "sha256 digest must be lowercase hex");
    }
  }
  return Digest{std::string(algorithm), std::string(hex)};
}

struct Sha256::Impl {
  struct CtxDeleter {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx{EVP_MD_CTX_new()};
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  // Why no error path: EVP_sha256 initialisation only fails on allocation failure, which the rest of
  // the program cannot survive either.
  EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr);
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::span<const char> bytes) {
  if (!bytes.empty()) EVP_DigestUpdate(impl_->ctx.get(), bytes.data(), bytes.size());
}

Digest Sha256::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx.get(), out, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 15]);
  }
  return Digest{"sha256", std::move(hex)};
}

Digest Sha256::of(std::string_view text) {
  Sha256 h;
  h.update(text);
  return h.finish();
}

struct BackgroundSha256::State {
  static constexpr std::size_t kBuffers = 4;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::vector<char>> queued;  // filled, waiting to be hashed
  std::vector<std::vector<char>> free;   // ready for reuse
  std::size_t in_flight = 0;             // buffers handed out or queued
  bool closing = false;
  bool busy = false;                     // the thread is hashing a buffer
  Sha256 hasher;
  std::thread thread;

  void run() {
    std::unique_lock lock(mutex);
    while (true) {
      changed.wait(lock, [&] { return closing || !queued.empty(); });
      if (queued.empty()) return;  // closing and drained
      std::vector<char> buffer = std::move(queued.front());
      queued.pop_front();
      busy = true;
      lock.unlock();
      hasher.update(std::span<const char>(buffer.data(), buffer.size()));
      lock.lock();
      busy = false;
      free.push_back(std::move(buffer));
      --in_flight;
      changed.notify_all();
    }
  }
};

BackgroundSha256::BackgroundSha256() : state_(std::make_unique<State>()) {
  state_->thread = std::thread([s = state_.get()] { s->run(); });
}

BackgroundSha256::~BackgroundSha256() {
  {
    std::lock_guard lock(state_->mutex);
    state_->closing = true;
  }
  state_->changed.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

void BackgroundSha256::update(std::span<const char> bytes) {
  if (bytes.empty()) return;
  State& s = *state_;
  std::vector<char> buffer;
  {
    std::unique_lock lock(s.mutex);
    s.changed.wait(lock, [&] { return s.in_flight < State::kBuffers; });
    ++s.in_flight;
    if (!s.free.empty()) {
      buffer = std::move(s.free.back());
      s.free.pop_back();
    }
  }
  buffer.assign(bytes.begin(), bytes.end());
  {
    std::lock_guard lock(s.mutex);
    s.queued.push_back(std::move(buffer));
  }
  s.changed.notify_all();
}

Digest BackgroundSha256::finish() {
  State& s = *state_;
  {
    std::unique_lock lock(s.mutex);
    s.changed.wait(lock, [&] { return s.queued.empty() && !s.busy; });
  }
  return s.hasher.finish();
}

HashingReader::HashingReader(ByteReader& inner, std::optional<Digest> expected, std::string what, bool background)
    : inner_(inner), expected_(std::move(expected)), what_(std::move(what)),
      background_(background ? std::make_unique<BackgroundSha256>() : nullptr) {}

Result<std::size_t> HashingReader::read(std::span<char> out) {
  if (computed_) return std::size_t{0};
  auto n = inner_.read(out);
  if (!n) return n;
  if (*n > 0) {
    if (background_) {
      background_->update(out.first(*n));
    } else {
      hasher_.update(out.first(*n));
    }
    bytes_ += *n;
    return n;
  }
  computed_ = background_ ? background_->finish() : hasher_.finish();
  if (expected_ && *expected_ != *computed_) {
    return make_error(Errc::digest_mismatch, what_ + " digest mismatch: expected " + expected_->str() +
                                                 ", content hashes to " + computed_->str());
  }
  return std::size_t{0};
}

}  // namespace layerleak
