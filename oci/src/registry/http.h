// HTTP for the registry client, over libcurl: one Transfer per request, driven by the reading thread
// (curl's multi interface), so a layer blob streams into the layer reader with a bounded buffer and no
// extra thread. Redirects are not followed here: the caller decides which headers go to the new host.
// Every transfer polls its cancel flag at least every 100 ms, and every socket it opens passes the
// session's ConnectGuard first. Internal to the oci library.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <thread>

#include "layerleak/core.h"

namespace layerleak::oci::registry {

class RegistryPool;

// What kind of network an address belongs to, for the private-network policy.
enum class AddressKind { public_address, loopback, private_network, link_local, shared_cgnat, unspecified, multicast };

// Classifies an IPv4 or IPv6 socket address: loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16,
// fc00::/7, fec0::/10), link-local (169.254/16, fe80::/10), CGNAT (100.64/10), unspecified (0/8, ::) and
// multicast or broadcast (224/4, 240/4, ff00::/8); everything else is public. IPv4-mapped (::ffff:a.b.c.d)
// and IPv4-compatible (::a.b.c.d) IPv6 addresses are classified as the IPv4 address they carry. Other
// address families count as unspecified.
AddressKind classify_address(const sockaddr* address);
// "a loopback address", "a private address", … for messages.
std::string_view address_kind_name(AddressKind kind);
// The numeric text of an IPv4/IPv6 socket address ("10.0.0.1", "fe80::1"), "" for other families.
std::string address_text(const sockaddr* address);

// Which peers the connections of one registry session may reach. The session's first connection is to
// the registry itself (Session::connect) and decides: when that address is public, every later socket of
// the session must be public too (blob redirects, token services, the registry's own name resolved
// again: DNS rebinding); when it is not (127.0.0.1:5000, a registry on the internal network), nothing
// is restricted. Disabled guards admit everything. Thread-safe: workers connect concurrently.
class ConnectGuard {
 public:
  using Classifier = std::function<AddressKind(const sockaddr*)>;
  // `classify` is replaceable for tests (e.g. to make a loopback test registry count as public).
  ConnectGuard(std::string registry, bool enabled, Classifier classify = classify_address);
  // "" when a socket to `address` may be opened; else why not, for the error message.
  std::string admit(const sockaddr* address);
  // True once the registry's address was found public (the restriction is on).
  bool restricted() const { return state_.load() == State::restricted; }

 private:
  enum class State { undecided, restricted, open };
  std::string registry_;
  bool enabled_;
  Classifier classify_;
  std::atomic<State> state_{State::undecided};
};

struct TransportConfig {
  bool tls_verify = true;
  // The CAs to trust instead of libcurl's default bundle (see trusted_cas()): a file, or PEM text when
  // certificates were added for the registry. Neither set: libcurl's default.
  std::string ca_file;
  std::shared_ptr<const std::string> ca_pem;
  unsigned stall_timeout_seconds = 60;
  // Why 10 s: a registry that takes longer to accept TCP is down or filtered; 30 s per attempt times the
  // retries kept a scan of a dead address busy for minutes.
  unsigned connect_timeout_seconds = 10;
  // When set and true, transfers fail with Errc::cancelled within 100 ms. Not owned.
  const std::atomic<bool>* cancel = nullptr;
  // A second such flag, for the requests of one owner (a layer asked for ahead of need stops when its
  // image source closes). Not owned.
  const std::atomic<bool>* stop = nullptr;
  // When set, every socket is admitted by it first (refusal: Errc::unsupported). Shared by the session.
  std::shared_ptr<ConnectGuard> guard;
  // When set, requests go over this unix socket (the Docker Engine API), whatever host the URL names.
  std::string unix_socket;
  // When set (registry sessions), every transfer takes one of the pool's slots before it starts (waiting
  // for the registry's "not before" time too) and keeps it until its body is read or it is dropped, and
  // reuses the pool's idle connections, DNS cache and TLS sessions.
  std::shared_ptr<RegistryPool> pool;
  // A request made ahead of need, read later by another thread: it starts only when the pool has a slot
  // to spare (RegistryPool::try_acquire_ahead), else fails with Errc::limit. `own_connection`: a new connection rather than an idle one of the pool (left
  // idle there at the end), so that it does not take the connection the next request is waiting for.
  bool ahead = false;
  bool own_connection = false;
};

// True when `cancel` is set and true.
inline bool is_cancelled(const std::atomic<bool>* cancel) { return cancel && cancel->load(std::memory_order_relaxed); }

struct Request {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string post_body;             // non-empty: POST application/x-www-form-urlencoded
  bool head_only = false;            // HEAD: the transfer ends with the response head
};

// Lower-case header names; a repeated header keeps its values joined by ", " (as HTTP allows), except
// WWW-Authenticate, whose challenges are kept in `challenges`.
struct ResponseHead {
  long status = 0;
  std::map<std::string, std::string> headers;
  std::vector<std::string> challenges;
  std::string redirect_url;  // the Location of a 3xx answer, made absolute

  std::string header(const std::string& lower_name) const;
};

class Transfer {
 public:
  static Result<std::unique_ptr<Transfer>> start(const Request& request, const TransportConfig& config);
  ~Transfer();
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  // Pumps the transfer until the response head is complete. Errc::network when the connection failed
  // before any answer (the message says why: refused, TLS, timeout), Errc::unsupported when the
  // ConnectGuard refused every address, Errc::cancelled when the cancel flag was set.
  Status wait_head();
  const ResponseHead& head() const { return head_; }

  // Reads body bytes; 0 at the end of the body. Errc::network when the connection broke mid-body,
  // Errc::cancelled when the cancel flag was set.
  Result<std::size_t> read(std::span<char> out);

  // Reads the rest of the body; Errc::limit past `max` bytes.
  Result<std::string> read_all(std::size_t max);

  // True when the failure was the TLS handshake or a refused/unreachable connection, before any answer:
  // the cases where a loopback registry may be retried over plain HTTP.
  bool failed_before_answer() const { return failed_before_answer_; }
  // True when the server spoke TLS but its certificate could not be verified.
  bool certificate_rejected() const { return certificate_rejected_; }

  std::uint64_t body_bytes_read() const { return body_read_; }

 private:
  struct Handles;
  Transfer();
  Status pump();  // one round of curl work (at most 100 ms); sets done_ when the transfer ended
  void release_slot();  // gives the pool slot back (once)
  Error cancelled_error() const;
  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self);
  struct SocketCallback;  // curl's open-socket callback, defined with curl's types in http.cpp
  friend struct SocketCallback;

  std::unique_ptr<Handles> handles_;
  ResponseHead head_;
  bool head_done_ = false;
  bool done_ = false;
  bool paused_ = false;
  bool failed_before_answer_ = false;
  bool certificate_rejected_ = false;
  bool cancelled_ = false;
  const std::atomic<bool>* cancel_ = nullptr;
  const std::atomic<bool>* stop_ = nullptr;
  std::shared_ptr<ConnectGuard> guard_;
  std::shared_ptr<RegistryPool> pool_;
  bool slot_held_ = false;
  std::thread::id slot_owner_;
  std::string refusal_;  // why the guard refused the last address ("" when it did not)
  std::string error_;
  std::string buffer_;
  std::size_t buffer_pos_ = 0;
  // Body bytes kept in buffer_ before the transfer pauses. None for a request made ahead: it pauses at
  // its first body bytes, so the thread that made it is done as soon as the head is in (it went on
  // reading up to 1 MiB into buffer_ first, 14 ms the scan waited for in one trace), and the body goes
  // straight into the reader's buffer once read.
  std::size_t max_buffered_ = 0;
  // While read() runs curl, the caller's buffer: on_body fills it first (one copy of a blob's bytes
  // instead of two), and keeps only what does not fit in buffer_.
  std::span<char> direct_;
  std::size_t direct_len_ = 0;
  std::size_t header_bytes_ = 0;
  std::uint64_t body_read_ = 0;
  std::string url_;
};

// The CAs to trust for `host` ("reg.example.com:5000"), as docker and podman choose them: the system
// bundle (or $SSL_CERT_FILE / $CURL_CA_BUNDLE) plus every *.crt in /etc/containers/certs.d/<host>/ and
// /etc/docker/certs.d/<host>/. `pem` holds them all when certificates were added for the host; else
// `file` names $SSL_CERT_FILE or $CURL_CA_BUNDLE when one is set; else both are empty (libcurl's default).
// Why a file when it can be one: libcurl keeps the store it builds from a file for later connections,
// while PEM text is parsed again for every TLS connection (~10 ms of CPU for Debian's bundle).
struct TrustedCas {
  std::string file;
  std::shared_ptr<const std::string> pem;
};
TrustedCas trusted_cas(const std::string& host);

// Percent-encodes a query value.
std::string url_encode(std::string_view text);
// A Location header resolved against the URL it answered (absolute, host-relative or path-relative).
std::string resolve_url(std::string_view base, std::string_view location);
// "https://host:port" of an absolute URL, lower-cased ("" when not absolute).
std::string url_origin(std::string_view url);


}  // namespace layerleak::oci::registry
