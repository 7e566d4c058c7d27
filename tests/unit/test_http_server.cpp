// serve's HTTP(S) transport (scanner/serve/src/http_server.h, internal to the serve library), over real
// sockets on loopback: routing to the inline and pool handlers, bodies, limits, the header deadline,
// per-address caps, slow and idle clients (plain and TLS) that must not starve /healthz, and stop().
// Slow clients come from 127.0.0.2 (Linux routes all of 127/8 to lo), health checks from 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../../scanner/serve/src/http_server.h"  // internal header: the transport has no public interface
#include "test_support.h"

using namespace layerleak;
using namespace layerleak::serve::http;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A TCP socket bound to `source` (an address of 127/8) and connected to 127.0.0.1:port; -1 on failure.
int connect_from(const char* source, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Owns a client socket.
struct Client {
  int fd = -1;
  Client(const char* source, int port) : fd(connect_from(source, port)) {}
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&& other) noexcept : fd(other.fd) { other.fd = -1; }
  bool send(std::string_view bytes) const {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Waits up to `timeout_s` for the peer to close (EOF or reset); true when it did.
  bool closed_within(double timeout_s) const {
    const auto start = Clock::now();
    char buffer[4096];
    while (seconds_since(start) < timeout_s) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return true;
    }
    return false;
  }
  // Reads one response (headers, then Content-Length bytes of body), or what came before `timeout_s`.
  std::string read_response(double timeout_s = 5) const {
    std::string data;
    const auto start = Clock::now();
    char buffer[65536];
    while (seconds_since(start) < timeout_s) {
      const auto end = data.find("\r\n\r\n");
      if (end != std::string::npos) {
        const auto at = data.find("Content-Length: ");
        const std::size_t length = at == std::string::npos || at > end ? 0 : std::stoul(data.substr(at + 16));
        if (data.size() >= end + 4 + length) return data;
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      data.append(buffer, static_cast<std::size_t>(n));
    }
    return data;
  }
};

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

std::string body_of(const std::string& response) {
  const auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : response.substr(end + 4);
}

// One request on a fresh connection from `source`; the raw response ("" when none came).
std::string exchange(int port, const std::string& method, const std::string& path, const std::string& body = "",
                     const char* source = "127.0.0.1", const std::string& extra_headers = "") {
  Client client(source, port);
  if (client.fd < 0) return "";
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: test\r\n" + extra_headers;
  if (!body.empty() || method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  if (!client.send(request)) return "";
  return client.read_response();
}

bool answers_health(const std::string& response) { return status_of(response) == 200 && body_of(response) == "ok\n"; }

// /healthz answered inline; everything else by `pool` on a handler thread.
InlineHandler health_inline() {
  return [](const Request& request, Response& response) {
    if (request.path != "/healthz") return false;
    response.content_type = "text/plain";
    response.body = "ok\n";
    return true;
  };
}

std::unique_ptr<Server> start_server(ServerOptions options, Handler handler,
                                     InlineHandler inline_handler = health_inline()) {
  options.host = options.host.empty() ? "127.0.0.1" : options.host;
  auto server = Server::start(std::move(options), std::move(inline_handler), std::move(handler));
  if (!server) FAIL("server did not start: " << server.error().message);
  return std::move(server).value();
}

Handler echo_handler() {
  return [](const Request& request, Response& response) {
    response.status = 201;
    response.content_type = "text/plain";
    response.headers.emplace_back("Location", "/v1/things/1");
    response.body = request.method + " " + request.path + " " + request.peer + " x-test=" + request.header("x-test") +
                    " body=" + std::to_string(request.body.size()) + ":" +
                    std::to_string(std::hash<std::string>{}(request.body));
  };
}

// Releases handlers blocked in wait() all at once (or after 5 s, so a failing test cannot hang).
struct Gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> waiting{0};
  void wait() {
    ++waiting;
    std::unique_lock lock(mutex);
    cv.wait_for(lock, std::chrono::seconds(5), [this] { return open; });
  }
  void release() {
    {
      std::lock_guard lock(mutex);
      open = true;
    }
    cv.notify_all();
  }
};

}  // namespace

TEST_CASE("http: inline and pool handlers get headers status peer and the decoded path", "[http]") {
  std::atomic<int> pool_calls{0};
  Handler handler = echo_handler();
  auto server = start_server({}, [&](const Request& request, Response& response) {
    ++pool_calls;
    handler(request, response);
  });
  const std::string health = exchange(server->port(), "GET", "/healthz");
  CHECK(answers_health(health));
  CHECK(health.find("Content-Type: text/plain") != std::string::npos);
  CHECK(pool_calls == 0);

  const std::string reply = exchange(server->port(), "GET", "/v1/a%3Ab%00c?x=1", "", "127.0.0.1", "X-Test: yes\r\n");
  CHECK(status_of(reply) == 201);
  CHECK(reply.find("Location: /v1/things/1\r\n") != std::string::npos);
  CHECK(body_of(reply).rfind("GET /v1/a:b%00c 127.0.0.1 x-test=yes body=0:", 0) == 0);
  CHECK(pool_calls == 1);

  // Keep-alive: two requests on one connection, both answered.
  Client client("127.0.0.1", server->port());
  REQUIRE(client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  CHECK(answers_health(client.read_response()));
  REQUIRE(client.send("GET /other HTTP/1.1\r\nHost: t\r\n\r\n"));
  CHECK(status_of(client.read_response()) == 201);
}

TEST_CASE("http: a 1 MiB body sent in pieces arrives intact and larger bodies get 413 unread", "[http]") {
  ServerOptions options;
  options.max_body_bytes = 1u << 20;
  std::atomic<int> calls{0};
  Handler handler = echo_handler();
  auto server = start_server(options, [&](const Request& request, Response& response) {
    ++calls;
    handler(request, response);
  });
  std::string body(1u << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>((i * 7919) % 251);

  Client client("127.0.0.1", server->port());
  REQUIRE(client.send("POST /v1/upload HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n"));
  for (std::size_t at = 0; at < body.size(); at += 100000) {
    REQUIRE(client.send(std::string_view(body).substr(at, 100000)));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::string reply = client.read_response();
  CHECK(status_of(reply) == 201);
  CHECK(body_of(reply).find("body=1048576:" + std::to_string(std::hash<std::string>{}(body))) != std::string::npos);

  // Content-Length over the cap: 413 from the headers alone, the handler never runs.
  Client big("127.0.0.1", server->port());
  REQUIRE(big.send("POST /v1/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n"));
  const auto start = Clock::now();
  CHECK(status_of(big.read_response(3)) == 413);
  CHECK(seconds_since(start) < 1.0);

  // Chunked body over the cap: the rest is discarded, 413 at the end.
  Client chunked("127.0.0.1", server->port());
  REQUIRE(chunked.send("POST /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string piece(256 * 1024, 'a');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
  for (int i = 0; i < 5; ++i) REQUIRE(chunked.send(size_line + piece + "\r\n"));
  REQUIRE(chunked.send("0\r\n\r\n"));
  CHECK(status_of(chunked.read_response()) == 413);
  CHECK(calls == 1);
}

TEST_CASE("http: bodies held at once share one budget so many clients cannot exhaust memory", "[http]") {
  ServerOptions options;
  options.max_body_bytes = 1u << 20;
  options.max_buffered_bytes = 2u << 20;  // two full bodies
  std::atomic<int> calls{0};
  Handler handler = echo_handler();
  auto server = start_server(options, [&](const Request& request, Response& response) {
    ++calls;
    handler(request, response);
  });
  const std::string piece(512 * 1024, 'b');
  // Four clients each send 1 MiB but stop short of the last byte: 2 MiB are held, the rest is refused.
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<Client>("127.0.0.1", server->port()));
    REQUIRE(clients.back()->send("POST /v1/upload HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(2 * piece.size()) +
                                 "\r\n\r\n"));
    REQUIRE(clients.back()->send(piece));
    REQUIRE(clients.back()->send(std::string_view(piece).substr(1)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int busy = 0, ok = 0;
  for (auto& client : clients) {
    REQUIRE(client->send("b"));
    const int status = status_of(client->read_response());
    busy += status == 503 ? 1 : 0;
    ok += status == 201 ? 1 : 0;
  }
  CHECK(busy >= 2);
  CHECK(ok >= 1);
  // The budget is given back when requests complete: a new full body is accepted again.
  Client after("127.0.0.1", server->port());
  REQUIRE(after.send("POST /v1/upload HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(piece.size()) + "\r\n\r\n" + piece));
  CHECK(status_of(after.read_response()) == 201);
}

TEST_CASE("http: idle clients from many addresses filling the global cap do not lock out /healthz", "[http]") {
  ServerOptions options;
  options.max_connections = 64;
  options.max_connections_per_address = 16;
  auto server = start_server(options, echo_handler());
  // Sixteen connections from each of 127.0.0.2-5 (the per-address cap), each with half a request line:
  // together exactly the global cap. Without eviction a new connection would be refused.
  std::vector<Client> idle;
  for (int address = 2; address <= 5; ++address) {
    const std::string source = "127.0.0." + std::to_string(address);
    for (int i = 0; i < 16; ++i) {
      idle.emplace_back(source.c_str(), server->port());
      if (idle.back().fd >= 0) idle.back().send("GE");
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int answered = 0;
  for (int i = 0; i < 5; ++i) {
    const auto start = Clock::now();
    if (answers_health(exchange(server->port(), "GET", "/healthz")) && seconds_since(start) < 2.0) ++answered;
  }
  CHECK(answered == 5);
}

TEST_CASE("http: 100 slow clients from one address do not delay /healthz from another", "[http]") {
  ServerOptions options;
  options.handler_threads = 4;
  options.max_connections_per_address = 128;
  auto server = start_server(options, echo_handler());
  std::vector<Client> slow;
  for (int i = 0; i < 100; ++i) {
    slow.emplace_back("127.0.0.2", server->port());
    REQUIRE(slow.back().fd >= 0);
  }
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    const std::string header = "GET /slow HTTP/1.1\r\nHost: t\r\n";
    for (std::size_t i = 0; !done && i < header.size(); ++i) {
      for (const Client& c : slow) c.send(header.substr(i, 1));
      for (int t = 0; !done && t < 20; ++t) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  double worst = 0;
  int answered = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < 5.0) {
    const auto asked = Clock::now();
    if (answers_health(exchange(server->port(), "GET", "/healthz"))) ++answered;
    worst = std::max(worst, seconds_since(asked));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const bool pool_answers = status_of(exchange(server->port(), "GET", "/v1/x")) == 201;
  done = true;
  trickle.join();
  WARN("health latency under 100 slow connections: worst " << worst * 1000 << " ms over " << answered << " checks");
  CHECK(answered >= 15);
  CHECK(worst < 2.0);
  CHECK(pool_answers);
}

TEST_CASE("http: the per-address cap refuses the 9th connection from one address but not others", "[http]") {
  ServerOptions options;
  options.max_connections_per_address = 8;
  auto server = start_server(options, echo_handler());
  std::vector<Client> held;
  for (int i = 0; i < 8; ++i) {
    held.emplace_back("127.0.0.2", server->port());
    REQUIRE(held.back().fd >= 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // all 8 accepted by the event thread
  Client ninth("127.0.0.2", server->port());
  // The kernel completes the handshake; the server then closes (or the connect itself fails).
  CHECK((ninth.fd < 0 || ninth.closed_within(2.0)));
  CHECK(answers_health(exchange(server->port(), "GET", "/healthz")));
  // The 8 held connections still work.
  REQUIRE(held[0].send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  CHECK(answers_health(held[0].read_response()));
}

TEST_CASE("http: the header deadline is absolute and idle keep-alive closes but slow handlers are not cut", "[http]") {
  ServerOptions options;
  options.header_timeout_seconds = 2;
  options.idle_timeout_seconds = 2;
  auto server = start_server(options, [](const Request& request, Response& response) {
    if (request.path == "/slow") std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    response.body = "{}";
  });
  // Trickler: one byte every 0.5 s keeps MHD's inactivity timer fresh; the absolute deadline drops it.
  Client trickler("127.0.0.2", server->port());
  const auto start = Clock::now();
  std::atomic<bool> stop_trickle{false};
  std::thread trickle([&] {
    for (int i = 0; !stop_trickle && i < 20; ++i) {
      if (!trickler.send("X")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });
  const bool dropped = trickler.closed_within(6.0);
  const double after = seconds_since(start);
  stop_trickle = true;
  trickle.join();
  WARN("trickling client dropped after " << after << " s (header_timeout 2 s)");
  CHECK(dropped);
  CHECK(after >= 1.8);
  CHECK(after <= 2.0 + 2.0);

  // Keep-alive: after a response, an idle connection, or one trickling its next request line, is
  // closed idle_timeout after that response.
  for (const bool trickle_next : {false, true}) {
    Client idle("127.0.0.1", server->port());
    REQUIRE(idle.send("GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"));
    CHECK(status_of(idle.read_response()) == 200);
    const auto idle_start = Clock::now();
    std::atomic<bool> stop_next{false};
    std::thread next([&] {
      for (int i = 0; trickle_next && !stop_next && i < 12; ++i) {
        if (!idle.send("G")) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    });
    const bool closed = idle.closed_within(6.0);
    const double idle_after = seconds_since(idle_start);
    stop_next = true;
    next.join();
    INFO("trickling the next request: " << trickle_next << ", closed after " << idle_after << " s");
    CHECK(closed);
    CHECK(idle_after >= 1.5);
    CHECK(idle_after <= 2.0 + 2.0);
  }

  // A handler slower than the header deadline still answers (the deadline covers the request only).
  CHECK(status_of(exchange(server->port(), "GET", "/slow")) == 200);
}

TEST_CASE("http: with every handler thread blocked /healthz answers at once and overflow gets 503", "[http]") {
  ServerOptions options;
  options.handler_threads = 2;  // queue of 8
  Gate gate;
  auto server = start_server(options, [&](const Request&, Response& response) {
    gate.wait();
    response.body = "{}";
  });
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 10; ++i) {
    callers.emplace_back([&] {
      if (status_of(exchange(server->port(), "POST", "/v1/work", "{}")) == 200) ++ok;
    });
    if (i == 1) {
      for (int t = 0; t < 100 && gate.waiting < 2; ++t) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // 2 running, 8 queued
  const auto asked = Clock::now();
  CHECK(answers_health(exchange(server->port(), "GET", "/healthz")));
  const double health_s = seconds_since(asked);
  WARN("health latency with all handler threads blocked: " << health_s * 1000 << " ms");
  CHECK(health_s < 0.5);
  const std::string busy = exchange(server->port(), "POST", "/v1/work", "{}");
  CHECK(status_of(busy) == 503);
  CHECK(busy.find("Retry-After: ") != std::string::npos);
  gate.release();
  for (std::thread& t : callers) t.join();
  CHECK(ok == 10);
}

TEST_CASE("http: handler exceptions become a 500 that hides the exception text", "[http]") {
  auto server = start_server(
      {}, [](const Request&, Response&) { throw std::runtime_error("secret detail"); },
      [](const Request& request, Response&) -> bool {
        if (request.path == "/boom") throw std::runtime_error("inline secret");
        return false;
      });
  for (const char* path : {"/boom", "/pool"}) {
    const std::string reply = exchange(server->port(), "GET", path);
    CHECK(status_of(reply) == 500);
    CHECK(body_of(reply) == R"({"error":{"message":"internal error"}})");
    CHECK(reply.find("secret") == std::string::npos);
  }
}

TEST_CASE("http: TLS with 40 idle never-handshaking sockets still answers a real TLS request", "[http]") {
  testing::TempDir dir;
  const std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
  const std::string make_cert = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                                "-subj /CN=localhost -keyout '" + key + "' -out '" + cert + "' >/dev/null 2>&1";
  REQUIRE(std::system(make_cert.c_str()) == 0);
  ServerOptions options;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  options.max_connections_per_address = 64;
  options.header_timeout_seconds = 3;
  auto server = start_server(options, echo_handler());
  std::vector<Client> idle;
  for (int i = 0; i < 40; ++i) {
    idle.emplace_back("127.0.0.2", server->port());
    REQUIRE(idle.back().fd >= 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (const char* path : {"/healthz", "/v1/tls"}) {
    const std::string command = "curl -sk --max-time 5 -o - -w ' %{http_code}' https://127.0.0.1:" +
                                std::to_string(server->port()) + path;
    const auto start = Clock::now();
    std::FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string output;
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
    ::pclose(pipe);
    const double took = seconds_since(start);
    WARN("TLS " << path << " with 40 idle sockets: " << took * 1000 << " ms: " << output);
    CHECK(took < 2.0);
    CHECK(output.size() > 4);
    CHECK(output.substr(output.size() - 4) == (std::string(path) == "/healthz" ? " 200" : " 201"));
  }
  // Plain HTTP on the TLS port is not answered as HTTP.
  CHECK(status_of(exchange(server->port(), "GET", "/healthz")) == 0);
  // The sockets that never handshake are dropped at the header deadline.
  CHECK(idle.front().closed_within(3.0 + 2.0));
  CHECK(idle.back().closed_within(1.0));
}

TEST_CASE("http: stop() returns quickly with slow clients connected and refuses new connections", "[http]") {
  auto server = start_server({}, echo_handler());
  const int port = server->port();
  std::vector<Client> slow;
  for (int i = 0; i < 20; ++i) {
    slow.emplace_back("127.0.0.2", port);
    REQUIRE(slow.back().send("GET /partial HTTP/1.1\r\nHo"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start = Clock::now();
  server->stop();
  const double took = seconds_since(start);
  WARN("stop() with 20 slow clients: " << took * 1000 << " ms");
  CHECK(took < 2.0);
  CHECK(slow[0].closed_within(1.0));
  server->stop();  // idempotent
  Client late("127.0.0.1", port);
  CHECK(late.fd < 0);
}

TEST_CASE("http: start-up errors are results with clear messages", "[http]") {
  ServerOptions named;
  named.host = "localhost";
  auto bad_host = Server::start(named, health_inline(), echo_handler());
  REQUIRE_FALSE(bad_host);
  CHECK(bad_host.error().code == Errc::invalid_argument);
  CHECK(bad_host.error().message.find("localhost") != std::string::npos);

  auto first = start_server({}, echo_handler());
  ServerOptions taken;
  taken.host = "127.0.0.1";
  taken.port = first->port();
  auto clash = Server::start(taken, health_inline(), echo_handler());
  REQUIRE_FALSE(clash);
  CHECK(clash.error().code == Errc::io);
  CHECK(clash.error().message.find("127.0.0.1:" + std::to_string(first->port())) != std::string::npos);
  INFO(clash.error().message);
  CHECK(clash.error().message.find("in use") != std::string::npos);

  ServerOptions missing;
  missing.host = "127.0.0.1";
  missing.tls_cert_file = "/nonexistent/cert.pem";
  missing.tls_key_file = "/nonexistent/key.pem";
  auto no_cert = Server::start(missing, health_inline(), echo_handler());
  REQUIRE_FALSE(no_cert);
  CHECK(no_cert.error().message.find("/nonexistent/cert.pem") != std::string::npos);

  testing::TempDir dir;
  { std::FILE* f = std::fopen(dir.file("junk.pem").c_str(), "w"); std::fputs("not a certificate\n", f); std::fclose(f); }
  ServerOptions junk = missing;
  junk.tls_cert_file = junk.tls_key_file = dir.file("junk.pem");
  auto bad_pem = Server::start(junk, health_inline(), echo_handler());
  REQUIRE_FALSE(bad_pem);
  INFO(bad_pem.error().message);
  CHECK(bad_pem.error().message.find("127.0.0.1") != std::string::npos);

  ServerOptions half;
  half.host = "127.0.0.1";
  half.tls_cert_file = "/x.pem";
  CHECK(Server::start(half, health_inline(), echo_handler()).error().code == Errc::invalid_argument);

  ServerOptions v6;
  v6.host = "::1";
  auto ipv6 = Server::start(v6, health_inline(), echo_handler());
  REQUIRE(ipv6);
  CHECK((*ipv6)->port() > 0);

  // "::" takes IPv4 clients too; their address is shown as IPv4.
  ServerOptions any;
  any.host = "::";
  auto dual = Server::start(any, health_inline(), echo_handler());
  REQUIRE(dual);
  CHECK(body_of(exchange((*dual)->port(), "GET", "/who")).find(" 127.0.0.1 ") != std::string::npos);
}
