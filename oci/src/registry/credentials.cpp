#include "credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "http.h"
#include "registry.h"

extern char** environ;

namespace layerleak::oci::registry {

namespace {

constexpr std::size_t kMaxAuthFile = 4u << 20;
constexpr std::size_t kMaxHelperOutput = 64u << 10;
constexpr int kHelperTimeoutMs = 30000;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<nlohmann::json> read_auth_file(const std::string& path) {
  // FileReader: a FIFO swapped in for the file is refused instead of blocking the open.
  auto file = FileReader::open(path);
  if (!file) return make_error(file.error().code == Errc::unsupported ? Errc::unsupported : Errc::io,
                               "cannot read the registry auth file " + path + ": " + file.error().message);
  auto read = read_all(**file, kMaxAuthFile);
  if (!read) {
    if (read.error().code == Errc::limit) return make_error(Errc::limit, "the registry auth file " + path + " is too large");
    return std::move(read).error();
  }
  const std::string& text = *read;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(Errc::malformed, "the registry auth file " + path + " is not a JSON object");
  }
  return j;
}

// RAII for the descriptors of a helper's pipes.
struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Runs `docker-credential-<helper> get` with `server` on standard input. nullopt when the helper says
// it has no credentials for the server.
Result<std::optional<Credentials>> run_helper(const std::string& helper, const std::string& server,
                                              const std::atomic<bool>* cancel) {
  for (char c : helper) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return make_error(Errc::invalid_argument, "credential helper name \"" + helper + "\" is not a plain name");
    }
  }
  const std::string program = "docker-credential-" + helper;
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return make_error(Errc::io, "cannot run " + program + ": pipe failed");
  Fd in_read{in_pipe[0]}, in_write{in_pipe[1]};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return make_error(Errc::io, "cannot run " + program + ": pipe failed");
  Fd out_read{out_pipe[0]}, out_write{out_pipe[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_read.fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.fd, 1);
  std::string arg0 = program;
  std::string arg1 = "get";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    return make_error(Errc::not_found, "credential helper " + program + " could not be run: " + std::strerror(spawned));
  }
  in_read.reset();
  out_write.reset();
  // The server name is short: it fits in the pipe buffer, so this write does not block. (The CLI
  // ignores SIGPIPE, so a helper that exits without reading cannot kill us.)
  const std::string input = server + "\n";
  [[maybe_unused]] auto written = ::write(in_write.fd, input.data(), input.size());
  in_write.reset();

  std::string output;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHelperTimeoutMs);
  bool timed_out = false;
  bool cancelled = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    if (is_cancelled(cancel)) {
      cancelled = true;
      break;
    }
    pollfd p{out_read.fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 100)));  // 100 ms: see cancel
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char chunk[4096];
    const ssize_t n = ::read(out_read.fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(chunk, static_cast<std::size_t>(n));
    if (output.size() > kMaxHelperOutput) break;
  }
  if (timed_out || cancelled || output.size() > kMaxHelperOutput) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (cancelled) return make_error(Errc::cancelled, "cancelled while credential helper " + program + " ran");
  if (timed_out) return make_error(Errc::auth, "credential helper " + program + " did not answer within 30 s");
  if (output.size() > kMaxHelperOutput) return make_error(Errc::limit, "credential helper " + program + " wrote too much");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (output.find("credentials not found") != std::string::npos) return std::optional<Credentials>{};
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
      return make_error(Errc::not_found, "credential helper " + program + " is not installed");
    }
    // The helper's output is not echoed: it could hold a secret.
    return make_error(Errc::auth, "credential helper " + program + " failed for " + server);
  }
  nlohmann::json j = nlohmann::json::parse(output, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(Errc::malformed, "credential helper " + program + " did not answer with a JSON object");
  }
  Credentials c;
  c.origin = "credential helper " + program;
  if (auto it = j.find("Username"); it != j.end() && it->is_string()) c.username = it->get<std::string>();
  if (auto it = j.find("Secret"); it != j.end() && it->is_string()) c.password = it->get<std::string>();
  if (c.username == "<token>") {
    c.identity_token = std::move(c.password);
    c.password.clear();
    c.username.clear();
  }
  if (c.password.empty() && c.identity_token.empty()) return std::optional<Credentials>{};
  return std::optional<Credentials>(std::move(c));
}

// The server name a credential helper is asked about: Docker Hub keeps its historical URL.
std::string helper_server(const std::string& registry) {
  return registry == "docker.io" ? "https://index.docker.io/v1/" : registry;
}

// The `auths` entry for registry/repository: the longest key that is the registry or a namespace of it.
Result<std::optional<Credentials>> from_auths(const nlohmann::json& file, const std::string& path,
                                              const std::string& registry, const std::string& repository) {
  auto auths = file.find("auths");
  if (auths == file.end() || !auths->is_object()) return std::optional<Credentials>{};
  const std::string full = registry + "/" + repository;
  const nlohmann::json* best = nullptr;
  std::size_t best_length = 0;
  for (const auto& [key, value] : auths->items()) {
    const std::string k = normalise_auth_key(key);
    const bool match = k == registry || (full.starts_with(k) && (full.size() == k.size() || full[k.size()] == '/') &&
                                         k.starts_with(registry + "/"));
    if (match && k.size() >= best_length && value.is_object()) {
      best = &value;
      best_length = k.size();
    }
  }
  if (!best) return std::optional<Credentials>{};
  Credentials c;
  c.origin = path;
  if (auto it = best->find("auth"); it != best->end() && it->is_string() && !it->get<std::string>().empty()) {
    auto decoded = base64_decode(it->get<std::string>());
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (!decoded || colon == std::string::npos) {
      return make_error(Errc::malformed, path + ": the \"auth\" value for " + registry + " is not base64 of USER:PASSWORD");
    }
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
  }
  if (auto it = best->find("username"); it != best->end() && it->is_string() && c.username.empty()) c.username = it->get<std::string>();
  if (auto it = best->find("password"); it != best->end() && it->is_string() && c.password.empty()) c.password = it->get<std::string>();
  if (auto it = best->find("identitytoken"); it != best->end() && it->is_string()) c.identity_token = it->get<std::string>();
  if (c.password.empty() && c.identity_token.empty()) return std::optional<Credentials>{};
  return std::optional<Credentials>(std::move(c));
}

Result<std::optional<Credentials>> from_auth_file(const nlohmann::json& file, const std::string& path,
                                                  const std::string& registry, const std::string& repository,
                                                  const std::atomic<bool>* cancel) {
  if (auto helpers = file.find("credHelpers"); helpers != file.end() && helpers->is_object()) {
    for (const auto& [key, value] : helpers->items()) {
      if (normalise_auth_key(key) == registry && value.is_string()) {
        return run_helper(value.get<std::string>(), helper_server(registry), cancel);
      }
    }
  }
  auto entry = from_auths(file, path, registry, repository);
  if (!entry || *entry) return entry;
  if (auto store = file.find("credsStore"); store != file.end() && store->is_string() && !store->get<std::string>().empty()) {
    return run_helper(store->get<std::string>(), helper_server(registry), cancel);
  }
  return std::optional<Credentials>{};
}

}  // namespace

std::string normalise_auth_key(std::string_view key) {
  std::string k(key);
  for (std::string_view scheme : {"https://", "http://"}) {
    if (k.starts_with(scheme)) k.erase(0, scheme.size());
  }
  while (!k.empty() && k.back() == '/') k.pop_back();
  for (std::string_view suffix : {"/v1", "/v2"}) {
    if (k.ends_with(suffix)) k.resize(k.size() - suffix.size());
  }
  for (std::string_view hub : {"index.docker.io", "registry-1.docker.io"}) {
    if (k == hub || k.starts_with(std::string(hub) + "/")) k = "docker.io" + k.substr(hub.size());
  }
  return k;
}

Result<std::optional<Credentials>> find_credentials(const RegistryOptions& options, const std::string& registry,
                                                    const std::string& repository, const std::atomic<bool>* cancel) {
  // Why the allow-list check: --creds are the credentials of those registries; a reference naming any
  // other host must not receive them (open_registry refuses such hosts anyway; this holds on its own).
  // The auth files below are keyed by host already.
  if (!options.creds.empty() && registry_allowed(options, registry)) {
    Credentials c;
    c.origin = "--creds";
    const auto colon = options.creds.find(':');
    if (colon != std::string::npos) {
      c.username = options.creds.substr(0, colon);
      c.password = options.creds.substr(colon + 1);
    } else {
      c.username = options.creds;
      c.password = env("LAYERLEAK_REGISTRY_PASSWORD");
      c.origin = "--creds and LAYERLEAK_REGISTRY_PASSWORD";
      if (c.password.empty()) {
        return make_error(Errc::invalid_argument, "--creds " + c.username +
                                                      " has no password: give USER:PASS or set LAYERLEAK_REGISTRY_PASSWORD");
      }
    }
    if (c.username.empty()) return make_error(Errc::invalid_argument, "--creds needs a user name (USER:PASS)");
    return std::optional<Credentials>(std::move(c));
  }
  std::vector<std::string> files;
  if (!options.authfile.empty()) {
    if (!is_file(options.authfile)) return make_error(Errc::not_found, "--authfile " + options.authfile + " does not exist");
    files.push_back(options.authfile);
  } else {
    if (const std::string f = env("REGISTRY_AUTH_FILE"); !f.empty()) files.push_back(f);
    if (const std::string d = env("DOCKER_CONFIG"); !d.empty()) files.push_back(d + "/config.json");
    if (const std::string home = env("HOME"); !home.empty()) files.push_back(home + "/.docker/config.json");
  }
  for (const std::string& path : files) {
    if (!is_file(path)) continue;
    auto file = read_auth_file(path);
    if (!file) return std::move(file).error();
    auto found = from_auth_file(*file, path, registry, repository, cancel);
    if (!found || *found) return found;
  }
  return std::optional<Credentials>{};
}

}  // namespace layerleak::oci::registry
