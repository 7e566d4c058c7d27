// The configuration file (.layerleak.yaml or --config FILE): defaults for a few scan options and ignore
// entries, so a repository can carry its scanner settings. yaml-cpp throws; everything is caught here and
// becomes an Error naming the file and line.
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "cli_internal.h"

namespace layerleak::cli {

namespace {

constexpr const char* kDefaultConfig = ".layerleak.yaml";
constexpr std::size_t kMaxConfigBytes = std::size_t{16} << 20;

// Thrown only inside this file; caught in parse_config.
struct ConfigError {
  std::size_t line;  // 1-based; 0 when unknown
  std::string message;
};

std::size_t line_of(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : static_cast<std::size_t>(mark.line) + 1;
}

std::string string_value(const YAML::Node& value, const std::string& key, std::size_t key_line) {
  if (!value.IsScalar() || value.Scalar().empty()) throw ConfigError{key_line, "\"" + key + "\" must be a non-empty string"};
  return value.Scalar();
}

bool bool_value(const YAML::Node& value, const std::string& key, std::size_t key_line) {
  if (value.IsScalar()) {
    if (value.Scalar() == "true") return true;
    if (value.Scalar() == "false") return false;
  }
  throw ConfigError{key_line, "\"" + key + "\" must be true or false"};
}

// A relative path in the file is relative to the file: the file and what it names move together.
std::string resolve(const std::string& config_path, const std::string& value) {
  const std::filesystem::path p(value);
  const std::filesystem::path dir = std::filesystem::path(config_path).parent_path();
  if (p.is_absolute() || dir.empty()) return value;
  return (dir / p).string();
}

std::vector<std::string> path_list(const YAML::Node& value, const std::string& key, std::size_t key_line,
                                   const std::string& config_path) {
  std::vector<std::string> out;
  if (value.IsScalar()) {
    out.push_back(resolve(config_path, string_value(value, key, key_line)));
    return out;
  }
  if (!value.IsSequence()) throw ConfigError{key_line, "\"" + key + "\" must be a file name or a list of them"};
  for (const YAML::Node& item : value) out.push_back(resolve(config_path, string_value(item, key, line_of(item))));
  return out;
}

void refuse_key(const std::string& key, std::size_t line) {
  if (key == "show-secrets") {
    // Why: the file is committed with the code it scans; whoever can change it must not be able to make
    // every CI log print full secret values. Only the person running the command decides that.
    throw ConfigError{line, "\"show-secrets\" cannot be set in a configuration file (a committed file must not make "
                            "CI print secrets); pass --show-secrets on the command line"};
  }
  std::string message = "unknown key \"" + key + "\"";
  if (auto best = closest_match(key, config_keys())) {
    message += "; did you mean \"" + *best + "\"?";
  } else {
    std::string all;
    for (const std::string& k : config_keys()) all += (all.empty() ? "" : ", ") + k;
    message += " (keys: " + all + ")";
  }
  throw ConfigError{line, message};
}

void set_key(ConfigFile& config, const std::string& key, const YAML::Node& value, std::size_t line) {
  if (key == "ignore") return;  // read by suppress::parse_ignore_section: one parser for ignore entries
  if (value.IsNull()) throw ConfigError{line, "\"" + key + "\" has no value"};
  if (key == "fail-on") {
    config.fail_on = string_value(value, key, line);
  } else if (key == "format") {
    config.format = string_value(value, key, line);
  } else if (key == "output") {
    // Why only below the file's directory: a committed file must not make a scan overwrite whatever the
    // user running it can write (~/.bashrc, a key file); the report stays inside the checkout.
    const std::string name = string_value(value, key, line);
    bool escapes = name.empty() || name.front() == '/';
    for (std::size_t at = 0; at <= name.size() && !escapes;) {
      const std::size_t slash = std::min(name.find('/', at), name.size());
      escapes = name.compare(at, slash - at, "..") == 0 && slash - at == 2;
      at = slash + 1;
    }
    if (escapes) {
      throw ConfigError{line, "\"output\" must be a relative path inside the configuration file's directory (no \"..\"); "
                              "use -o for any other place"};
    }
    config.output = resolve(config.path, name);
  } else if (key == "baseline") {
    config.baseline = resolve(config.path, string_value(value, key, line));
  } else if (key == "platform") {
    config.platform = string_value(value, key, line);
  } else if (key == "only-runtime") {
    config.only_runtime = bool_value(value, key, line);
  } else if (key == "rules") {
    config.rules = path_list(value, key, line, config.path);
  } else {
    refuse_key(key, line);
  }
}

ConfigFile parse_config(const std::string& text, const std::string& path) {
  ConfigFile config;
  config.path = path;
  const YAML::Node root = YAML::Load(text);
  if (root.IsNull()) return config;
  if (!root.IsMap()) throw ConfigError{line_of(root), "a configuration file is a mapping of keys to values"};
  std::set<std::string> seen;
  for (const auto& kv : root) {
    const std::size_t line = line_of(kv.first);
    if (!kv.first.IsScalar()) throw ConfigError{line, "keys must be strings"};
    const std::string key = kv.first.Scalar();
    if (!seen.insert(key).second) throw ConfigError{line, "repeated key \"" + key + "\""};
    set_key(config, key, kv.second, line);
  }
  return config;
}

Result<ConfigFile> read_config(const std::string& path) {
  auto reader = FileReader::open(path);
  if (!reader) return make_error(reader.error().code, "--config: cannot read " + path + ": " + reader.error().message);
  auto text = read_all(**reader, kMaxConfigBytes);
  if (!text) return std::move(text).error().with_context(path);
  auto where = [&](std::size_t line) { return path + ": line " + std::to_string(line == 0 ? 1 : line) + ": "; };
  ConfigFile config;
  try {
    config = parse_config(*text, path);
  } catch (const ConfigError& e) {
    return make_error(Errc::malformed, where(e.line) + e.message);
  } catch (const YAML::Exception& e) {
    return make_error(Errc::malformed, where(e.mark.is_null() ? 0 : static_cast<std::size_t>(e.mark.line) + 1) +
                                           "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    return make_error(Errc::internal, path + ": " + e.what());
  }
  auto ignores = suppress::parse_ignore_section(*text, path);
  if (!ignores) return std::move(ignores).error();
  if (!ignores->empty()) config.ignore = std::move(ignores).value();
  return config;
}

}  // namespace

const std::vector<std::string>& config_keys() {
  static const std::vector<std::string> keys = {"fail-on", "format",   "output", "baseline",
                                                "platform", "only-runtime", "rules", "ignore"};
  return keys;
}

Result<std::optional<ConfigFile>> load_config(const std::string& explicit_path) {
  std::string path = explicit_path;
  if (path.empty()) {
    struct stat st {};
    if (::lstat(kDefaultConfig, &st) != 0) {
      if (errno == ENOENT) return std::optional<ConfigFile>{};
      return make_error(Errc::io, std::string(kDefaultConfig) + ": " + std::strerror(errno));
    }
    path = kDefaultConfig;
  }
  auto config = read_config(path);
  if (!config) return std::move(config).error();
  return std::optional<ConfigFile>(std::move(config).value());
}

Result<suppress::Suppressions> load_suppressions(const std::string& baseline, const std::string& ignore,
                                                 const std::optional<std::vector<suppress::IgnoreEntry>>& config_ignores,
                                                 const std::string& config_origin, const detect::Detector& detector) {
  suppress::Suppressions suppressions;
  if (!baseline.empty()) {
    auto fingerprints = suppress::load_baseline(baseline);
    if (!fingerprints) return make_error(fingerprints.error().code, "--baseline: " + fingerprints.error().message);
    suppressions.baseline_fingerprints = std::move(fingerprints).value();
    suppressions.baseline_origin = baseline;
  }
  std::string origin = "--ignore: " + ignore;
  if (!ignore.empty()) {
    auto ignores = suppress::load_ignore_file(ignore);
    if (!ignores) return make_error(ignores.error().code, "--ignore: " + ignores.error().message);
    suppressions.ignores = std::move(ignores).value();
  } else if (config_ignores) {
    suppressions.ignores = *config_ignores;
    origin = config_origin;
  }
  for (const suppress::IgnoreEntry& entry : suppressions.ignores) {
    if (!entry.rule_id.empty() && !detector.rules().find(entry.rule_id)) {
      return make_error(Errc::invalid_argument, origin + ": line " + std::to_string(entry.line) + ": unknown rule id \"" +
                                                    entry.rule_id + "\"");
    }
  }
  return suppressions;
}

}  // namespace layerleak::cli
