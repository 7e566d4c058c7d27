// libmicrohttpd behind http_server.h. One MHD event thread (epoll) owns every socket; a complete request
// is either answered on that thread (inline handler) or the connection is suspended and the request
// handed to HandlerPool, whose worker resumes the connection when the response is ready.
//
// Why not cpp-httplib: it gives every connection a pool thread for as long as it is open, so 40 clients
// trickling header bytes (or 33 idle TLS sockets) took every thread and /healthz stopped answering.
// Why a reaper thread for the header deadline: MHD's connection timeout is an inactivity timeout (every
// byte resets it) and MHD offers no hook between accept and the request line; shutting the socket down
// from a second thread makes the event thread see EOF and close the connection through its normal path.
#include "http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_set>

namespace layerleak::serve::http {

std::string Request::header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

namespace {

constexpr auto kReaperPeriod = std::chrono::milliseconds(250);
constexpr const char* kInternalErrorBody = R"({"error":{"message":"internal error"}})";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct DaemonDeleter {
  void operator()(MHD_Daemon* daemon) const { MHD_stop_daemon(daemon); }
};
struct ResponseDeleter {
  void operator()(MHD_Response* response) const { MHD_destroy_response(response); }
};
using DaemonPtr = std::unique_ptr<MHD_Daemon, DaemonDeleter>;
using ResponsePtr = std::unique_ptr<MHD_Response, ResponseDeleter>;

// One accepted socket (MHD's socket_context). `deadline_ms` is when the reaper shuts the socket down
// (0: no deadline, a request is being handled or answered); written by the event thread, read by the reaper.
struct ConnectionState {
  int fd = -1;
  std::int64_t accepted_ms = 0;  // when it was accepted: the oldest waiting connection is evicted first
  std::atomic<std::int64_t> deadline_ms{0};
  unsigned requests = 0;  // request lines seen; event thread only
  bool shut_down = false; // reaper only, under the reaper's mutex
};

// One request (MHD's client context), from its request line to its completion notice.
struct Exchange {
  Request request;
  bool headers_seen = false;  // the access handler has been called once
  bool too_large = false;     // body over the cap: the rest is discarded, 413 at the end
  bool over_budget = false;   // all bodies together over max_buffered_bytes: discarded, 503 at the end
  std::size_t charged = 0;    // bytes of this body counted in Impl::buffered
  bool queued = false;        // handed to the pool, connection suspended
  // Written by the worker before MHD_resume_connection, read by the event thread after MHD has taken
  // the resumed connection back under its own mutex (that mutex orders the two, as for request/response).
  bool answered = false;
  Response response;
};

Response internal_error() {
  Response response;
  response.status = 500;
  response.body = kInternalErrorBody;
  return response;
}

Response error_response(int status, std::string_view message) {
  Response response;
  response.status = status;
  response.body = std::string(R"({"error":{"message":")") + std::string(message) + "\"}}";
  return response;
}

// Runs a callback, turning any exception into a 500 that does not carry the exception's text.
// Returns false when the callback threw.
template <class F>
bool guarded(Response& response, F&& call) {
  try {
    call();
    return true;
  } catch (...) {
    response = internal_error();
    return false;
  }
}

// Fixed worker threads and a bounded FIFO of suspended connections whose requests wait for one.
class HandlerPool {
 public:
  enum class Admit { queued, full, closed };
  struct Job {
    MHD_Connection* connection;
    Exchange* exchange;
  };

  HandlerPool(unsigned threads, std::size_t capacity, Handler handler)
      : capacity_(capacity), handler_(std::move(handler)) {
    for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~HandlerPool() { stop(); }

  // Event thread only (MHD_suspend_connection must run there): suspends the connection and queues
  // the request, or leaves the connection alone and says why not.
  Admit submit(MHD_Connection* connection, Exchange* exchange) {
    {
      std::lock_guard lock(mutex_);
      if (closing_) return Admit::closed;
      if (jobs_.size() >= capacity_) return Admit::full;
      // Why suspend before queueing: a worker may resume the connection as soon as it is queued,
      // and resuming a connection that is not suspended yet is undefined in MHD.
      exchange->queued = true;
      MHD_suspend_connection(connection);
      jobs_.push_back(Job{connection, exchange});
    }
    wake_.notify_one();
    return Admit::queued;
  }

  // Drops queued requests (their connections are resumed unanswered, so the access handler closes
  // them), waits for running handlers, joins the workers. MHD_stop_daemon panics on a connection
  // still suspended, so this must run before it. Idempotent.
  void stop() {
    std::deque<Job> dropped;
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
      dropped.swap(jobs_);
    }
    wake_.notify_all();
    for (const Job& job : dropped) MHD_resume_connection(job.connection);
    for (std::thread& worker : workers_) {
      if (worker.joinable()) worker.join();
    }
  }

 private:
  void work() {
    for (;;) {
      Job job{};
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return closing_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = jobs_.front();
        jobs_.pop_front();
      }
      Exchange& exchange = *job.exchange;
      guarded(exchange.response, [&] { handler_(exchange.request, exchange.response); });
      exchange.answered = true;
      // Why nothing touches `exchange` after this: once resumed, the event thread answers and frees it.
      MHD_resume_connection(job.connection);
    }
  }

  const std::size_t capacity_;
  const Handler handler_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool closing_ = false;
  std::vector<std::thread> workers_;
};

// Knows every open connection and shuts down the sockets whose deadline has passed.
class DeadlineReaper {
 public:
  DeadlineReaper() : thread_([this] { run(); }) {}
  ~DeadlineReaper() { stop(); }

  void add(ConnectionState* connection) {
    std::lock_guard lock(mutex_);
    connections_.insert(connection);
  }
  // Called by MHD's close notice, before MHD closes the descriptor: after this returns, the reaper
  // never touches the descriptor again (so it cannot shut down a reused descriptor number).
  void remove(ConnectionState* connection) {
    std::lock_guard lock(mutex_);
    connections_.erase(connection);
  }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // When more than `threshold` connections are open, shuts down the one accepted first among those
  // still waiting for a request (a deadline set: headers not complete yet, or idle keep-alive). Why:
  // idle clients from many addresses could otherwise fill the global cap, and a new connection (a
  // health probe) would find no room; requests being handled are never cut.
  void evict_oldest_waiting(std::size_t threshold) {
    std::lock_guard lock(mutex_);
    if (connections_.size() <= threshold) return;
    ConnectionState* oldest = nullptr;
    for (ConnectionState* connection : connections_) {
      if (connection->shut_down || connection->deadline_ms.load(std::memory_order_relaxed) == 0) continue;
      if (oldest == nullptr || connection->accepted_ms < oldest->accepted_ms) oldest = connection;
    }
    if (oldest == nullptr) return;
    oldest->shut_down = true;
    ::shutdown(oldest->fd, SHUT_RDWR);
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, kReaperPeriod, [this] { return stopping_; })) {
      const std::int64_t now = now_ms();
      for (ConnectionState* connection : connections_) {
        const std::int64_t deadline = connection->deadline_ms.load(std::memory_order_relaxed);
        if (deadline == 0 || now < deadline || connection->shut_down) continue;
        connection->shut_down = true;
        ::shutdown(connection->fd, SHUT_RDWR);
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::unordered_set<ConnectionState*> connections_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// MHD unescape callback: decodes %XX in place, except sequences that decode to control characters
// (which stay encoded). Why: the path reaches the access handler as a C string, so a decoded %00
// would silently cut it ("/v1/x%00/../y" routed as "/v1/x").
size_t unescape_path(void*, MHD_Connection*, char* text) {
  char* out = text;
  for (const char* in = text; *in != '\0'; ++in) {
    if (*in == '%' && in[1] != '\0' && in[2] != '\0') {
      const int high = hex_value(in[1]);
      const int low = hex_value(in[2]);
      const int byte = high < 0 || low < 0 ? -1 : high * 16 + low;
      if (byte >= 0x20 && byte != 0x7f) {
        *out++ = static_cast<char>(byte);
        in += 2;
        continue;
      }
    }
    *out++ = *in;
  }
  *out = '\0';
  return static_cast<size_t>(out - text);
}

std::string peer_text(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address == nullptr) return {};
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
  } else if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    }
  }
  return text;
}

Result<std::string> read_pem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, std::string("cannot read TLS ") + what + " file " + path + ": " +
                                           std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return make_error(Errc::io, std::string("cannot read TLS ") + what + " file " + path);
  if (text.str().empty()) return make_error(Errc::invalid_argument, std::string("TLS ") + what + " file " + path + " is empty");
  return text.str();
}

// The bind address as a socket address (port filled in), or an error naming the text.
struct BindAddress {
  sockaddr_storage storage{};
  bool ipv6 = false;
};

Result<BindAddress> parse_bind_address(const std::string& host, int port) {
  if (port < 0 || port > 65535) {
    return make_error(Errc::invalid_argument, "port " + std::to_string(port) + " is out of range");
  }
  BindAddress address;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    address.ipv6 = true;
  } else {
    return make_error(Errc::invalid_argument,
                      "listen address '" + host + "' is not a numeric IPv4 or IPv6 address");
  }
  return address;
}

Status check_options(const ServerOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return make_error(Errc::invalid_argument, "TLS needs both a certificate file and a key file");
  }
  if (options.handler_threads == 0 || options.max_connections == 0 ||
      options.max_connections_per_address == 0 || options.header_timeout_seconds == 0 ||
      options.idle_timeout_seconds == 0) {
    return make_error(Errc::invalid_argument,
                      "handler threads, connection limits and timeouts must be at least 1");
  }
  return Ok{};
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  InlineHandler inline_handler;
  std::string cert_pem, key_pem;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::mutex stop_mutex;
  bool stopped = false;

  std::atomic<bool> started{false};
  std::atomic<std::size_t> buffered{0};  // request body bytes held now, all connections together
  std::mutex log_mutex;
  std::string first_log;  // MHD's first message while starting: the reason a start failed

  // Declared after the state their threads use; destroyed (stopped) in stop(), in this order.
  std::unique_ptr<HandlerPool> pool;
  std::unique_ptr<DeadlineReaper> reaper;
  DaemonPtr daemon;

  Status open(const BindAddress& address);
  void stop_all();

  static ConnectionState* connection_state(MHD_Connection* connection) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info == nullptr ? nullptr : static_cast<ConnectionState*>(info->socket_context);
  }
  // Room kept free under the global cap for new connections (health probes): a sixteenth, at least 4.
  std::size_t eviction_threshold() const {
    const std::size_t limit = options.max_connections;
    return limit - std::min<std::size_t>(limit - 1, std::max<std::size_t>(4, limit / 16));
  }
  std::int64_t header_deadline() const {
    return now_ms() + static_cast<std::int64_t>(options.header_timeout_seconds) * 1000;
  }

  // ---- MHD callbacks (event thread, except log) ----
  static void on_log(void* self, const char* format, va_list args) {
    char text[512];
    std::vsnprintf(text, sizeof text, format, args);
    auto* impl = static_cast<Impl*>(self);
    if (impl->started.load(std::memory_order_relaxed)) return;  // per-connection noise after start-up
    std::lock_guard lock(impl->log_mutex);
    if (impl->first_log.empty()) impl->first_log = text;
    while (!impl->first_log.empty() && std::isspace(static_cast<unsigned char>(impl->first_log.back()))) {
      impl->first_log.pop_back();
    }
  }

  static void on_connection(void* self, MHD_Connection* connection, void** socket_context,
                            MHD_ConnectionNotificationCode code) {
    auto* impl = static_cast<Impl*>(self);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto state = std::make_unique<ConnectionState>();
      const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
      state->fd = info == nullptr ? -1 : info->connect_fd;
      state->accepted_ms = now_ms();
      state->deadline_ms.store(impl->header_deadline());
      impl->reaper->add(state.get());
      *socket_context = state.release();
      impl->reaper->evict_oldest_waiting(impl->eviction_threshold());
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
      std::unique_ptr<ConnectionState> state(static_cast<ConnectionState*>(*socket_context));
      *socket_context = nullptr;
      if (state) impl->reaper->remove(state.get());
    }
  }

  // Called when a request line has arrived: the deadline of any request after the first starts here.
  static void* on_request_line(void* self, const char*, MHD_Connection* connection) {
    auto* impl = static_cast<Impl*>(self);
    if (ConnectionState* state = connection_state(connection)) {
      if (state->requests++ > 0) state->deadline_ms.store(impl->header_deadline());
    }
    return new Exchange;
  }

  static void on_completed(void* self, MHD_Connection* connection, void** context,
                           MHD_RequestTerminationCode code) {
    auto* impl = static_cast<Impl*>(self);
    if (auto* exchange = static_cast<Exchange*>(*context)) impl->buffered -= exchange->charged;
    delete static_cast<Exchange*>(*context);
    *context = nullptr;
    if (code != MHD_REQUEST_TERMINATED_COMPLETED_OK) return;
    if (ConnectionState* state = connection_state(connection)) {
      state->deadline_ms.store(now_ms() + static_cast<std::int64_t>(impl->options.idle_timeout_seconds) * 1000);
    }
  }

  static MHD_Result on_access(void* self, MHD_Connection* connection, const char* url, const char* method,
                              const char*, const char* upload_data, size_t* upload_data_size, void** context);
  MHD_Result first_call(MHD_Connection* connection, Exchange& exchange, const char* url, const char* method);
  MHD_Result request_complete(MHD_Connection* connection, Exchange& exchange);
  static MHD_Result send(MHD_Connection* connection, const Response& response);
};

MHD_Result Server::Impl::on_access(void* self, MHD_Connection* connection, const char* url, const char* method,
                                   const char*, const char* upload_data, size_t* upload_data_size,
                                   void** context) {
  auto* impl = static_cast<Impl*>(self);
  if (*context == nullptr) *context = new Exchange;  // only without a request line callback; defensive
  Exchange& exchange = *static_cast<Exchange*>(*context);
  if (impl->stopping.load()) return MHD_NO;  // close: answer nothing more
  if (!exchange.headers_seen) return impl->first_call(connection, exchange, url, method);
  if (*upload_data_size != 0) {
    if (!exchange.too_large && !exchange.over_budget) {
      const std::size_t n = *upload_data_size;
      if (exchange.request.body.size() + n > impl->options.max_body_bytes) {
        exchange.too_large = true;  // chunked body over the cap: discard the rest, never buffer it
      } else if (impl->buffered.fetch_add(n) + n > impl->options.max_buffered_bytes) {
        impl->buffered -= n;
        exchange.over_budget = true;  // too many bodies at once: discard this one, 503 at the end
      } else {
        exchange.charged += n;
        exchange.request.body.append(upload_data, n);
      }
      if (exchange.too_large || exchange.over_budget) {
        impl->buffered -= exchange.charged;
        exchange.charged = 0;
        exchange.request.body.clear();
        exchange.request.body.shrink_to_fit();
      }
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (exchange.queued) {  // resumed by the pool
    return exchange.answered ? send(connection, exchange.response) : MHD_NO;
  }
  return impl->request_complete(connection, exchange);
}

MHD_Result Server::Impl::first_call(MHD_Connection* connection, Exchange& exchange, const char* url,
                                    const char* method) {
  exchange.headers_seen = true;
  Request& request = exchange.request;
  request.method = method;
  request.path = url;
  MHD_get_connection_values(
      connection, MHD_HEADER_KIND,
      [](void* map, MHD_ValueKind, const char* key, const char* value) -> MHD_Result {
        std::string name(key);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        auto& headers = *static_cast<std::map<std::string, std::string>*>(map);
        auto [it, inserted] = headers.try_emplace(std::move(name), value == nullptr ? "" : value);
        if (!inserted) it->second.append(", ").append(value == nullptr ? "" : value);
        return MHD_YES;
      },
      &request.headers);
  if (const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS)) {
    request.peer = peer_text(info->client_addr);
  }
  const std::string length_text = request.header("content-length");
  std::uint64_t length = 0;
  const auto parsed = std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
  if (!length_text.empty() && parsed.ec == std::errc{} && length > options.max_body_bytes) {
    // Queued before the body is read: MHD sends it, discards the body unread and closes.
    return send(connection, error_response(413, "request body too large"));
  }
  // Why the reserve is capped: a client announcing 8 MiB and sending nothing must not cost 8 MiB.
  if (length > 0 && parsed.ec == std::errc{}) request.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(length, 64 * 1024)));
  return MHD_YES;
}

MHD_Result Server::Impl::request_complete(MHD_Connection* connection, Exchange& exchange) {
  if (ConnectionState* state = connection_state(connection)) state->deadline_ms.store(0);
  if (exchange.too_large) return send(connection, error_response(413, "request body too large"));
  if (exchange.over_budget) {
    Response busy = error_response(503, "too many request bodies at once, retry later");
    busy.headers.emplace_back("Retry-After", "1");
    return send(connection, busy);
  }
  Response response;
  bool answered = false;
  const bool finished = guarded(response, [&] { answered = inline_handler && inline_handler(exchange.request, response); });
  if (answered || !finished) return send(connection, response);
  switch (pool->submit(connection, &exchange)) {
    case HandlerPool::Admit::queued:
      return MHD_YES;
    case HandlerPool::Admit::full: {
      Response busy = error_response(503, "server busy, retry later");
      busy.headers.emplace_back("Retry-After", "1");
      return send(connection, busy);
    }
    case HandlerPool::Admit::closed:
      break;
  }
  return MHD_NO;
}

MHD_Result Server::Impl::send(MHD_Connection* connection, const Response& response) {
  ResponsePtr reply(MHD_create_response_from_buffer(response.body.size(), const_cast<char*>(response.body.data()),
                                                    MHD_RESPMEM_MUST_COPY));
  if (!reply) return MHD_NO;
  if (!response.content_type.empty()) {
    MHD_add_response_header(reply.get(), MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
  }
  for (const auto& [name, value] : response.headers) {
    // MHD refuses names or values with CR/LF (no header injection); such a header is left out.
    MHD_add_response_header(reply.get(), name.c_str(), value.c_str());
  }
  const int status = response.status >= 100 && response.status <= 599 ? response.status : 500;
  return MHD_queue_response(connection, static_cast<unsigned>(status), reply.get());
}

Status Server::Impl::open(const BindAddress& address) {
  // Why epoll with one internal thread: every connection costs a socket and MHD's per-connection
  // memory pool, never a thread; TLS handshakes run non-blocking in the same loop.
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (address.ipv6) flags |= MHD_USE_DUAL_STACK;  // "::" also takes IPv4, as the system default does
  if (!cert_pem.empty()) flags |= MHD_USE_TLS;
  const std::uint16_t requested = static_cast<std::uint16_t>(options.port);
  // Why SOCK_ADDR rather than a socket of our own: MHD closes a given listen socket on some failure
  // paths and not on others, so its ownership after a failed start would be unknowable.
  std::vector<MHD_OptionItem> items = {
      {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(&Impl::on_log), this},
      {MHD_OPTION_SOCK_ADDR, 0, const_cast<sockaddr_storage*>(&address.storage)},
      {MHD_OPTION_CONNECTION_LIMIT, options.max_connections, nullptr},
      {MHD_OPTION_PER_IP_CONNECTION_LIMIT, options.max_connections_per_address, nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, options.idle_timeout_seconds, nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&Impl::on_connection), this},
      {MHD_OPTION_URI_LOG_CALLBACK, reinterpret_cast<intptr_t>(&Impl::on_request_line), this},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&Impl::on_completed), this},
      {MHD_OPTION_UNESCAPE_CALLBACK, reinterpret_cast<intptr_t>(&unescape_path), nullptr},
  };
  if (!cert_pem.empty()) {
    items.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, cert_pem.data()});
    items.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, key_pem.data()});
  }
  items.push_back({MHD_OPTION_END, 0, nullptr});
  daemon.reset(MHD_start_daemon(flags, requested, nullptr, nullptr, &Impl::on_access, this, MHD_OPTION_ARRAY,
                                items.data(), MHD_OPTION_END));
  if (!daemon) {
    std::lock_guard lock(log_mutex);
    const std::string where = options.host.find(':') != std::string::npos
                                  ? "[" + options.host + "]:" + std::to_string(options.port)
                                  : options.host + ":" + std::to_string(options.port);
    return make_error(Errc::io, "cannot start the HTTP server on " + where + ": " +
                                    (first_log.empty() ? std::string("libmicrohttpd refused to start") : first_log));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon.get(), MHD_DAEMON_INFO_BIND_PORT);
  port = info == nullptr ? options.port : info->port;
  started.store(true);
  return Ok{};
}

void Server::Impl::stop_all() {
  std::lock_guard lock(stop_mutex);
  if (stopped) return;
  stopped = true;
  stopping.store(true);
  // Stop accepting now; the listening socket is ours to close, but only once MHD's event thread has
  // stopped (it may still be removing the descriptor from its epoll set: a data race ThreadSanitizer saw).
  const MHD_socket listener = daemon ? MHD_quiesce_daemon(daemon.get()) : MHD_INVALID_SOCKET;
  if (pool) pool->stop();  // before MHD_stop_daemon: no connection may stay suspended
  if (reaper) reaper->stop();
  daemon.reset();  // closes every connection (close notices run; reaper no longer reads the states)
  if (listener != MHD_INVALID_SOCKET) ::close(listener);
  pool.reset();
  reaper.reset();
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

int Server::port() const { return impl_->port; }

void Server::stop() {
  if (impl_) impl_->stop_all();
}

Result<std::unique_ptr<Server>> Server::start(ServerOptions options, InlineHandler inline_handler,
                                              Handler handler) {
  if (Status loaded = load_libmicrohttpd(); !loaded) return loaded.error();
  if (Status checked = check_options(options); !checked) return checked.error();
  auto address = parse_bind_address(options.host, options.port);
  if (!address) return address.error();
  auto impl = std::make_unique<Impl>();
  if (!options.tls_cert_file.empty()) {
    auto cert = read_pem(options.tls_cert_file, "certificate");
    if (!cert) return cert.error();
    auto key = read_pem(options.tls_key_file, "key");
    if (!key) return key.error();
    impl->cert_pem = std::move(*cert);
    impl->key_pem = std::move(*key);
  }
  // Why: a global cap above what the process may open fails at accept (EMFILE) for everyone, health
  // probes included. Raise the soft descriptor limit to the hard one, and keep the cap below it.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    if (files.rlim_cur < files.rlim_max) {
      rlimit raised = files;
      raised.rlim_cur = files.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) files = raised;
    }
    constexpr rlim_t kReserved = 128;  // registry connections, the cache, logs
    if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur > 2 * kReserved &&
        options.max_connections > files.rlim_cur - kReserved) {
      options.max_connections = static_cast<unsigned>(files.rlim_cur - kReserved);
    }
  }
  const std::size_t queue_capacity = std::size_t{4} * options.handler_threads;
  const unsigned threads = options.handler_threads;
  impl->options = std::move(options);
  impl->inline_handler = std::move(inline_handler);
  impl->reaper = std::make_unique<DeadlineReaper>();
  impl->pool = std::make_unique<HandlerPool>(threads, queue_capacity, std::move(handler));
  if (Status opened = impl->open(*address); !opened) {
    impl->stop_all();
    return opened.error();
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

}  // namespace layerleak::serve::http
