// One registry conversation: scheme choice (HTTPS, or plain HTTP for loopback hosts), the auth
// challenge, bearer tokens (fetched, cached, refreshed on expiry or on a 401), redirects that never
// carry the registry's Authorization to another host, and bounded retries with backoff.
// Thread-safe: layers are fetched from several workers at once. Internal to the oci library.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "credentials.h"
#include "http.h"
#include "pool.h"
#include "registry.h"

namespace layerleak::oci::registry {

class Session {
 public:
  // `cancel`: see SourceOptions::cancel. Without `classify`, the session uses the process-wide pool of
  // its registry (connections, TLS sessions, tokens, the in-flight bound and Retry-After, the
  // ConnectGuard), shared with every other session of the same registry and options. With it, the session
  // has a pool of its own whose ConnectGuard uses `classify` (tests make a loopback registry look public).
  Session(RegistryReference reference, RegistryOptions options, std::optional<Credentials> credentials,
          const std::atomic<bool>* cancel = nullptr, ConnectGuard::Classifier classify = nullptr);

  // Pings /v2/: picks the scheme and learns how the registry wants to be authenticated.
  Status connect();

  // GET `path` ("/v2/…") on the registry. The returned transfer has its head read and a 200 or 206
  // status; every other outcome is an error naming `what` (auth, not_found, network, malformed).
  // `scope`: the bearer token scope the request needs ("" = "repository:<reference's repository>:pull").
  // `head_only`: a HEAD request (the transfer is over once its head is read).
  Result<std::unique_ptr<Transfer>> get(const std::string& path, const std::vector<std::string>& headers,
                                        const std::string& what, const std::string& scope = "",
                                        bool head_only = false);

  // One GET of `path` with the repository's pull authorization: no retry, no second authentication. For
  // a request made ahead of need, whose failure the caller answers by asking again with get(). A
  // transfer answered 200, else an error, to be read by any thread. `stop` (not owned) ends it as the
  // cancel flag does; `own_connection`: see TransportConfig.
  Result<std::unique_ptr<Transfer>> get_once(const std::string& path, const std::string& what, const std::atomic<bool>* stop,
                                             bool own_connection);

  // "https://host[:port]" or "http://…", once connect() succeeded.
  const std::string& base() const { return base_; }
  const std::shared_ptr<RegistryPool>& pool() const { return transport_.pool; }

  const RegistryReference& reference() const { return reference_; }
  unsigned max_retries() const { return options_.max_retries; }
  // Sleeps before retry `attempt` (250 ms doubling, at most 8 s), waking every 100 ms to look at the
  // cancel flag: Errc::cancelled when it is set (then no retry may start).
  Status backoff(unsigned attempt) const;
  // True once the registry was found on a public address (private peers are refused).
  bool private_peers_refused() const { return transport_.guard && transport_.guard->restricted(); }
  // How many bearer tokens were fetched (for tests and logs).
  unsigned tokens_fetched() const;

 private:
  // The error for an answer to /v2/ that is neither 200 nor 401.
  Error not_a_registry(long status) const;
  enum class Scheme { none, basic, bearer };
  struct Auth {
    std::string header;  // "Authorization: …", or "" for none
    std::string token;   // the bearer token the header carries, to invalidate exactly that one
  };

  Result<Auth> authorization(const std::string& scope);
  Status fetch_token_locked(const std::string& scope);
  std::string token_key(const std::string& scope) const;
  // Whether to retry after `status`; waits first (Retry-After or back-off; a 429, or a 503 with
  // Retry-After, makes the whole registry wait through the pool). Errc::cancelled while waiting.
  Result<bool> wait_before_retry(const ResponseHead& head, unsigned attempt);
  // After a 429, or a 503 with Retry-After: the whole registry waits (through the pool) for Retry-After,
  // or the back-off of `attempt` without one. False for other answers.
  bool defer_if_asked(const ResponseHead& head, unsigned attempt);
  void learn_challenge_locked(const std::vector<std::string>& challenges);
  void invalidate(const std::string& scope, const std::string& token);
  Error auth_error(const std::string& what, long status) const;
  Result<std::unique_ptr<Transfer>> open_following_redirects(std::string url, std::vector<std::string> headers,
                                                             const std::string& auth_header, bool head_only,
                                                             const TransportConfig* ahead = nullptr);

  RegistryReference reference_;
  RegistryOptions options_;
  TransportConfig transport_;
  std::optional<Credentials> credentials_;
  std::string base_;  // "https://host[:port]"

  mutable std::mutex mutex_;
  Scheme scheme_ = Scheme::none;
  std::map<std::string, std::string> challenge_;  // realm, service
  std::string credential_key_;                     // names the credentials in token keys (a hash, never them)
  unsigned tokens_fetched_ = 0;
};

// Parses one WWW-Authenticate challenge: `Bearer realm="…",service="…"` → {"bearer", {realm, service}}.
std::pair<std::string, std::map<std::string, std::string>> parse_challenge(std::string_view challenge);

// The message of a registry's JSON error body ({"errors":[{"code":…,"message":…}]}), or "".
std::string registry_error_text(std::string_view body);

// Reads and drops what is left of a small answer (at most 64 KiB), so that its connection can serve the
// next request; larger answers are left to libcurl, which closes their connection.
void drain(Transfer& transfer);

}  // namespace layerleak::oci::registry
