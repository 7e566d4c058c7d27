// load_ignore_file: the YAML allowlist. yaml-cpp reports problems by throwing; everything is caught
// here and turned into an Error naming the file and line.
#include <yaml-cpp/yaml.h>

#include <set>
#include <string>

#include "common.h"
#include "layerleak/suppress.h"

namespace layerleak::suppress {

namespace {

constexpr std::size_t kMaxIgnoreBytes = std::size_t{16} * 1024 * 1024;

// Thrown only inside this file; caught in load_ignore_file.
struct SchemaError {
  std::size_t line;  // 1-based; 0 when unknown
  std::string message;
};

std::size_t line_of(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : static_cast<std::size_t>(mark.line) + 1;
}

std::string non_empty_string(const YAML::Node& value, const std::string& key) {
  if (!value.IsScalar() || detail::trim(value.Scalar()).empty()) {
    throw SchemaError{line_of(value), "\"" + key + "\" must be a non-empty string"};
  }
  return std::string(detail::trim(value.Scalar()));
}

IgnoreEntry parse_entry(const YAML::Node& node, std::size_t fallback_line) {
  IgnoreEntry entry;
  entry.line = line_of(node);
  if (entry.line == 0) entry.line = fallback_line;
  if (!node.IsMap()) {
    throw SchemaError{entry.line, "an ignore entry is a mapping with path/rule/fingerprint and a reason"};
  }
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const std::size_t key_line = line_of(kv.first);
    if (!kv.first.IsScalar()) throw SchemaError{key_line, "ignore entry keys must be strings"};
    const std::string key = kv.first.Scalar();
    if (!seen.insert(key).second) throw SchemaError{key_line, "repeated key \"" + key + "\""};
    // A null value ("reason:") has no useful mark of its own: report the key's line.
    const YAML::Node& value = kv.second;
    if (value.IsNull()) throw SchemaError{key_line, "\"" + key + "\" must be a non-empty string"};
    if (key == "path") {
      entry.path_glob = non_empty_string(value, key);
      if (auto problem = detail::glob_problem(entry.path_glob)) {
        throw SchemaError{line_of(value), "bad glob \"" + entry.path_glob + "\": " + *problem};
      }
    } else if (key == "rule") {
      entry.rule_id = non_empty_string(value, key);
    } else if (key == "fingerprint") {
      const std::string fp = non_empty_string(value, key);
      if (!detail::is_fingerprint(fp)) {
        throw SchemaError{line_of(value), "\"fingerprint\" must be \"sha256:<64 hex digits>\", got \"" + fp + "\""};
      }
      entry.fingerprint = detail::to_lower(fp);
    } else if (key == "reason") {
      entry.reason = non_empty_string(value, key);
    } else {
      throw SchemaError{key_line, "unknown key \"" + key + "\" (expected path, rule, fingerprint, reason)"};
    }
  }
  if (entry.reason.empty()) throw SchemaError{entry.line, "ignore entry has no \"reason\" (it is mandatory)"};
  if (entry.path_glob.empty() && entry.rule_id.empty() && entry.fingerprint.empty()) {
    throw SchemaError{entry.line, "ignore entry matches nothing: give at least one of path, rule, fingerprint"};
  }
  return entry;
}

// section_only: the document may have other top-level keys (the configuration file; its caller checks
// them) and may lack "ignore".
std::vector<IgnoreEntry> parse_ignore(const std::string& text, bool section_only) {
  const YAML::Node root = YAML::Load(text);
  if (section_only && (root.IsNull() || (root.IsMap() && !root["ignore"]))) return {};
  if (!root.IsMap()) {
    throw SchemaError{line_of(root), "an ignore file is a mapping with an \"ignore\" list"};
  }
  for (const auto& kv : root) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    if (key != "ignore" && !section_only) {
      throw SchemaError{line_of(kv.first), "unknown top-level key \"" + key + "\" (expected \"ignore\")"};
    }
  }
  const YAML::Node list = root["ignore"];
  std::vector<IgnoreEntry> entries;
  if (!list || list.IsNull()) {
    if (!list) throw SchemaError{line_of(root), "an ignore file is a mapping with an \"ignore\" list"};
    return entries;
  }
  if (!list.IsSequence()) throw SchemaError{line_of(list), "\"ignore\" must be a list of entries"};
  for (const YAML::Node& node : list) entries.push_back(parse_entry(node, line_of(list)));
  return entries;
}

Result<std::vector<IgnoreEntry>> parse_ignore_text(const std::string& text, const std::string& origin, bool section_only) {
  // Problems without a position (an empty document) are reported at line 1.
  auto where = [&](std::size_t line) { return origin + ": line " + std::to_string(line == 0 ? 1 : line) + ": "; };
  try {
    return parse_ignore(text, section_only);
  } catch (const SchemaError& e) {
    return make_error(Errc::malformed, where(e.line) + e.message);
  } catch (const YAML::Exception& e) {
    const std::size_t line = e.mark.is_null() ? 0 : static_cast<std::size_t>(e.mark.line) + 1;
    return make_error(Errc::malformed, where(line) + "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    return make_error(Errc::internal, origin + ": " + e.what());
  }
}

}  // namespace

Result<std::vector<IgnoreEntry>> load_ignore_file(const std::string& path) {
  auto text = detail::read_text_file(path, kMaxIgnoreBytes);
  if (!text) return std::move(text).error();
  return parse_ignore_text(*text, path, false);
}

Result<std::vector<IgnoreEntry>> parse_ignore_section(const std::string& text, const std::string& origin) {
  return parse_ignore_text(text, origin, true);
}

}  // namespace layerleak::suppress
