// docker-daemon:NAME[:TAG] and docker-daemon:sha256:ID: the image as `docker save` would write it, asked
// from the Docker (or Podman) Engine API over its unix socket or a loopback TCP port, and read as it
// streams, like a docker-archive on standard input.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "registry/http.h"
#include "source_internal.h"
#include "stream_tree.h"

namespace layerleak::oci {

namespace {

// The newest Engine API version whose /images/{name}/get this code was written against. Why ask for no
// more: a server answers every version up to its own in the same shape, and Docker 29 refuses versions
// below 1.44, so pinning an old one would fail there.
constexpr int kApiMajor = 1;
constexpr int kApiMinor = 47;

struct Endpoint {
  std::string base_url;     // "http://localhost" (unix socket) or "http://127.0.0.1:2375"
  std::string unix_socket;  // "" for TCP
  std::string display;      // "unix:///var/run/docker.sock", for messages
};

bool is_socket(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// DOCKER_HOST as it may be shown: a user:password@ part masked (it is refused anyway).
std::string displayable_host(const std::string& value) {
  const auto scheme = value.find("://");
  const auto at = value.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return value;
  return value.substr(0, scheme + 3) + "***@" + value.substr(at + 1);
}

Result<Endpoint> parse_host(const std::string& variable, const std::string& raw) {
  const std::string value = displayable_host(raw);
  Endpoint e;
  e.display = value;
  if (value.starts_with("unix://")) {
    e.unix_socket = raw.substr(7);
    if (e.unix_socket.empty()) return make_error(Errc::invalid_argument, variable + "=" + value + " names no socket path");
    e.base_url = "http://localhost";
    return e;
  }
  if (value.starts_with("tcp://") || value.starts_with("http://")) {
    // Why refused: curl would read "127.0.0.1:x@other-host" as credentials for other-host.
    if (raw.find('@') != std::string::npos) {
      return make_error(Errc::unsupported, variable + "=" + value + ": a user or password in the address is not supported");
    }
    std::string host_port = value.substr(value.find("//") + 2);
    if (auto slash = host_port.find('/'); slash != std::string::npos) host_port.resize(slash);
    std::string host = host_port;
    if (host.starts_with("[")) {
      host = host.substr(1, host.find(']') - 1);
    } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
      host.resize(colon);
    }
    if (host != "127.0.0.1" && host != "localhost" && host != "::1") {
      return make_error(Errc::unsupported, variable + "=" + value + ": layerleak talks to a Docker daemon over TCP only on the loopback "
                                           "address (127.0.0.1, ::1, localhost), because plain TCP to another host is unauthenticated "
                                           "and unencrypted and TLS client certificates are not supported; use the daemon's unix socket "
                                           "(through an SSH tunnel for a remote host) or `docker save` into a file");
    }
    e.base_url = "http://" + host_port;
    return e;
  }
  return make_error(Errc::unsupported, variable + "=" + value + ": only unix:// sockets and tcp:// on the loopback address are supported");
}

Result<Endpoint> find_endpoint() {
  for (const char* variable : {"DOCKER_HOST", "CONTAINER_HOST"}) {
    const char* value = std::getenv(variable);
    if (value && *value) return parse_host(variable, value);
  }
  for (const char* path : {"/var/run/docker.sock", "/run/podman/podman.sock"}) {
    if (is_socket(path)) return Endpoint{"http://localhost", path, std::string("unix://") + path};
  }
  return make_error(Errc::not_found, "no Docker daemon socket found: DOCKER_HOST and CONTAINER_HOST are unset, and neither "
                                     "/var/run/docker.sock nor /run/podman/podman.sock exists");
}

// The response body as a ByteReader (the `docker save` tar).
class TransferReader final : public ByteReader {
 public:
  explicit TransferReader(std::unique_ptr<registry::Transfer> transfer) : transfer_(std::move(transfer)) {}
  Result<std::size_t> read(std::span<char> out) override { return transfer_->read(out); }

 private:
  std::unique_ptr<registry::Transfer> transfer_;
};

// Starts a GET and waits for the answer's head.
Result<std::unique_ptr<registry::Transfer>> get(const Endpoint& endpoint, const std::string& path,
                                                const SourceOptions& options) {
  registry::TransportConfig config;
  config.unix_socket = endpoint.unix_socket;
  config.cancel = options.cancel;
  config.stall_timeout_seconds = options.registry.stall_timeout_seconds;
  registry::Request request;
  request.url = endpoint.base_url + path;
  auto transfer = registry::Transfer::start(request, config);
  if (!transfer) return std::move(transfer).error();
  if (auto st = (*transfer)->wait_head(); !st) {
    if (st.error().code == Errc::cancelled) return std::move(st).error();
    return make_error(Errc::network, "cannot connect to the Docker daemon at " + endpoint.display + ": " + st.error().message);
  }
  return transfer;
}

// "1.47" -> {1, 47}; nullopt when not a version.
std::optional<std::pair<int, int>> parse_api_version(const std::string& text) {
  const auto dot = text.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 >= text.size() || text.size() > 12) return std::nullopt;
  const std::string major = text.substr(0, dot);
  const std::string minor = text.substr(dot + 1);
  auto digits = [](const std::string& s) { return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }); };
  // At most 4 digits each: no overflow, and no API version is longer (a longer one is not a version).
  if (!digits(major) || !digits(minor) || major.size() > 4 || minor.size() > 4) return std::nullopt;
  return std::make_pair(std::atoi(major.c_str()), std::atoi(minor.c_str()));
}

// The API version to use: min(the server's, kApi). /_ping answers it in the Api-Version header; older or
// stricter servers in /version's ApiVersion.
Result<std::string> negotiate(const Endpoint& endpoint, const SourceOptions& options) {
  std::optional<std::pair<int, int>> server;
  {
    auto ping = get(endpoint, "/_ping", options);
    if (!ping) return std::move(ping).error();
    server = parse_api_version((*ping)->head().header("api-version"));
  }
  if (!server) {
    auto version = get(endpoint, "/version", options);
    if (!version) return std::move(version).error();
    if ((*version)->head().status == 200) {
      auto body = (*version)->read_all(1 << 20);
      if (body) {
        auto j = nlohmann::json::parse(*body, nullptr, false);
        if (j.is_object() && j.contains("ApiVersion") && j["ApiVersion"].is_string()) {
          server = parse_api_version(j["ApiVersion"].get<std::string>());
        }
      }
    }
  }
  if (!server) {
    return make_error(Errc::network, "the Docker daemon at " + endpoint.display +
                                         " did not say which API version it speaks (no Api-Version header on /_ping, no ApiVersion in /version)");
  }
  const auto use = std::min(*server, std::make_pair(kApiMajor, kApiMinor));
  return std::to_string(use.first) + "." + std::to_string(use.second);
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 512 || name.front() == '/' || name.back() == '/') return false;
  if (!std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@';
      })) {
    return false;
  }
  // No empty, "." or ".." path component: the name goes into the request path, where a client collapses
  // them (docker-daemon:../../containers/json would leave /images/). Reference components never start with '.'.
  for (std::size_t at = 0; at <= name.size();) {
    const std::size_t slash = std::min(name.find('/', at), name.size());
    if (slash == at || name[at] == '.') return false;
    at = slash + 1;
  }
  return true;
}

// The image name as the daemon should get it: "sha256:ID" and ID prefixes as they are, a name without a
// tag or digest with ":latest" (as docker and skopeo read it; a bare repository name would make the
// daemon export every tag of it).
std::string daemon_name(std::string_view name) {
  std::string n(name);
  if (n.starts_with("sha256:") || n.find('@') != std::string::npos) return n;
  const bool hex = n.size() >= 4 && std::all_of(n.begin(), n.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  if (hex) return n;
  if (n.find(':', n.rfind('/') == std::string::npos ? 0 : n.rfind('/')) == std::string::npos) n += ":latest";
  return n;
}

// The docker-archive source over the daemon's answer, with the images named as the user wrote them.
class DaemonSource final : public ImageSource {
 public:
  DaemonSource(std::unique_ptr<ImageSource> inner, std::string name) : inner_(std::move(inner)), name_(std::move(name)) {}
  std::string_view transport() const override { return "docker-daemon"; }
  bool remote() const override { return true; }

  Result<std::vector<Image>> images(const SelectOptions& options) override {
    auto images = inner_->images(options);
    if (!images) return std::move(images).error();
    for (std::size_t i = 0; i < images->size(); ++i) {
      Image& image = (*images)[i];
      std::string reference = "docker-daemon:" + name_ + (images->size() > 1 ? "@" + std::to_string(i) : "");
      originals_[reference] = image.reference;
      image.reference = std::move(reference);
      image.transport = "docker-daemon";
    }
    return images;
  }

  Result<std::unique_ptr<ByteReader>> open_blob(const Image& image, const Layer& layer) override {
    const auto named = originals_.find(image.reference);
    if (named == originals_.end()) return make_error(Errc::internal, image.reference + " is not an image of this source");
    Image original = image;
    original.reference = named->second;
    return inner_->open_blob(original, layer);
  }

  std::optional<std::uint64_t> spooled_bytes() const override { return inner_->spooled_bytes(); }

 private:
  std::unique_ptr<ImageSource> inner_;
  std::string name_;
  std::map<std::string, std::string> originals_;  // our reference -> the docker-archive source's
};

}  // namespace

Result<std::unique_ptr<ImageSource>> open_daemon(std::string_view rest, const SourceOptions& options) {
  if (!valid_name(rest)) {
    return make_error(Errc::invalid_argument, "docker-daemon: needs an image NAME[:TAG] or sha256:ID, got \"" + std::string(rest) + "\"");
  }
  auto endpoint = find_endpoint();
  if (!endpoint) return std::move(endpoint).error();
  auto version = negotiate(*endpoint, options);
  if (!version) return std::move(version).error();
  const std::string name = daemon_name(rest);
  auto transfer = get(*endpoint, "/v" + *version + "/images/" + name + "/get", options);
  if (!transfer) return std::move(transfer).error();
  const long status = (*transfer)->head().status;
  if (status == 404) {
    return make_error(Errc::not_found, "image " + std::string(rest) + " not found in the Docker daemon at " + endpoint->display);
  }
  if (status != 200) {
    std::string message;
    if (auto body = (*transfer)->read_all(64 * 1024)) {
      auto j = nlohmann::json::parse(*body, nullptr, false);
      if (j.is_object() && j.contains("message") && j["message"].is_string()) {
        // The daemon's text reaches a terminal: control characters (escapes, forged lines) are replaced.
        message = ": " + j["message"].get<std::string>().substr(0, 1024);
        for (char& c : message) {
          if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
        }
      }
    }
    return make_error(Errc::network, "the Docker daemon at " + endpoint->display + " answered HTTP " + std::to_string(status) +
                                         " to the export of " + std::string(rest) + message);
  }
  auto tree = StreamTree::create(std::make_unique<TransferReader>(std::move(transfer).value()),
                                 "the Docker daemon's export of " + std::string(rest));
  if (!tree) return std::move(tree).error();
  if (auto kind = (*tree)->detect(); !kind) return std::move(kind).error();
  return std::unique_ptr<ImageSource>(
      std::make_unique<DaemonSource>(make_docker_archive_source(std::move(tree).value(), std::string(rest), ""), std::string(rest)));
}

}  // namespace layerleak::oci
