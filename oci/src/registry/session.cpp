#include "session.h"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

namespace layerleak::oci::registry {

namespace {

constexpr int kMaxRedirects = 5;
constexpr std::size_t kMaxErrorBody = 16u << 10;
constexpr std::size_t kMaxTokenAnswer = 1u << 20;
constexpr std::size_t kMaxDrained = 64u << 10;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool retryable_status(long status) { return status == 429 || status >= 500; }

// The host name of "host[:port]" or "[v6]:port", without the port.
std::string name_of(std::string_view host_port) {
  if (host_port.starts_with("[")) return std::string(host_port.substr(0, host_port.find(']') + 1));
  return std::string(host_port.substr(0, host_port.find(':')));
}

}  // namespace

std::pair<std::string, std::map<std::string, std::string>> parse_challenge(std::string_view text) {
  std::map<std::string, std::string> params;
  std::size_t i = 0;
  while (i < text.size() && text[i] == ' ') ++i;
  const std::size_t scheme_end = std::min(text.find(' ', i), text.size());
  std::string scheme = lower(text.substr(i, scheme_end - i));
  i = scheme_end;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
    const std::size_t eq = text.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string key = lower(text.substr(i, eq - i));
    while (!key.empty() && key.back() == ' ') key.pop_back();
    i = eq + 1;
    std::string value;
    if (i < text.size() && text[i] == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        value += text[i];
      }
      ++i;  // closing quote
    } else {
      const std::size_t end = std::min(text.find(',', i), text.size());
      value = std::string(text.substr(i, end - i));
      while (!value.empty() && value.back() == ' ') value.pop_back();
      i = end;
    }
    params[key] = value;
  }
  return {scheme, params};
}

std::string registry_error_text(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "";
  auto errors = j.find("errors");
  if (errors == j.end() || !errors->is_array()) return "";
  std::string text;
  for (const auto& e : *errors) {
    if (!e.is_object()) continue;
    std::string code = e.contains("code") && e["code"].is_string() ? e["code"].get<std::string>() : "";
    std::string message = e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
    if (code.empty() && message.empty()) continue;
    if (!text.empty()) text += "; ";
    text += code + (code.empty() || message.empty() ? "" : ": ") + message;
    if (text.size() > 300) break;
  }
  return text.substr(0, 300);
}

Session::Session(RegistryReference reference, RegistryOptions options, std::optional<Credentials> credentials,
                 const std::atomic<bool>* cancel, ConnectGuard::Classifier classify)
    : reference_(std::move(reference)), options_(std::move(options)), credentials_(std::move(credentials)) {
  transport_.tls_verify = options_.tls_verify;
  transport_.stall_timeout_seconds = options_.stall_timeout_seconds;
  TrustedCas cas = trusted_cas(reference_.host);
  transport_.ca_file = std::move(cas.file);
  transport_.ca_pem = std::move(cas.pem);
  transport_.cancel = cancel;
  const unsigned concurrency = std::clamp(options_.concurrency, 1u, 64u);
  if (classify) {
    auto guard = std::make_shared<ConnectGuard>(reference_.registry, options_.block_private_redirects, std::move(classify));
    transport_.pool = std::make_shared<RegistryPool>(reference_.registry, std::move(guard), concurrency);
  } else {
    // Why the options in the key: sessions that reach the registry differently (TLS checks, the
    // private-network policy, another bound) must not share connections or a guard's decision.
    const std::string key = lower(reference_.host) + "|" + (options_.tls_verify ? "verify" : "insecure") + "|" +
                            (options_.block_private_redirects ? "guarded" : "open") + "|" + std::to_string(concurrency);
    const RegistryReference& ref = reference_;
    const bool guarded = options_.block_private_redirects;
    transport_.pool = shared_pool(key, [&] {
      return std::make_shared<RegistryPool>(ref.registry, std::make_shared<ConnectGuard>(ref.registry, guarded), concurrency);
    });
  }
  transport_.guard = transport_.pool->guard();
  // Tokens are shared by sessions with the same credentials: the key holds a hash of them, never them.
  std::string secret = "anonymous";
  if (!options_.bearer_token.empty()) {
    secret = "bearer\n" + options_.bearer_token;
  } else if (credentials_) {
    secret = "creds\n" + credentials_->username + "\n" + credentials_->password + "\n" + credentials_->identity_token;
  }
  credential_key_ = Sha256::of(secret).str();
}

void drain(Transfer& transfer) { (void)transfer.read_all(kMaxDrained); }

bool Session::defer_if_asked(const ResponseHead& head, unsigned attempt) {
  const std::string retry_after = head.header("retry-after");
  if (head.status != 429 && (head.status != 503 || retry_after.empty())) return false;
  // The registry asked everyone to slow down: every transfer to it waits, not only this one.
  auto wait = parse_retry_after(retry_after, std::time(nullptr));
  const auto backoff_time = std::chrono::milliseconds(250) * (1u << std::min(attempt, 5u));
  transport_.pool->defer(wait ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(*wait)
                              : std::chrono::duration_cast<std::chrono::steady_clock::duration>(backoff_time));
  return true;
}

Result<bool> Session::wait_before_retry(const ResponseHead& head, unsigned attempt) {
  const long status = head.status;
  if (!retryable_status(status) || attempt >= options_.max_retries) return false;
  if (defer_if_asked(head, attempt)) {
    // The wait itself happens when the retry takes its slot (RegistryPool::acquire), cancel included.
    if (is_cancelled(transport_.cancel)) return make_error(Errc::cancelled, "cancelled before retrying registry " + reference_.registry);
    return true;
  }
  if (auto slept = backoff(attempt); !slept) return std::move(slept).error();
  return true;
}

Status Session::backoff(unsigned attempt) const {
  constexpr auto kSlice = std::chrono::milliseconds(100);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(250) * (1u << std::min(attempt, 5u));
  for (;;) {
    if (is_cancelled(transport_.cancel)) {
      return make_error(Errc::cancelled, "cancelled before retrying registry " + reference_.registry);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return Ok{};
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(kSlice, until - now));
  }
}

std::string Session::token_key(const std::string& scope) const {
  auto realm = challenge_.find("realm");
  auto service = challenge_.find("service");
  return credential_key_ + "\n" + (realm == challenge_.end() ? "" : realm->second) + "\n" +
         (service == challenge_.end() ? "" : service->second) + "\n" + scope;
}

unsigned Session::tokens_fetched() const {
  std::lock_guard lock(mutex_);
  return tokens_fetched_;
}

Error Session::not_a_registry(long status) const {
  return Error{status == 404 ? Errc::not_found : Errc::network,
               "registry " + reference_.registry + " answered HTTP " + std::to_string(status) +
                   " to /v2/ (not a distribution v2 registry?)"};
}

Status Session::connect() {
  std::vector<std::string> schemes = probe_schemes(reference_.host, options_.tls_verify);
  // Another session already found out: no second probe per session.
  if (const std::string known = transport_.pool->scheme();
      !known.empty() && std::find(schemes.begin(), schemes.end(), known) != schemes.end()) {
    schemes = {known};
  }
  std::optional<Error> first_error;
  std::optional<Error> plain_answer;  // what a loopback registry answered in plain HTTP, if not a registry's answer
  for (std::size_t s = 0; s < schemes.size(); ++s) {
    const std::string& scheme = schemes[s];
    const bool other_left = s + 1 < schemes.size();
    const std::string url = scheme + "://" + reference_.host + "/v2/";
    for (unsigned attempt = 0;; ++attempt) {
      auto t = Transfer::start({url, {}, {}}, transport_);
      if (!t) return std::move(t).error();
      if (auto st = (*t)->wait_head(); !st) {
        // Cancelled, or refused by the connect guard: final, neither retried nor downgraded.
        if (st.error().code != Errc::network) return std::move(st).error();
        // A server that speaks TLS with a certificate we cannot verify is not asked in plain HTTP.
        if ((*t)->certificate_rejected()) {
          return make_error(Errc::network, "registry " + reference_.registry + ": " + st.error().message +
                                               " (trust its CA in /etc/containers/certs.d/" + reference_.host +
                                               "/ca.crt or the system store, or use --tls-verify=false)");
        }
        // The other protocol on this port fails at once (a TLS handshake against plain HTTP, plain HTTP
        // against TLS): try the next scheme.
        if ((*t)->failed_before_answer() && other_left) {
          if (!first_error) first_error = st.error();
          break;
        }
        // Nothing speaks TLS where plain HTTP was answered: that answer is the registry's, not retried.
        if ((*t)->failed_before_answer() && plain_answer) return *plain_answer;
        if (attempt < options_.max_retries) {
          if (auto slept = backoff(attempt); !slept) return slept;
          continue;
        }
        return make_error(Errc::network, "cannot reach registry " + reference_.registry + ": " + st.error().message);
      }
      const long status = (*t)->head().status;
      drain(**t);
      auto retry = wait_before_retry((*t)->head(), attempt);
      if (!retry) return std::move(retry).error();
      if (*retry) continue;
      // A TLS port answering a plain request (400 from Go's and nginx's servers) is asked over TLS.
      if (scheme == "http" && other_left && status != 200 && status != 401) {
        plain_answer = not_a_registry(status);
        break;
      }
      base_ = scheme + "://" + reference_.host;
      transport_.pool->set_scheme(scheme);
      if (status == 200) return Ok{};
      if (status == 401) {
        std::lock_guard lock(mutex_);
        learn_challenge_locked((*t)->head().challenges);
        if (scheme_ == Scheme::none) {
          return make_error(Errc::unsupported, "registry " + reference_.registry +
                                                   " asks for an authentication scheme layerleak does not speak");
        }
        return Ok{};
      }
      return not_a_registry(status);
    }
  }
  return make_error(Errc::network, "cannot reach registry " + reference_.registry + ": " +
                                       (first_error ? first_error->message : std::string("no answer")));
}

void Session::learn_challenge_locked(const std::vector<std::string>& challenges) {
  for (const std::string& c : challenges) {
    auto [scheme, params] = parse_challenge(c);
    if (scheme == "bearer" && params.count("realm")) {
      scheme_ = Scheme::bearer;
      challenge_ = std::move(params);
      return;
    }
  }
  for (const std::string& c : challenges) {
    if (parse_challenge(c).first == "basic") {
      scheme_ = Scheme::basic;
      return;
    }
  }
}

Error Session::auth_error(const std::string& what, long status) const {
  if (!options_.bearer_token.empty()) {
    return Error{Errc::auth, what + ": registry " + reference_.registry + " refused the bearer token (HTTP " + std::to_string(status) + ")"};
  }
  if (!credentials_) {
    // A catalog session has no repository: `what` names the request then.
    const std::string repository = reference_.repository.empty() ? "" : " for " + reference_.repository;
    return Error{Errc::auth, what + ": registry " + reference_.registry + " requires credentials" + repository +
                                 " and none were found (use --creds, --authfile or docker login)"};
  }
  const std::string user = credentials_->username.empty() ? "" : " for user " + credentials_->username;
  return Error{Errc::auth, what + ": registry " + reference_.registry + " refused the credentials from " +
                               credentials_->origin + user + " (HTTP " + std::to_string(status) + ")"};
}

Status Session::fetch_token_locked(const std::string& scope) {
  const std::string realm = challenge_["realm"];
  if (!realm.starts_with("https://") && !realm.starts_with("http://")) {
    return make_error(Errc::malformed, "registry " + reference_.registry + " names a token realm that is not an HTTP URL");
  }
  const std::string realm_host = url_origin(realm).substr(realm.starts_with("https://") ? 8 : 7);
  if (realm.starts_with("http://") && !is_loopback_host(realm_host)) {
    if (options_.tls_verify) {
      return make_error(Errc::auth, "registry " + reference_.registry +
                                        " sends credentials to a plain-HTTP token service; use --tls-verify=false to allow it");
    }
    // Why even with --tls-verify=false: that flag accepts an insecure registry, not a third host that
    // would read the password in clear text. The registry's own host already sees it (Basic over HTTP).
    if (credentials_ && name_of(realm_host) != name_of(lower(reference_.host))) {
      return make_error(Errc::auth, "registry " + reference_.registry + " names a plain-HTTP token service on another host (" +
                                        realm_host + "); credentials are not sent there");
    }
  }
  Request request;
  std::string query = "scope=" + url_encode(scope);
  if (auto it = challenge_.find("service"); it != challenge_.end()) query = "service=" + url_encode(it->second) + "&" + query;
  if (credentials_ && !credentials_->identity_token.empty()) {
    request.url = realm;
    request.post_body = "grant_type=refresh_token&client_id=layerleak&refresh_token=" +
                        url_encode(credentials_->identity_token) + "&" + query;
  } else {
    request.url = realm + (realm.find('?') == std::string::npos ? "?" : "&") + query;
    if (credentials_) {
      request.headers.push_back("Authorization: Basic " + base64_encode(credentials_->username + ":" + credentials_->password));
    }
  }
  const std::string what = "token for " + scope + " from " + url_origin(realm);
  for (unsigned attempt = 0;; ++attempt) {
    auto t = Transfer::start(request, transport_);
    if (!t) return std::move(t).error();
    auto head = (*t)->wait_head();
    const long status = head ? (*t)->head().status : 0;
    if (!head && head.error().code == Errc::network && attempt < options_.max_retries) {
      if (auto slept = backoff(attempt); !slept) return slept;
      continue;
    }
    if (!head) return std::move(head).error().with_context(what);
    if (retryable_status(status) && attempt < options_.max_retries) {
      drain(**t);
      auto retry = wait_before_retry((*t)->head(), attempt);
      if (!retry) return std::move(retry).error();
      if (*retry) continue;
    }
    if (status == 401 || status == 403) return auth_error(what, status);
    if (status != 200) {
      return make_error(Errc::auth, what + ": the token service answered HTTP " + std::to_string(status));
    }
    auto body = (*t)->read_all(kMaxTokenAnswer);
    if (!body) return std::move(body).error().with_context(what);
    nlohmann::json j = nlohmann::json::parse(*body, nullptr, false);
    std::string token;
    if (j.is_object()) {
      for (const char* key : {"token", "access_token"}) {
        if (auto it = j.find(key); it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
          token = it->get<std::string>();
          break;
        }
      }
    }
    if (token.empty()) return make_error(Errc::malformed, what + ": the answer holds no token");
    // Tokens without a lifetime last 60 s (the distribution spec's default). Refresh a quarter of the
    // lifetime early (at most 30 s), so that a long layer download does not start with a dying token.
    std::int64_t lifetime = 60;
    if (auto it = j.find("expires_in"); it != j.end() && it->is_number_integer() && it->get<std::int64_t>() > 0) {
      lifetime = it->get<std::int64_t>();
    }
    const auto lifetime_ms = std::chrono::milliseconds(lifetime * 1000);
    const auto margin = std::min<std::chrono::milliseconds>(lifetime_ms / 4, std::chrono::seconds(30));
    transport_.pool->put_token(token_key(scope), {std::move(token), std::chrono::steady_clock::now() + lifetime_ms - margin});
    ++tokens_fetched_;
    return Ok{};
  }
}

Result<Session::Auth> Session::authorization(const std::string& scope) {
  std::lock_guard lock(mutex_);
  if (!options_.bearer_token.empty()) return Auth{"Authorization: Bearer " + options_.bearer_token, ""};
  switch (scheme_) {
    case Scheme::none:
      return Auth{};
    case Scheme::basic:
      if (!credentials_ || credentials_->password.empty()) return auth_error("access to " + reference_.repository, 401);
      return Auth{"Authorization: Basic " + base64_encode(credentials_->username + ":" + credentials_->password), ""};
    case Scheme::bearer:
    {
      const std::string key = token_key(scope);
      auto token = transport_.pool->token(key);
      if (!token || std::chrono::steady_clock::now() >= token->refresh_at) {
        if (auto st = fetch_token_locked(scope); !st) return std::move(st).error();
        token = transport_.pool->token(key);
        if (!token) return make_error(Errc::auth, "registry " + reference_.registry + ": no token for " + scope);
      }
      return Auth{"Authorization: Bearer " + token->value, token->value};
    }
  }
  return Auth{};
}

void Session::invalidate(const std::string& scope, const std::string& token) {
  std::lock_guard lock(mutex_);
  if (!token.empty()) transport_.pool->drop_token(token_key(scope), token);
}

Result<std::unique_ptr<Transfer>> Session::open_following_redirects(std::string url, std::vector<std::string> headers,
                                                                    const std::string& auth_header, bool head_only,
                                                                    const TransportConfig* ahead) {
  const std::string origin = url_origin(url);
  const TransportConfig& transport = ahead ? *ahead : transport_;
  for (int redirects = 0;; ++redirects) {
    std::vector<std::string> sent = headers;
    // The registry's Authorization goes to the registry only, never to blob storage it redirects to.
    if (!auth_header.empty() && url_origin(url) == origin) sent.push_back(auth_header);
    Request request{url, sent, {}};
    request.head_only = head_only;
    auto t = Transfer::start(request, transport);
    if (!t) return std::move(t).error();
    if (auto st = (*t)->wait_head(); !st) return std::move(st).error();
    const ResponseHead& head = (*t)->head();
    if (head.status >= 300 && head.status < 400 && !head.redirect_url.empty()) {
      drain(**t);
      if (redirects >= kMaxRedirects) return make_error(Errc::network, "too many redirects from " + origin);
      const std::string next = head.redirect_url;
      if (next.starts_with("http://") && options_.tls_verify && !url.starts_with("http://")) {
        return make_error(Errc::network, origin + " redirects to plain HTTP; use --tls-verify=false to allow it");
      }
      url = next;
      continue;
    }
    return t;
  }
}

Result<std::unique_ptr<Transfer>> Session::get_once(const std::string& path, const std::string& what,
                                                    const std::atomic<bool>* stop, bool own_connection) {
  auto auth = authorization("repository:" + reference_.repository + ":pull");
  if (!auth) return std::move(auth).error().with_context(what);
  TransportConfig transport = transport_;
  transport.stop = stop;
  transport.ahead = true;
  transport.own_connection = own_connection;
  auto t = open_following_redirects(base_ + path, {}, auth->header, false, &transport);
  if (!t) return std::move(t).error().with_context(what);
  if ((*t)->head().status != 200) {
    // A 429 (or 503 with Retry-After) holds back the request asked again after this one, as any other.
    defer_if_asked((*t)->head(), 0);
    return make_error(Errc::network, what + ": registry " + reference_.registry + " answered HTTP " +
                                         std::to_string((*t)->head().status));
  }
  return t;
}

Result<std::unique_ptr<Transfer>> Session::get(const std::string& path, const std::vector<std::string>& headers,
                                               const std::string& what, const std::string& scope_asked, bool head_only) {
  const std::string scope = scope_asked.empty() ? "repository:" + reference_.repository + ":pull" : scope_asked;
  bool reauthenticated = false;
  for (unsigned attempt = 0;;) {
    auto auth = authorization(scope);
    if (!auth) return std::move(auth).error().with_context(what);
    auto t = open_following_redirects(base_ + path, headers, auth->header, head_only);
    if (!t) {
      if (t.error().code == Errc::network && attempt < options_.max_retries) {
        if (auto slept = backoff(attempt++); !slept) return std::move(slept).error().with_context(what);
        continue;
      }
      return std::move(t).error().with_context(what);
    }
    const long status = (*t)->head().status;
    if (status == 200 || status == 206) return t;
    if (status == 401 && !reauthenticated) {
      // An expired token, or a registry that only now says how it wants to be authenticated.
      reauthenticated = true;
      drain(**t);
      invalidate(scope, auth->token);
      std::lock_guard lock(mutex_);
      if (!(*t)->head().challenges.empty()) learn_challenge_locked((*t)->head().challenges);
      continue;
    }
    if (retryable_status(status) && attempt < options_.max_retries) {
      drain(**t);
      auto retry = wait_before_retry((*t)->head(), attempt++);
      if (!retry) return std::move(retry).error().with_context(what);
      if (*retry) continue;
    }
    auto body = (*t)->read_all(kMaxErrorBody);
    const std::string detail = body ? registry_error_text(*body) : "";
    const std::string suffix = detail.empty() ? "" : " (" + detail + ")";
    if (status == 401 || status == 403) {
      Error e = auth_error(what, status);
      e.message += suffix;
      return e;
    }
    if (status == 404) return make_error(Errc::not_found, what + ": registry " + reference_.registry + " has no such object" + suffix);
    return make_error(retryable_status(status) ? Errc::network : Errc::malformed,
                      what + ": registry " + reference_.registry + " answered HTTP " + std::to_string(status) + suffix);
  }
}

}  // namespace layerleak::oci::registry

namespace layerleak::oci {

// The schemes a registry is asked in, in order (Session::connect). A loopback registry is asked in plain
// HTTP first. Why: plain HTTP is allowed there anyway (the traffic never leaves the machine) and nothing
// secret goes out before a registry has answered /v2/; local registries mostly speak plain HTTP, where a
// TLS handshake first cost every scan ~22 ms (docker-registry answers a ClientHello after ~20 ms) and the
// parsing of the system CA bundle (~10 ms of CPU). A TLS registry on loopback answers the plain request with 400 or closes the
// connection, and is then asked over TLS. Elsewhere TLS comes first, plain HTTP only with
// --tls-verify=false.
std::vector<std::string> probe_schemes(std::string_view host_port, bool tls_verify) {
  if (is_loopback_host(host_port)) return {"http", "https"};
  if (!tls_verify) return {"https", "http"};
  return {"https"};
}

}  // namespace layerleak::oci
