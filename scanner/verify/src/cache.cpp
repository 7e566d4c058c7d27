// MemoryVerificationCache: results by fingerprint for one process, each kept for the TTL.
#include "layerleak/verify.h"

namespace layerleak::verify {

MemoryVerificationCache::MemoryVerificationCache(std::chrono::seconds ttl) : ttl_(ttl) {}

std::optional<report::Verification> MemoryVerificationCache::get(const std::string& fingerprint) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(fingerprint);
  if (it == entries_.end()) return std::nullopt;
  if (Clock::now() - it->second.first >= ttl_) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.second;
}

void MemoryVerificationCache::put(const std::string& fingerprint, const report::Verification& verification) {
  if (verification.status == "unknown") return;  // Why: a timeout now says nothing about the next minute
  std::lock_guard lock(mutex_);
  entries_[fingerprint] = {Clock::now(), verification};
}

}  // namespace layerleak::verify
