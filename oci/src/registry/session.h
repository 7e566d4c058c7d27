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
#include "registry.h"

namespace layerleak::oci::registry {

class Session {
 public:
  // `cancel`: see SourceOptions::cancel. `classify` replaces classify_address in the session's
  // ConnectGuard (tests make a loopback registry look public with it).
  Session(RegistryReference reference, RegistryOptions options, std::optional<Credentials> credentials,
          const std::atomic<bool>* cancel = nullptr, ConnectGuard::Classifier classify = classify_address);

  // Pings /v2/: picks the scheme and learns how the registry wants to be authenticated.
  Status connect();

  // GET `path` ("/v2/…") on the registry. The returned transfer has its head read and a 200 or 206
  // status; every other outcome is an error naming `what` (auth, not_found, network, malformed).
  Result<std::unique_ptr<Transfer>> get(const std::string& path, const std::vector<std::string>& headers,
                                        const std::string& what);

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
  enum class Scheme { none, basic, bearer };
  struct Auth {
    std::string header;  // "Authorization: …", or "" for none
    std::string token;   // the bearer token the header carries, to invalidate exactly that one
  };

  Result<Auth> authorization();
  Status fetch_token_locked();
  void learn_challenge_locked(const std::vector<std::string>& challenges);
  void invalidate(const std::string& token);
  Error auth_error(const std::string& what, long status) const;
  Result<std::unique_ptr<Transfer>> open_following_redirects(std::string url, std::vector<std::string> headers,
                                                             const std::string& auth_header);

  RegistryReference reference_;
  RegistryOptions options_;
  TransportConfig transport_;
  std::optional<Credentials> credentials_;
  std::string base_;  // "https://host[:port]"

  mutable std::mutex mutex_;
  Scheme scheme_ = Scheme::none;
  std::map<std::string, std::string> challenge_;  // realm, service
  std::string token_;
  std::chrono::steady_clock::time_point token_refresh_at_{};
  unsigned tokens_fetched_ = 0;
};

// Parses one WWW-Authenticate challenge: `Bearer realm="…",service="…"` → {"bearer", {realm, service}}.
std::pair<std::string, std::map<std::string, std::string>> parse_challenge(std::string_view challenge);

// The message of a registry's JSON error body ({"errors":[{"code":…,"message":…}]}), or "".
std::string registry_error_text(std::string_view body);

}  // namespace layerleak::oci::registry
