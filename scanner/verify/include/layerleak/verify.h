// layerleak verify: opt-in liveness check of leaked Scaleway secret keys against the IAM API (`--verify`).
//
// For each distinct secret key (by fingerprint), one GET with the secret in X-Auth-Token and nowhere else:
// GET {endpoint}/iam/v1alpha1/api-keys/{ACCESS_KEY} when an access key was paired with it, else
// GET {endpoint}/iam/v1alpha1/api-keys?page_size=1. 200 or 403 -> live, 401 -> invalid, anything else
// (5xx, 429 past the budget, a redirect, TLS, timeout, cancel) -> unknown with the reason. Other token kinds
// (Kapsule, Cockpit, Serverless, Messaging, NATS) are "unsupported" (docs/verification.md says why).
//
// Not responsible for: finding keys (detect), deciding the exit status (cli), storing results across runs
// (the cache/store implements VerificationCache).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/core.h"
#include "layerleak/report.h"

namespace layerleak::cache {
class Store;
}

namespace layerleak::verify {

inline constexpr const char* kDefaultEndpoint = "https://api.scaleway.com";

// One secret key to check. `access_key` is used in the URL only when it has the access key's form
// (SCW + 17 of [0-9A-Z]); anything else is dropped and the list probe is used.
struct Request {
  std::string fingerprint;
  std::string secret;  // a canonical UUID; anything else is answered "unknown" without a request
  std::string access_key;
};

struct Options {
  std::string endpoint = kDefaultEndpoint;  // checked by check_endpoint; no trailing slash needed
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds budget{60'000};  // for the whole batch; then every unanswered key is unknown
  unsigned max_in_flight = 4;
  std::size_t max_body_bytes = 256 * 1024;  // larger answers: unknown
  unsigned max_attempts = 3;                // 429 with Retry-After within the budget: tried again
  const std::atomic<bool>* cancel = nullptr;  // polled every 100 ms; set: the rest are unknown ("cancelled")
  std::string user_agent = "layerleak";
};

// The endpoint as it will be used ("https://api.scaleway.com", no trailing slash), or Errc::invalid_argument
// with a message for the user: https:// anything; http:// only a loopback host (localhost, 127.0.0.0/8, ::1);
// no user:password@, query or fragment (the token must go to exactly the host the user named).
Result<std::string> check_endpoint(std::string_view url);

// True for a canonical UUID (8-4-4-4-12 hex) and for SCW + 17 of [0-9A-Z] respectively.
bool is_secret_key_form(std::string_view secret);
bool is_access_key_form(std::string_view access_key);

// Checks every request (duplicate fingerprints once), at most max_in_flight at a time, and returns a result
// for each fingerprint. Never throws, never logs; no message contains a secret. Blocks until all are answered,
// the budget is spent or cancel is set. `now` is used for checked_at (RFC 3339, UTC).
std::map<std::string, report::Verification> verify_secrets(const std::vector<Request>& requests, const Options& options);

// Results kept by fingerprint for serve and audit (a scan deduplicates within its run only). Implementations
// must be thread-safe. get returns nothing for an entry older than the cache's TTL.
class VerificationCache {
 public:
  virtual ~VerificationCache() = default;
  virtual std::optional<report::Verification> get(const std::string& fingerprint) = 0;
  virtual void put(const std::string& fingerprint, const report::Verification& verification) = 0;
};

// In memory, for one process; `unknown` results are never kept (the next run should try again).
class MemoryVerificationCache final : public VerificationCache {
 public:
  using Clock = std::chrono::steady_clock;
  explicit MemoryVerificationCache(std::chrono::seconds ttl);
  std::optional<report::Verification> get(const std::string& fingerprint) override;
  void put(const std::string& fingerprint, const report::Verification& verification) override;

 private:
  std::chrono::seconds ttl_;
  std::mutex mutex_;
  std::map<std::string, std::pair<Clock::time_point, report::Verification>> entries_;
};

// Results kept in a cache::Store (the SQLite cache or a PostgreSQL store), shared by every process using it:
// serve replicas, audit workers. Only what a report shows is stored (status, checked_at, http_status,
// reason, the API key's metadata), never the secret; `unknown` is never stored. Make one per verify_report
// call: `owner` must be unique to it (claims are by owner).
//
// Once per key across processes: get() of a fingerprint with no stored answer claims it in the store
// (claims scope "verify") and returns nothing, so the caller checks it; put() stores the answer and gives
// the claim up. A get() finding the claim held by another owner waits (polling every 100 ms) for that
// owner's answer, or its claim, or `wait_limit`, or cancel. verify_report looks keys up in fingerprint
// order, so owners never wait on each other in a cycle.
class StoreVerificationCache final : public VerificationCache {
 public:
  StoreVerificationCache(cache::Store& store, std::chrono::seconds ttl, std::string owner,
                         std::chrono::milliseconds wait_limit, const std::atomic<bool>* cancel = nullptr);
  ~StoreVerificationCache() override;  // gives up the claims left (a key whose put never came)
  std::optional<report::Verification> get(const std::string& fingerprint) override;
  void put(const std::string& fingerprint, const report::Verification& verification) override;

 private:
  std::optional<report::Verification> lookup(const std::string& fingerprint);
  cache::Store& store_;
  std::chrono::seconds ttl_;
  std::string owner_;
  std::chrono::milliseconds wait_limit_;
  const std::atomic<bool>* cancel_;
  std::mutex mutex_;
  std::vector<std::string> claimed_;
};

struct ReportVerification {
  std::size_t requests_sent = 0;  // distinct keys checked over the network (not from the cache)
  std::size_t from_cache = 0;
};

// Verifies the active findings of `report` in place: scaleway.secret-key findings are checked (pairing: the
// finding's paired_access_key, i.e. the nearest access key the detector found in the same file); other
// Scaleway token kinds get "unsupported"; an access-key finding takes the result of a secret key it was
// paired with. A key verified invalid drops to severity low (verification never raises one). Suppressed
// findings get the result of the same fingerprint, if any, without a request of their own. `cache` may be null.
ReportVerification verify_report(report::ScanReport& report, const Options& options, VerificationCache* cache);

}  // namespace layerleak::verify
