// HTTP for the registry client, over libcurl: one Transfer per request, driven by the reading thread
// (curl's multi interface), so a layer blob streams into the layer reader with a bounded buffer and no
// extra thread. Redirects are not followed here: the caller decides which headers go to the new host.
// Internal to the oci library.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "layerleak/core.h"

namespace layerleak::oci::registry {

struct TransportConfig {
  bool tls_verify = true;
  // Trusted CAs in PEM, replacing the system bundle when set (see trusted_cas()).
  std::shared_ptr<const std::string> ca_pem;
  unsigned stall_timeout_seconds = 60;
  unsigned connect_timeout_seconds = 30;
};

struct Request {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string post_body;             // non-empty: POST application/x-www-form-urlencoded
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
  // before any answer (the message says why: refused, TLS, timeout).
  Status wait_head();
  const ResponseHead& head() const { return head_; }

  // Reads body bytes; 0 at the end of the body. Errc::network when the connection broke mid-body.
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
  Status pump();  // one round of curl work; sets done_ when the transfer ended
  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self);

  std::unique_ptr<Handles> handles_;
  ResponseHead head_;
  bool head_done_ = false;
  bool done_ = false;
  bool paused_ = false;
  bool failed_before_answer_ = false;
  bool certificate_rejected_ = false;
  std::string error_;
  std::string buffer_;
  std::size_t buffer_pos_ = 0;
  std::size_t header_bytes_ = 0;
  std::uint64_t body_read_ = 0;
  std::string url_;
};

// The CAs to trust for `host` ("reg.example.com:5000") when the user has added some, as docker and podman
// do: the system bundle (or $SSL_CERT_FILE / $CURL_CA_BUNDLE) plus every *.crt in
// /etc/containers/certs.d/<host>/ and /etc/docker/certs.d/<host>/. nullptr when nothing was added.
std::shared_ptr<const std::string> trusted_cas(const std::string& host);

// Percent-encodes a query value.
std::string url_encode(std::string_view text);
// A Location header resolved against the URL it answered (absolute, host-relative or path-relative).
std::string resolve_url(std::string_view base, std::string_view location);
// "https://host:port" of an absolute URL, lower-cased ("" when not absolute).
std::string url_origin(std::string_view url);

std::string base64_encode(std::string_view bytes);
// Standard base64 with optional padding; nullopt on anything else.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace layerleak::oci::registry
