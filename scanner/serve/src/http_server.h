// The HTTP(S) transport of `layerleak serve` (internal to the serve library): accepts connections,
// reads whole requests under hard bounds (per-address and global connection caps, an absolute deadline
// for headers+body, an idle limit for keep-alive, a body size cap) and hands each complete request to
// the application as a value. Slow or idle clients cost a socket and a few KiB, never a thread: one
// event thread (libmicrohttpd, epoll) does all network I/O and TLS; a fixed pool runs the handlers.
//
// Not responsible for: routing, authentication, JSON, or anything about scans: the two callbacks given
// to Server::start decide all of that. Not a general web server: no streaming responses, no upgrades.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "layerleak/core.h"

namespace layerleak::serve::http {

struct Request {
  std::string method;                          // "GET", "POST"
  std::string path;                            // percent-decoded (control characters stay encoded), no query
  std::map<std::string, std::string> headers;  // names lower-cased; repeated headers joined with ", "
  std::string body;
  std::string peer;                            // client IP address as text (IPv4-mapped IPv6 shown as IPv4)
  std::string header(std::string_view lower_name) const;  // "" when absent
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Location, Retry-After, ...)
};

struct ServerOptions {
  std::string host;  // numeric address to bind: "127.0.0.1", "0.0.0.0", "::1", "::"
  int port = 0;      // 0 = any free port (port() tells which)
  std::string tls_cert_file, tls_key_file;  // PEM files; both or neither
  unsigned handler_threads = 16;            // requests being handled at once (handlers may block for seconds)
  // All clients together (kept below the process's descriptor limit). Past fifteen sixteenths of it, each
  // new connection shuts the oldest one still waiting for its request, so there is always room for a
  // health probe; requests being handled are never cut.
  unsigned max_connections = 1024;
  unsigned max_connections_per_address = 32;
  unsigned header_timeout_seconds = 10;     // a request whose headers+body are not complete by then is dropped
  unsigned idle_timeout_seconds = 30;       // keep-alive connections idle this long are closed
  std::size_t max_body_bytes = 8u << 20;    // larger bodies: 413 without reading them
  // All request bodies held at once, together (every connection may send max_body_bytes): beyond it a
  // request is read and dropped, and answered 503 with Retry-After. Bounds memory to about this much
  // whatever the number of clients.
  std::size_t max_buffered_bytes = 64u << 20;
};

using InlineHandler = std::function<bool(const Request&, Response&)>;
using Handler = std::function<void(const Request&, Response&)>;

// A running server. `inline_handler` answers requests that must never wait for a handler thread
// (health checks): it is called on the event thread, must return quickly, and returns true when it
// answered. Everything else goes to `handler` on one of handler_threads threads; when all are busy,
// requests wait in a bounded queue (4 x handler_threads) and beyond that get 503 with Retry-After.
// A handler that throws yields 500 {"error":{"message":"internal error"}} (the exception text is not
// sent). Both callbacks may run concurrently with each other; they must be thread-safe.
//
// Deadlines: a connection must deliver its first complete request (TLS handshake included) within
// header_timeout_seconds of being accepted; after a response, the next request must start within
// idle_timeout_seconds and be complete header_timeout_seconds after its request line arrived.
// Enforcement is checked every 250 ms.
class Server {
 public:
  // Binds, starts the event thread and the handler pool. Errors (Errc::invalid_argument for bad
  // options or addresses, Errc::io for bind failures and unreadable certificate files, Errc::internal
  // when libmicrohttpd cannot be loaded or refuses to start) carry a message naming the address or file.
  static Result<std::unique_ptr<Server>> start(ServerOptions options, InlineHandler inline_handler,
                                               Handler handler);
  ~Server();  // stops
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;
  // Stops accepting, answers nothing more (queued requests are dropped, connections closed), waits for
  // handlers already running to return, joins every thread. Idempotent. Returns within ~1 s plus
  // the time running handlers take to return. Not to be called from a handler.
  void stop();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// libmicrohttpd is not linked but loaded (dlopen) the first time a server starts (libmicrohttpd.cpp). Ok
// once libmicrohttpd.so.12 is loaded with every function layerleak calls; else Errc::internal naming the
// library and the loader's reason (the first answer is kept).
Status load_libmicrohttpd();
// For tests: opens `soname` as libmicrohttpd and resolves every function layerleak calls, then closes it.
Status try_libmicrohttpd(const std::string& soname);

}  // namespace layerleak::serve::http
