// The registry client's pure parts: reference grammar, auth challenges, credential lookup, the address
// policy; plus, against a tiny canned server on loopback, what a real registry cannot be made to do
// (never answer, redirect into a private network). The rest of the HTTP side is tested against a real
// docker-registry in tests/integration/test_registry.py.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "registry/credentials.h"
#include "registry/http.h"
#include "registry/registry.h"
#include "registry/session.h"

using namespace layerleak;
using namespace layerleak::oci;

namespace {

// Sets an environment variable for one scope, restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("layerleak-test-registry-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace

TEST_CASE("registry references follow docker's naming", "[registry]") {
  auto r = parse_registry_reference("127.0.0.1:5000/team/app:1.2");
  REQUIRE(r);
  CHECK(r->registry == "127.0.0.1:5000");
  CHECK(r->host == "127.0.0.1:5000");
  CHECK(r->repository == "team/app");
  CHECK(r->tag == "1.2");
  CHECK_FALSE(r->digest);
  CHECK(r->str() == "docker://127.0.0.1:5000/team/app:1.2");

  auto hub = parse_registry_reference("alpine");
  REQUIRE(hub);
  CHECK(hub->registry == "docker.io");
  CHECK(hub->host == "registry-1.docker.io");
  CHECK(hub->repository == "library/alpine");
  CHECK(hub->tag == "latest");

  auto user = parse_registry_reference("docker.io/someone/tool");
  REQUIRE(user);
  CHECK(user->repository == "someone/tool");
  CHECK(user->host == "registry-1.docker.io");

  const std::string hex(64, 'a');
  auto pinned = parse_registry_reference("rg.fr-par.scw.cloud/ns/app:v1@sha256:" + hex);
  REQUIRE(pinned);
  CHECK(pinned->registry == "rg.fr-par.scw.cloud");
  CHECK(pinned->digest->str() == "sha256:" + hex);
  CHECK(pinned->str() == "docker://rg.fr-par.scw.cloud/ns/app@sha256:" + hex);

  auto local = parse_registry_reference("localhost/app");
  REQUIRE(local);
  CHECK(local->registry == "localhost");
  CHECK(local->tag == "latest");

  for (const char* bad : {"", "UPPER/app", "host:5000/", "host:5000/app:", "host:5000/app@sha256:12", "host:5000//app",
                          "ho st:5000/app", "host:99999999/app", "host:5000/app:tag with space", "host:5000/-app"}) {
    INFO(bad);
    auto parsed = parse_registry_reference(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == Errc::invalid_argument);
  }
}

TEST_CASE("a loopback registry is asked in plain HTTP first, any other over TLS first or only", "[registry]") {
  using V = std::vector<std::string>;
  CHECK(probe_schemes("127.0.0.1:5000", true) == V{"http", "https"});
  CHECK(probe_schemes("localhost", true) == V{"http", "https"});
  CHECK(probe_schemes("[::1]:5000", false) == V{"http", "https"});
  CHECK(probe_schemes("rg.fr-par.scw.cloud", true) == V{"https"});
  CHECK(probe_schemes("127.example.com:5000", true) == V{"https"});  // a name, not a loopback address
  CHECK(probe_schemes("10.0.0.7:5000", false) == V{"https", "http"});
}

TEST_CASE("loopback hosts may use plain HTTP", "[registry]") {
  CHECK(is_loopback_host("127.0.0.1:5000"));
  CHECK(is_loopback_host("127.1.2.3"));
  CHECK(is_loopback_host("localhost:80"));
  CHECK(is_loopback_host("[::1]:5000"));
  CHECK_FALSE(is_loopback_host("rg.fr-par.scw.cloud"));
  CHECK_FALSE(is_loopback_host("128.0.0.1:5000"));
  CHECK_FALSE(is_loopback_host("localhost.example.com"));
}

TEST_CASE("WWW-Authenticate challenges are parsed", "[registry]") {
  auto [scheme, params] = registry::parse_challenge(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push")");
  CHECK(scheme == "bearer");
  CHECK(params["realm"] == "https://auth.example.com/token");
  CHECK(params["service"] == "registry.example.com");
  CHECK(params["scope"] == "repository:a/b:pull,push");
  auto basic = registry::parse_challenge(R"(Basic realm="Registry Realm")");
  CHECK(basic.first == "basic");
  CHECK(basic.second["realm"] == "Registry Realm");
  auto unquoted = registry::parse_challenge("Bearer realm=https://x/token, service=x");
  CHECK(unquoted.second["realm"] == "https://x/token");
  CHECK(unquoted.second["service"] == "x");
  auto escaped = registry::parse_challenge(R"(Bearer realm="a\"b")");
  CHECK(escaped.second["realm"] == "a\"b");
}

TEST_CASE("registry error bodies become short messages", "[registry]") {
  CHECK(registry::registry_error_text(R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})") ==
        "MANIFEST_UNKNOWN: manifest unknown");
  CHECK(registry::registry_error_text("<html>not json</html>").empty());
  CHECK(registry::registry_error_text(R"({"errors":"x"})").empty());
}

TEST_CASE("redirect locations are resolved against the request URL", "[registry]") {
  const std::string base = "https://reg.example.com:5000/v2/app/blobs/sha256:ab?x=1";
  CHECK(registry::resolve_url(base, "https://s3.example.com/b?sig=1") == "https://s3.example.com/b?sig=1");
  CHECK(registry::resolve_url(base, "/other/path") == "https://reg.example.com:5000/other/path");
  CHECK(registry::resolve_url(base, "//cdn.example.com/x") == "https://cdn.example.com/x");
  CHECK(registry::resolve_url(base, "sibling") == "https://reg.example.com:5000/v2/app/blobs/sibling");
  CHECK(registry::resolve_url(base, "").empty());
  CHECK(registry::url_origin("HTTPS://Reg.Example.com:5000/v2/") == "https://reg.example.com:5000");
  CHECK(registry::url_origin("no-scheme").empty());
}

TEST_CASE("base64 round-trips", "[registry]") {
  for (std::string text : {"", "a", "ab", "abc", "user:5f0cd8b4-0c9b-4c4e-9a0b-6a1b2c3d4e5f"}) {
    auto decoded = layerleak::base64_decode(layerleak::base64_encode(text));
    REQUIRE(decoded);
    CHECK(*decoded == text);
  }
  CHECK(layerleak::base64_decode("dXNlcjpwYXNz") == std::optional<std::string>("user:pass"));
  CHECK_FALSE(layerleak::base64_decode("not base64!"));
}

TEST_CASE("auth file keys are normalised", "[registry]") {
  CHECK(registry::normalise_auth_key("https://index.docker.io/v1/") == "docker.io");
  CHECK(registry::normalise_auth_key("registry-1.docker.io") == "docker.io");
  CHECK(registry::normalise_auth_key("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000");
  CHECK(registry::normalise_auth_key("rg.fr-par.scw.cloud/team") == "rg.fr-par.scw.cloud/team");
}

TEST_CASE("credentials come from --creds, the environment and auth files", "[registry]") {
  const auto dir = temp_dir("creds");
  ScopedEnv home("HOME", dir.string());
  ScopedEnv no_docker_config("DOCKER_CONFIG", (dir / "none").string());
  ScopedEnv no_auth_file("REGISTRY_AUTH_FILE", (dir / "none.json").string());

  RegistryOptions options;
  SECTION("--creds USER:PASS") {
    options.creds = "alice:s3cret:with:colons";
    auto c = registry::find_credentials(options, "127.0.0.1:5000", "app");
    REQUIRE(c);
    REQUIRE(*c);
    CHECK((*c)->username == "alice");
    CHECK((*c)->password == "s3cret:with:colons");
  }
  SECTION("--creds USER with LAYERLEAK_REGISTRY_PASSWORD") {
    options.creds = "alice";
    {
      ScopedEnv password("LAYERLEAK_REGISTRY_PASSWORD", "from-env");
      auto c = registry::find_credentials(options, "127.0.0.1:5000", "app");
      REQUIRE(c);
      CHECK((*c)->password == "from-env");
    }
    ::unsetenv("LAYERLEAK_REGISTRY_PASSWORD");
    auto missing = registry::find_credentials(options, "127.0.0.1:5000", "app");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == Errc::invalid_argument);
  }
  SECTION("no credentials anywhere") {
    auto c = registry::find_credentials(options, "127.0.0.1:5000", "app");
    REQUIRE(c);
    CHECK_FALSE(*c);
  }
  SECTION("~/.docker/config.json, the longest namespace key wins") {
    std::filesystem::create_directories(dir / ".docker");
    write_file(dir / ".docker/config.json", R"({"auths": {
      "127.0.0.1:5000": {"auth": ")" + layerleak::base64_encode("host:hostpass") + R"("},
      "127.0.0.1:5000/team": {"auth": ")" + layerleak::base64_encode("team:teampass") + R"("},
      "https://index.docker.io/v1/": {"username": "hub", "password": "hubpass"}}})");
    auto team = registry::find_credentials(options, "127.0.0.1:5000", "team/app");
    REQUIRE(team);
    REQUIRE(*team);
    CHECK((*team)->username == "team");
    auto other = registry::find_credentials(options, "127.0.0.1:5000", "teamwork/app");
    REQUIRE(other);
    CHECK((*other)->username == "host");
    auto hub = registry::find_credentials(options, "docker.io", "library/alpine");
    REQUIRE(hub);
    CHECK((*hub)->password == "hubpass");
    auto none = registry::find_credentials(options, "127.0.0.1:6000", "app");
    REQUIRE(none);
    CHECK_FALSE(*none);
  }
  SECTION("--authfile that does not exist or is not JSON is an error") {
    options.authfile = (dir / "missing.json").string();
    auto missing = registry::find_credentials(options, "127.0.0.1:5000", "app");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == Errc::not_found);
    write_file(dir / "broken.json", "{not json");
    options.authfile = (dir / "broken.json").string();
    auto broken = registry::find_credentials(options, "127.0.0.1:5000", "app");
    REQUIRE_FALSE(broken);
    CHECK(broken.error().code == Errc::malformed);
    write_file(dir / "badauth.json", R"({"auths": {"127.0.0.1:5000": {"auth": "bm9jb2xvbg=="}}})");
    options.authfile = (dir / "badauth.json").string();
    auto bad_auth = registry::find_credentials(options, "127.0.0.1:5000", "app");
    REQUIRE_FALSE(bad_auth);
    CHECK(bad_auth.error().message.find("USER:PASSWORD") != std::string::npos);
  }
  SECTION("credHelpers run docker-credential-<name> get") {
    const auto bin = dir / "bin";
    std::filesystem::create_directories(bin);
    write_file(bin / "docker-credential-unit",
               "#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = 127.0.0.1:5000 ]; then\n"
               "  echo '{\"ServerURL\":\"127.0.0.1:5000\",\"Username\":\"helper\",\"Secret\":\"helperpass\"}'\n"
               "else\n  echo 'credentials not found in native keychain'; exit 1\nfi\n");
    ::chmod((bin / "docker-credential-unit").c_str(), 0755);
    ScopedEnv path("PATH", bin.string() + ":" + std::string(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin"));
    write_file(dir / "helpers.json", R"({"credHelpers": {"127.0.0.1:5000": "unit"}, "credsStore": "unit"})");
    options.authfile = (dir / "helpers.json").string();
    auto c = registry::find_credentials(options, "127.0.0.1:5000", "app");
    REQUIRE(c);
    REQUIRE(*c);
    CHECK((*c)->username == "helper");
    CHECK((*c)->password == "helperpass");
    // The store has nothing for another registry: no credentials, not an error.
    auto none = registry::find_credentials(options, "127.0.0.1:6000", "app");
    REQUIRE(none);
    CHECK_FALSE(*none);
    write_file(dir / "missing-helper.json", R"({"credHelpers": {"127.0.0.1:5000": "absent"}})");
    options.authfile = (dir / "missing-helper.json").string();
    auto absent = registry::find_credentials(options, "127.0.0.1:5000", "app");
    REQUIRE_FALSE(absent);
    CHECK(absent.error().message.find("docker-credential-absent") != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

// ---- Issue 13: cancellation, allowed registries, the private-network policy ---------------------------

namespace {

sockaddr_storage socket_address(const char* text) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else {
    REQUIRE(::inet_pton(AF_INET6, text, &v6->sin6_addr) == 1);
    v6->sin6_family = AF_INET6;
  }
  return storage;
}

registry::AddressKind kind_of(const char* text) {
  const sockaddr_storage a = socket_address(text);
  return registry::classify_address(reinterpret_cast<const sockaddr*>(&a));
}

// A tiny HTTP/1.1 server on one IPv4 loopback address, for what a real registry cannot be made to do:
// never answer, or redirect a blob anywhere. Connections are handled one at a time on its own thread;
// a TLS ClientHello is hung up on, as a plain-HTTP registry does.
class CannedServer {
 public:
  // `answer(path)` gives the whole response; nullopt keeps the connection open and silent.
  using Answer = std::function<std::optional<std::string>(const std::string& path)>;

  CannedServer(const char* address, Answer answer) : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    REQUIRE(::inet_pton(AF_INET, address, &a.sin_addr) == 1);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener_, 16) == 0);
    socklen_t length = sizeof a;
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &length) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedServer() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
    for (int fd : held_) ::close(fd);
  }
  CannedServer(const CannedServer&) = delete;
  CannedServer& operator=(const CannedServer&) = delete;

  unsigned port() const { return port_; }
  unsigned connections() const { return connections_.load(); }

 private:
  void serve() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      ++connections_;
      std::string request;
      char chunk[4096];
      bool tls = false;
      while (request.find("\r\n\r\n") == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2000) <= 0) break;
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) break;
        request.append(chunk, static_cast<std::size_t>(n));
        if (static_cast<unsigned char>(request[0]) == 0x16) {
          tls = true;
          break;
        }
      }
      const auto space = request.find(' ');
      const std::string path = space == std::string::npos ? "" : request.substr(space + 1, request.find(' ', space + 1) - space - 1);
      std::optional<std::string> response = tls ? std::optional<std::string>("") : answer_(path);
      if (!response) {
        held_.push_back(fd);  // silent: accepted, never answered, closed when the server stops
        continue;
      }
      if (!response->empty()) [[maybe_unused]] auto sent = ::send(fd, response->data(), response->size(), MSG_NOSIGNAL);
      ::close(fd);
    }
  }

  Answer answer_;
  int listener_ = -1;
  unsigned port_ = 0;
  std::thread thread_;
  std::atomic<unsigned> connections_{0};
  std::vector<int> held_;
};

std::string http_answer(const std::string& status_line, const std::string& extra_headers = "", const std::string& body = "") {
  return "HTTP/1.1 " + status_line + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers +
         "Connection: close\r\n\r\n" + body;
}

// A registry that answers /v2/ and redirects every blob to `target`.
CannedServer::Answer redirecting_registry(std::string target) {
  return [target](const std::string& path) -> std::optional<std::string> {
    if (path == "/v2/") return http_answer("200 OK", "", "{}");
    if (path.find("/blobs/") != std::string::npos) return http_answer("307 Temporary Redirect", "Location: " + target + "\r\n");
    return http_answer("404 Not Found");
  };
}

const std::string kBlobPath = "/v2/x/y/blobs/sha256:" + std::string(64, 'a');

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("addresses are classified for the private-network policy", "[registry]") {
  using K = registry::AddressKind;
  CHECK(kind_of("8.8.8.8") == K::public_address);
  CHECK(kind_of("51.15.0.1") == K::public_address);
  CHECK(kind_of("172.15.255.255") == K::public_address);
  CHECK(kind_of("172.32.0.1") == K::public_address);
  CHECK(kind_of("100.63.255.255") == K::public_address);
  CHECK(kind_of("100.128.0.1") == K::public_address);
  CHECK(kind_of("2001:4860:4860::8888") == K::public_address);
  CHECK(kind_of("127.0.0.1") == K::loopback);
  CHECK(kind_of("127.255.0.9") == K::loopback);
  CHECK(kind_of("::1") == K::loopback);
  CHECK(kind_of("10.0.0.1") == K::private_network);
  CHECK(kind_of("172.16.0.1") == K::private_network);
  CHECK(kind_of("172.31.255.254") == K::private_network);
  CHECK(kind_of("192.168.1.1") == K::private_network);
  CHECK(kind_of("fc00::1") == K::private_network);
  CHECK(kind_of("fdff:ffff::1") == K::private_network);
  CHECK(kind_of("169.254.169.254") == K::link_local);
  CHECK(kind_of("fe80::1") == K::link_local);
  CHECK(kind_of("febf::1") == K::link_local);
  CHECK(kind_of("100.64.0.1") == K::shared_cgnat);
  CHECK(kind_of("100.127.255.255") == K::shared_cgnat);
  CHECK(kind_of("0.0.0.0") == K::unspecified);
  CHECK(kind_of("::") == K::unspecified);
  CHECK(kind_of("224.0.0.1") == K::multicast);
  CHECK(kind_of("255.255.255.255") == K::multicast);
  CHECK(kind_of("ff02::1") == K::multicast);
  // IPv4 carried in IPv6 is judged as the IPv4 address.
  CHECK(kind_of("::ffff:127.0.0.1") == K::loopback);
  CHECK(kind_of("::ffff:10.1.2.3") == K::private_network);
  CHECK(kind_of("::ffff:169.254.169.254") == K::link_local);
  CHECK(kind_of("::ffff:8.8.8.8") == K::public_address);
  CHECK(kind_of("::10.1.2.3") == K::private_network);
  sockaddr unix_family{};
  unix_family.sa_family = AF_UNIX;
  CHECK(registry::classify_address(&unix_family) == K::unspecified);
}

TEST_CASE("loopback hosts are parsed addresses, not prefixes", "[registry]") {
  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("127.9.8.7:5000"));
  CHECK(is_loopback_host("LOCALHOST:5000"));
  CHECK(is_loopback_host("[::1]"));
  CHECK(is_loopback_host("::1"));
  CHECK_FALSE(is_loopback_host("127.evil.com"));
  CHECK_FALSE(is_loopback_host("127.evil.com:5000"));
  CHECK_FALSE(is_loopback_host("127.0.0.1.nip.io"));
  CHECK_FALSE(is_loopback_host("127.0.0.1@evil.com"));
  CHECK_FALSE(is_loopback_host("127"));
  CHECK_FALSE(is_loopback_host("[::2]:5000"));
  CHECK_FALSE(is_loopback_host("[::1"));
  CHECK_FALSE(is_loopback_host("10.0.0.1"));
  CHECK_FALSE(is_loopback_host(""));
}

TEST_CASE("the connect guard: the registry's first address decides", "[registry]") {
  const sockaddr_storage public_a = socket_address("51.15.0.1");
  const sockaddr_storage private_a = socket_address("10.0.0.7");
  const sockaddr_storage loop_a = socket_address("::ffff:127.0.0.1");
  const auto* pub = reinterpret_cast<const sockaddr*>(&public_a);
  const auto* priv = reinterpret_cast<const sockaddr*>(&private_a);
  const auto* loop = reinterpret_cast<const sockaddr*>(&loop_a);
  SECTION("public registry: private peers refused afterwards") {
    registry::ConnectGuard guard("rg.example", true);
    CHECK(guard.admit(pub).empty());
    CHECK(guard.restricted());
    const std::string why = guard.admit(priv);
    CHECK(why.find("10.0.0.7 (a private-network address)") != std::string::npos);
    CHECK(why.find("rg.example") != std::string::npos);
    CHECK(guard.admit(loop).find("127.0.0.1 (a loopback address)") != std::string::npos);
    CHECK(guard.admit(pub).empty());
  }
  SECTION("private registry: nothing restricted") {
    registry::ConnectGuard guard("internal:5000", true);
    CHECK(guard.admit(priv).empty());
    CHECK_FALSE(guard.restricted());
    CHECK(guard.admit(loop).empty());
    CHECK(guard.admit(pub).empty());
  }
  SECTION("disabled") {
    registry::ConnectGuard guard("rg.example", false);
    CHECK(guard.admit(pub).empty());
    CHECK(guard.admit(priv).empty());
  }
}

TEST_CASE("registries outside the allow-list are refused before any request", "[registry]") {
  CannedServer server("127.0.0.1", redirecting_registry("http://127.0.0.1:1/"));
  RegistryOptions options;
  options.allowed_registries = {"127.0.0.1:1", "Docker.IO"};
  options.creds = "user:secret-password";
  const std::string here = "127.0.0.1:" + std::to_string(server.port());
  const auto start = std::chrono::steady_clock::now();
  auto refused = open_registry("docker://" + here + "/x/y:1", options);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::unsupported);
  CHECK(refused.error().message.find("registry " + here + " is not in --allow-registry") != std::string::npos);
  CHECK(refused.error().message.find("secret-password") == std::string::npos);
  // A name nobody can resolve: refused at once, so without a DNS lookup either.
  auto unknown = open_registry("docker://no-such-host.invalid/x/y:1", options);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == Errc::unsupported);
  CHECK(seconds_since(start) < 1.0);  // generous for sanitizer builds; the connection count is the real check
  CHECK(server.connections() == 0);

  CHECK(registry_allowed(options, "docker.io"));
  CHECK(registry_allowed(options, "index.docker.io"));
  CHECK(registry_allowed(options, "127.0.0.1:1"));
  CHECK_FALSE(registry_allowed(options, "127.0.0.1"));
  CHECK_FALSE(registry_allowed(options, "127.0.0.1:10"));
  CHECK(registry_allowed(RegistryOptions{}, "anything.example"));

  // --creds belong to the allowed registries only.
  auto for_allowed = registry::find_credentials(options, "127.0.0.1:1", "x/y");
  REQUIRE(for_allowed);
  REQUIRE(*for_allowed);
  CHECK((*for_allowed)->password == "secret-password");
  ScopedEnv home("HOME", temp_dir("allow-home").string());
  ScopedEnv no_config("DOCKER_CONFIG", temp_dir("allow-config").string());
  ScopedEnv no_auth("REGISTRY_AUTH_FILE", "");
  auto for_other = registry::find_credentials(options, "other.example:5000", "x/y");
  REQUIRE(for_other);
  CHECK_FALSE(*for_other);
}

TEST_CASE("a loopback server that answers plain HTTP but is no registry is reported at once", "[registry]") {
  CannedServer server("127.0.0.1", [](const std::string&) { return http_answer("404 Not Found"); });
  const std::string here = "127.0.0.1:" + std::to_string(server.port());
  const auto start = std::chrono::steady_clock::now();
  auto opened = open_registry("docker://" + here + "/x/y:1", RegistryOptions{});
  REQUIRE_FALSE(opened);
  CHECK(opened.error().code == Errc::not_found);
  CHECK(opened.error().message.find("answered HTTP 404 to /v2/") != std::string::npos);
  // Plain HTTP, then one TLS attempt (hung up on); no retries with back-off.
  CHECK(server.connections() == 2);
  CHECK(seconds_since(start) < 1.0);
}

TEST_CASE("a cancel flag stops a silent registry, back-off and a credential helper", "[registry]") {
  CannedServer silent("127.0.0.1", [](const std::string&) { return std::optional<std::string>(); });
  const std::string reference = "docker://127.0.0.1:" + std::to_string(silent.port()) + "/x/y:1";
  RegistryOptions options;
  options.max_retries = 0;
  std::atomic<bool> cancel{false};

  SECTION("waiting for the answer") {
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      cancel = true;
    });
    const auto start = std::chrono::steady_clock::now();
    auto opened = open_registry(reference, options, &cancel);
    const double took = seconds_since(start);
    canceller.join();
    REQUIRE_FALSE(opened);
    CHECK(opened.error().code == Errc::cancelled);
    CHECK(std::string(errc_name(opened.error().code)) == "cancelled");
    CHECK(took >= 0.3);
    CHECK(took < 1.5);  // the flag is looked at every 100 ms (generous: sanitizers on a loaded machine)
    CHECK(silent.connections() >= 1);
  }
  SECTION("already cancelled: no connection at all") {
    cancel = true;
    auto opened = open_registry(reference, options, &cancel);
    REQUIRE_FALSE(opened);
    CHECK(opened.error().code == Errc::cancelled);
    CHECK(silent.connections() == 0);
  }
  SECTION("back-off sleeps wake up") {
    auto parsed = parse_registry_reference("127.0.0.1:1/x/y:1");
    REQUIRE(parsed);
    registry::Session session(*parsed, options, std::nullopt, &cancel);
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      cancel = true;
    });
    const auto start = std::chrono::steady_clock::now();
    auto slept = session.backoff(5);  // 8 s uncancelled
    canceller.join();
    REQUIRE_FALSE(slept);
    CHECK(slept.error().code == Errc::cancelled);
    CHECK(seconds_since(start) < 1.5);  // 8 s uncancelled
  }
  SECTION("a credential helper that hangs is killed") {
    const auto dir = temp_dir("cancel-helper");
    const auto bin = dir / "bin";
    std::filesystem::create_directories(bin);
    write_file(bin / "docker-credential-hang", "#!/bin/sh\nexec sleep 30\n");
    ::chmod((bin / "docker-credential-hang").c_str(), 0755);
    ScopedEnv path("PATH", bin.string() + ":" + std::string(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin"));
    write_file(dir / "auth.json", R"({"credsStore": "hang"})");
    RegistryOptions with_helper = options;
    with_helper.authfile = (dir / "auth.json").string();
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      cancel = true;
    });
    const auto start = std::chrono::steady_clock::now();
    auto found = registry::find_credentials(with_helper, "127.0.0.1:1", "x/y", &cancel);
    canceller.join();
    REQUIRE_FALSE(found);
    CHECK(found.error().code == Errc::cancelled);
    CHECK(seconds_since(start) < 1.5);  // 30 s uncancelled
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("a public registry's redirects into private networks are refused", "[registry]") {
  CannedServer target("127.0.0.2", [](const std::string&) { return http_answer("200 OK", "", "blob bytes"); });
  const std::string target_url = "http://127.0.0.2:" + std::to_string(target.port()) + "/blob";
  RegistryOptions options;
  options.max_retries = 0;
  // Injected policy: the test registry on 127.0.0.1 counts as public, every other address as it is.
  auto registry_is_public = [](const sockaddr* a) {
    return registry::address_text(a) == "127.0.0.1" ? registry::AddressKind::public_address : registry::classify_address(a);
  };
  auto fetch_blob = [&](CannedServer& reg, const RegistryOptions& o, registry::ConnectGuard::Classifier classify) {
    auto parsed = parse_registry_reference("127.0.0.1:" + std::to_string(reg.port()) + "/x/y:1");
    REQUIRE(parsed);
    registry::Session session(*parsed, o, std::nullopt, nullptr, std::move(classify));
    REQUIRE(session.connect());
    return session.get(kBlobPath, {}, "blob");
  };

  SECTION("to loopback") {
    CannedServer reg("127.0.0.1", redirecting_registry(target_url));
    auto t = fetch_blob(reg, options, registry_is_public);
    REQUIRE_FALSE(t);
    CHECK(t.error().code == Errc::unsupported);
    CHECK(t.error().message.find("refused to connect to 127.0.0.2 (a loopback address)") != std::string::npos);
    CHECK(t.error().message.find("is on a public address") != std::string::npos);
    CHECK(target.connections() == 0);
  }
  SECTION("to a private network (refused before any packet is sent)") {
    CannedServer reg("127.0.0.1", redirecting_registry("http://10.255.255.1:9/blob"));
    const auto start = std::chrono::steady_clock::now();
    auto t = fetch_blob(reg, options, registry_is_public);
    REQUIRE_FALSE(t);
    CHECK(t.error().code == Errc::unsupported);
    CHECK(t.error().message.find("refused to connect to 10.255.255.1 (a private-network address)") != std::string::npos);
    CHECK(seconds_since(start) < 1.0);
  }
  SECTION("a loopback registry may redirect to loopback") {
    CannedServer reg("127.0.0.1", redirecting_registry(target_url));
    auto t = fetch_blob(reg, options, registry::classify_address);
    REQUIRE(t);
    auto body = (*t)->read_all(1024);
    REQUIRE(body);
    CHECK(*body == "blob bytes");
    CHECK(target.connections() == 1);
  }
  SECTION("the policy can be turned off") {
    CannedServer reg("127.0.0.1", redirecting_registry(target_url));
    RegistryOptions open = options;
    open.block_private_redirects = false;
    auto t = fetch_blob(reg, open, registry_is_public);
    REQUIRE(t);
    CHECK(target.connections() == 1);
  }
}
