// The registry client's pure parts: reference grammar, auth challenges, credential lookup. The HTTP
// side is tested against a real docker-registry in tests/integration/test_registry.py.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

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
    auto decoded = registry::base64_decode(registry::base64_encode(text));
    REQUIRE(decoded);
    CHECK(*decoded == text);
  }
  CHECK(registry::base64_decode("dXNlcjpwYXNz") == std::optional<std::string>("user:pass"));
  CHECK_FALSE(registry::base64_decode("not base64!"));
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
      "127.0.0.1:5000": {"auth": ")" + registry::base64_encode("host:hostpass") + R"("},
      "127.0.0.1:5000/team": {"auth": ")" + registry::base64_encode("team:teampass") + R"("},
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
