// StoreVerificationCache: verification results in a cache::Store, with a claim per key so that processes
// sharing the store send one request per key between them.
#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "layerleak/store.h"
#include "layerleak/verify.h"

namespace layerleak::verify {

namespace {

constexpr const char* kClaimScope = "verify";

std::string api_key_json(const report::ApiKeyInfo& info) {
  nlohmann::json j = {{"access_key", info.access_key},
                      {"description", info.description},
                      {"user_id", info.user_id},
                      {"application_id", info.application_id},
                      {"default_project_id", info.default_project_id},
                      {"created_at", info.created_at},
                      {"expires_at", info.expires_at}};
  return j.dump();
}

// The stored API key metadata, or nullopt when it is not the object api_key_json writes (then the whole
// record is a miss: a store only saves work).
std::optional<report::ApiKeyInfo> parse_api_key(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  report::ApiKeyInfo info;
  const std::pair<const char*, std::string*> fields[] = {
      {"access_key", &info.access_key}, {"description", &info.description}, {"user_id", &info.user_id},
      {"application_id", &info.application_id}, {"default_project_id", &info.default_project_id},
      {"created_at", &info.created_at}, {"expires_at", &info.expires_at}};
  for (const auto& [name, slot] : fields) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    *slot = it->get<std::string>();
  }
  return info;
}

}  // namespace

StoreVerificationCache::StoreVerificationCache(cache::Store& store, std::chrono::seconds ttl, std::string owner,
                                               std::chrono::milliseconds wait_limit, const std::atomic<bool>* cancel)
    : store_(store), ttl_(ttl), owner_(std::move(owner)), wait_limit_(wait_limit), cancel_(cancel) {}

StoreVerificationCache::~StoreVerificationCache() {
  for (const std::string& fingerprint : claimed_) (void)store_.release(kClaimScope, fingerprint, owner_);
}

std::optional<report::Verification> StoreVerificationCache::lookup(const std::string& fingerprint) {
  auto record = store_.get_verification(fingerprint, ttl_);
  if (!record) return std::nullopt;
  if (record->status != "live" && record->status != "invalid" && record->status != "unsupported") return std::nullopt;
  report::Verification v{record->status, record->checked_at, record->http_status, record->reason, std::nullopt};
  if (!record->api_key_json.empty()) {
    v.api_key = parse_api_key(record->api_key_json);
    if (!v.api_key) return std::nullopt;
  }
  return v;
}

std::optional<report::Verification> StoreVerificationCache::get(const std::string& fingerprint) {
  // Why the lease: past the wait limit, a crashed owner's claim must not hold the others back.
  const auto lease = wait_limit_ + std::chrono::seconds(30);
  const auto deadline = std::chrono::steady_clock::now() + wait_limit_;
  while (true) {
    if (auto found = lookup(fingerprint)) return found;
    auto claimed = store_.try_claim(kClaimScope, fingerprint, owner_, lease);
    // A store failure: check it ourselves (one request more is better than no answer).
    if (!claimed || *claimed) {
      if (claimed) {
        // The other owner may have stored its answer and released just before our claim.
        if (auto found = lookup(fingerprint)) {
          (void)store_.release(kClaimScope, fingerprint, owner_);
          return found;
        }
        std::lock_guard lock(mutex_);
        claimed_.push_back(fingerprint);
      }
      return std::nullopt;
    }
    if (std::chrono::steady_clock::now() >= deadline || (cancel_ && cancel_->load())) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void StoreVerificationCache::put(const std::string& fingerprint, const report::Verification& verification) {
  cache::VerificationRecord record{verification.status, verification.checked_at, verification.http_status,
                                   verification.reason, verification.api_key ? api_key_json(*verification.api_key) : ""};
  (void)store_.put_verification(fingerprint, record);  // unknown: not stored; a failure only costs a request later
  std::lock_guard lock(mutex_);
  auto it = std::find(claimed_.begin(), claimed_.end(), fingerprint);
  if (it != claimed_.end()) {
    (void)store_.release(kClaimScope, fingerprint, owner_);
    claimed_.erase(it);
  }
}

}  // namespace layerleak::verify
