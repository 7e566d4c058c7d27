#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "layerleak/rules.h"

namespace layerleak::rules {

namespace detail {
std::vector<std::pair<std::string_view, std::string_view>> builtin_rule_files();
}

std::string_view severity_name(Severity s) noexcept {
  switch (s) {
    case Severity::info: return "info";
    case Severity::low: return "low";
    case Severity::medium: return "medium";
    case Severity::high: return "high";
    case Severity::critical: return "critical";
  }
  return "unknown";
}

std::optional<Severity> parse_severity(std::string_view text) noexcept {
  for (Severity s : {Severity::info, Severity::low, Severity::medium, Severity::high, Severity::critical}) {
    if (severity_name(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view confidence_name(Confidence c) noexcept {
  switch (c) {
    case Confidence::low: return "low";
    case Confidence::medium: return "medium";
    case Confidence::high: return "high";
  }
  return "unknown";
}

namespace {
constexpr std::pair<SecretShape, std::string_view> kShapes[] = {
    {SecretShape::uuid, "uuid"},           {SecretShape::uuid_base64, "uuid_base64"},
    {SecretShape::uuid_base64_newline, "uuid_base64_newline"},
    {SecretShape::access_key, "access_key"}, {SecretShape::alnum56, "alnum56"},
    {SecretShape::token64, "token64"},     {SecretShape::alnum64, "alnum64"},
    {SecretShape::jwt, "jwt"},             {SecretShape::docker_auth, "docker_auth"},
    {SecretShape::base64_blob, "base64_blob"},     {SecretShape::nkey_seed, "nkey_seed"},
};
}  // namespace

std::string_view shape_name(SecretShape s) noexcept {
  for (const auto& [shape, name] : kShapes) {
    if (shape == s) return name;
  }
  return "unknown";
}

std::optional<SecretShape> parse_shape(std::string_view text) noexcept {
  for (const auto& [shape, name] : kShapes) {
    if (name == text) return shape;
  }
  return std::nullopt;
}

const Rule* RuleSet::find(std::string_view id) const {
  for (const Rule& r : rules) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

const Anchor* RuleSet::find_anchor(std::string_view id) const {
  for (const Anchor& a : anchors) {
    if (a.id == id) return &a;
  }
  return nullptr;
}

namespace {

// Why exceptions here: yaml-cpp reports every problem by throwing; they are caught in parse_rules and
// never leave this file.
struct SchemaError {
  std::string message;
};

std::string where(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return "";
  return "line " + std::to_string(mark.line + 1) + ": ";
}

std::string required_string(const YAML::Node& rule, const char* key) {
  const YAML::Node value = rule[key];
  if (!value || !value.IsScalar() || value.Scalar().empty()) {
    throw SchemaError{where(rule) + "rule is missing a non-empty \"" + std::string(key) + "\""};
  }
  return value.Scalar();
}

std::string optional_string(const YAML::Node& rule, const char* key) {
  const YAML::Node value = rule[key];
  if (!value) return "";
  if (!value.IsScalar()) throw SchemaError{where(value) + "\"" + std::string(key) + "\" must be a string"};
  return value.Scalar();
}

std::vector<std::string> string_list(const YAML::Node& rule, const char* key) {
  std::vector<std::string> out;
  const YAML::Node list = rule[key];
  if (!list) return out;
  if (!list.IsSequence()) throw SchemaError{where(list) + "\"" + std::string(key) + "\" must be a list"};
  for (const YAML::Node& item : list) {
    if (!item.IsScalar()) throw SchemaError{where(item) + "\"" + std::string(key) + "\" items must be strings"};
    out.push_back(item.Scalar());
  }
  return out;
}

void check_keys(const YAML::Node& node, std::initializer_list<const char*> known, const char* what) {
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
      throw SchemaError{where(kv.first) + "unknown " + what + " key \"" + key + "\""};
    }
  }
}

Confidence parse_confidence(const YAML::Node& node, Confidence fallback) {
  if (!node) return fallback;
  const std::string text = node.Scalar();
  if (text == "low") return Confidence::low;
  if (text == "medium") return Confidence::medium;
  if (text == "high") return Confidence::high;
  throw SchemaError{where(node) + "unknown confidence \"" + text + "\" (low, medium, high)"};
}

bool parse_bool(const YAML::Node& node, bool fallback) {
  if (!node) return fallback;
  const std::string text = node.Scalar();
  if (text == "true") return true;
  if (text == "false") return false;
  throw SchemaError{where(node) + "expected true or false, got \"" + text + "\""};
}

// Pattern fields left out take the defaults given at rule level (`defaults`).
Pattern parse_pattern(const YAML::Node& p, const Pattern& defaults) {
  Pattern pattern = defaults;
  if (p.IsScalar()) {
    pattern.regex = p.Scalar();
    return pattern;
  }
  if (!p.IsMap()) throw SchemaError{where(p) + "a pattern is a string or a mapping with \"regex\""};
  check_keys(p, {"regex", "caseless", "secret", "confidence", "requires", "check_key_name", "secret_end", "host_after",
                 "any_user", "named_context", "resource_types", "line_after", "id_value", "finder"},
             "pattern");
  pattern.finder = optional_string(p, "finder");
  if (!pattern.finder.empty() && pattern.finder != "uuid") {
    throw SchemaError{where(p["finder"]) + "finder: unknown finder \"" + pattern.finder + "\" (known: uuid)"};
  }
  if (pattern.finder.empty() || p["regex"]) pattern.regex = required_string(p, "regex");
  pattern.caseless = parse_bool(p["caseless"], defaults.caseless);
  if (p["secret"]) {
    auto shape = parse_shape(p["secret"].Scalar());
    if (!shape) throw SchemaError{where(p["secret"]) + "unknown secret shape \"" + p["secret"].Scalar() + "\""};
    pattern.secret = *shape;
  }
  pattern.confidence = parse_confidence(p["confidence"], defaults.confidence);
  if (p["requires"]) pattern.requires_any = string_list(p, "requires");
  pattern.check_key_name = parse_bool(p["check_key_name"], defaults.check_key_name);
  if (p["secret_end"]) pattern.secret_end = p["secret_end"].as<unsigned>();
  if (p["host_after"]) pattern.host_after = string_list(p, "host_after");
  pattern.any_user = parse_bool(p["any_user"], false);
  if (const YAML::Node named = p["named_context"]; named && named.IsScalar()) {
    if (named.Scalar() != "true" && named.Scalar() != "false") {
      throw SchemaError{where(named) + "named_context: expected true, false or a list of words, got \"" + named.Scalar() + "\""};
    }
    if (named.Scalar() == "true") pattern.named_context = {"scw", "scaleway"};
  } else if (named) {
    pattern.named_context = string_list(p, "named_context");
  }
  if (p["resource_types"]) pattern.resource_types = string_list(p, "resource_types");
  if (p["line_after"]) pattern.line_after = string_list(p, "line_after");
  pattern.id_value = parse_bool(p["id_value"], false);
  return pattern;
}

std::vector<Example> example_list(const YAML::Node& rule, const char* key) {
  std::vector<Example> out;
  const YAML::Node list = rule[key];
  if (!list) return out;
  if (!list.IsSequence()) throw SchemaError{where(list) + "\"" + std::string(key) + "\" must be a list"};
  for (const YAML::Node& item : list) {
    Example example;
    if (item.IsScalar()) {
      example.text = item.Scalar();
    } else if (item.IsMap()) {
      check_keys(item, {"text", "path"}, "example");
      example.text = required_string(item, "text");
      if (item["path"]) example.path = item["path"].Scalar();
    } else {
      throw SchemaError{where(item) + "an example is a string or {text, path}"};
    }
    out.push_back(std::move(example));
  }
  return out;
}

Rule parse_rule(const YAML::Node& node) {
  if (!node.IsMap()) throw SchemaError{where(node) + "each rule must be a mapping"};
  check_keys(node, {"id", "title", "description", "remediation", "severity", "confidence", "secret", "requires",
                    "check_key_name", "patterns", "examples", "negative_examples", "pairs_with", "unpaired_severity"},
             "rule");
  Rule rule;
  rule.id = required_string(node, "id");
  rule.title = required_string(node, "title");
  rule.description = optional_string(node, "description");
  rule.remediation = optional_string(node, "remediation");

  const std::string severity = required_string(node, "severity");
  auto parsed = parse_severity(severity);
  if (!parsed) throw SchemaError{where(node["severity"]) + "unknown severity \"" + severity + "\""};
  rule.severity = *parsed;

  Pattern defaults;
  const std::string shape = required_string(node, "secret");
  auto parsed_shape = parse_shape(shape);
  if (!parsed_shape) throw SchemaError{where(node["secret"]) + "unknown secret shape \"" + shape + "\""};
  defaults.secret = *parsed_shape;
  defaults.confidence = parse_confidence(node["confidence"], Confidence::medium);
  defaults.check_key_name = parse_bool(node["check_key_name"], false);
  if (node["requires"]) defaults.requires_any = string_list(node, "requires");

  const YAML::Node patterns = node["patterns"];
  if (!patterns || !patterns.IsSequence() || patterns.size() == 0) {
    throw SchemaError{where(node) + "rule " + rule.id + " needs a non-empty \"patterns\" list"};
  }
  for (const YAML::Node& p : patterns) rule.patterns.push_back(parse_pattern(p, defaults));
  rule.examples = example_list(node, "examples");
  rule.negative_examples = example_list(node, "negative_examples");
  rule.pairs_with = optional_string(node, "pairs_with");
  if (node["unpaired_severity"]) {
    const std::string unpaired = required_string(node, "unpaired_severity");
    rule.unpaired_severity = parse_severity(unpaired);
    if (!rule.unpaired_severity) {
      throw SchemaError{where(node["unpaired_severity"]) + "unknown severity \"" + unpaired + "\""};
    }
  }
  return rule;
}

std::vector<PublishedExample> published_example_list(const YAML::Node& root) {
  std::vector<PublishedExample> out;
  const YAML::Node list = root["published_examples"];
  if (!list) return out;
  if (!list.IsSequence()) throw SchemaError{where(list) + "\"published_examples\" must be a list"};
  for (const YAML::Node& node : list) {
    if (!node.IsMap()) throw SchemaError{where(node) + "each published example must be a mapping"};
    check_keys(node, {"value", "kind", "source"}, "published example");
    PublishedExample example{required_string(node, "value"), optional_string(node, "kind"),
                             required_string(node, "source")};
    out.push_back(std::move(example));
  }
  return out;
}

Anchor parse_anchor(const YAML::Node& node) {
  if (!node.IsMap()) throw SchemaError{where(node) + "each anchor must be a mapping"};
  check_keys(node, {"id", "description", "patterns", "paths", "path_contains"}, "anchor");
  Anchor anchor;
  anchor.id = required_string(node, "id");
  anchor.description = optional_string(node, "description");
  if (const YAML::Node patterns = node["patterns"]) {
    if (!patterns.IsSequence()) throw SchemaError{where(patterns) + "anchor patterns must be a list"};
    for (const YAML::Node& p : patterns) anchor.patterns.push_back(parse_pattern(p, Pattern{}));
  }
  anchor.paths = string_list(node, "paths");
  anchor.path_contains = string_list(node, "path_contains");
  if (anchor.patterns.empty() && anchor.paths.empty() && anchor.path_contains.empty()) {
    throw SchemaError{where(node) + "anchor " + anchor.id + " needs patterns or paths"};
  }
  return anchor;
}

}  // namespace

Result<RuleSet> parse_rules(std::string_view yaml_text, std::string_view origin) {
  const std::string prefix = std::string(origin) + ": ";
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    // A file of published examples alone (rules/data/published-examples.yaml) has no rules.
    const bool has_rules = root.IsMap() && root["rules"] && root["rules"].IsSequence();
    if (!root.IsMap() || (!has_rules && !root["published_examples"]) || (root["rules"] && !has_rules)) {
      return make_error(Errc::malformed, prefix + "a rules file is a mapping with a \"rules\" list");
    }
    check_keys(root, {"rules", "anchors", "downgrade_paths", "prefilter", "foreign_names", "generic_names",
                      "published_examples", "framework_names"},
               "top-level");
    RuleSet set;
    if (has_rules) {
      for (const YAML::Node& node : root["rules"]) set.rules.push_back(parse_rule(node));
    }
    set.foreign_names = string_list(root, "foreign_names");
    set.generic_names = string_list(root, "generic_names");
    set.published_examples = published_example_list(root);
    if (const YAML::Node list = root["framework_names"]) {
      if (!list.IsSequence()) throw SchemaError{where(list) + "\"framework_names\" must be a list"};
      for (const YAML::Node& node : list) {
        if (!node.IsMap()) throw SchemaError{where(node) + "each framework name must be a mapping"};
        check_keys(node, {"name", "anchor"}, "framework name");
        set.framework_names.push_back(FrameworkName{required_string(node, "name"), required_string(node, "anchor")});
      }
    }
    if (const YAML::Node anchors = root["anchors"]) {
      if (!anchors.IsSequence()) throw SchemaError{where(anchors) + "\"anchors\" must be a list"};
      for (const YAML::Node& node : anchors) set.anchors.push_back(parse_anchor(node));
    }
    set.downgrade_paths = string_list(root, "downgrade_paths");
    if (const YAML::Node prefilter = root["prefilter"]) {
      if (!prefilter.IsSequence()) throw SchemaError{where(prefilter) + "\"prefilter\" must be a list"};
      for (const YAML::Node& node : prefilter) {
        if (node.IsMap()) check_keys(node, {"regex", "caseless"}, "prefilter entry");
        set.prefilter.push_back(parse_pattern(node, Pattern{}));
      }
    }
    set.digest = Sha256::of(yaml_text).str();
    return set;
  } catch (const SchemaError& e) {
    return make_error(Errc::malformed, prefix + e.message);
  } catch (const YAML::Exception& e) {
    return make_error(Errc::malformed, prefix + e.what());
  }
}

Status merge_rules(RuleSet& base, RuleSet extra) {
  // The gate stays only if both sides have one (or one side adds no patterns at all).
  const bool base_gated = !base.prefilter.empty() || (base.rules.empty() && base.anchors.empty());
  const bool extra_gated = !extra.prefilter.empty() || (extra.rules.empty() && extra.anchors.empty());
  if (base_gated && extra_gated) {
    for (Pattern& p : extra.prefilter) base.prefilter.push_back(std::move(p));
  } else {
    base.prefilter.clear();
  }
  for (Rule& rule : extra.rules) {
    if (base.find(rule.id)) return make_error(Errc::invalid_argument, "duplicate rule id \"" + rule.id + "\"");
    base.rules.push_back(std::move(rule));
  }
  for (Anchor& anchor : extra.anchors) {
    if (base.find_anchor(anchor.id)) {
      return make_error(Errc::invalid_argument, "duplicate anchor id \"" + anchor.id + "\"");
    }
    base.anchors.push_back(std::move(anchor));
  }
  for (std::string& path : extra.downgrade_paths) base.downgrade_paths.push_back(std::move(path));
  for (std::string& name : extra.foreign_names) base.foreign_names.push_back(std::move(name));
  for (std::string& name : extra.generic_names) base.generic_names.push_back(std::move(name));
  for (PublishedExample& e : extra.published_examples) base.published_examples.push_back(std::move(e));
  for (FrameworkName& f : extra.framework_names) base.framework_names.push_back(std::move(f));
  base.digest = Sha256::of(base.digest + "\n" + extra.digest).str();
  return Ok{};
}

Result<RuleSet> builtin_rules() {
  RuleSet all;
  bool first = true;
  for (const auto& [name, text] : detail::builtin_rule_files()) {
    auto set = parse_rules(text, std::string("builtin:") + std::string(name));
    if (!set) return std::move(set).error();
    if (first) {
      all = std::move(set).value();
      first = false;
      continue;
    }
    if (auto merged = merge_rules(all, std::move(set).value()); !merged) return std::move(merged).error();
  }
  return all;
}

namespace {
// "scaleway.secret-key": lowercase dotted words of [a-z0-9-], at least two.
bool id_well_formed(std::string_view id) {
  if (id.empty() || id.front() == '.' || id.back() == '.' || id.find('.') == std::string_view::npos) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok || (c == '.' && id[i + 1] == '.')) return false;
  }
  return true;
}
}  // namespace

std::vector<std::string> lint_rules(const RuleSet& set) {
  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (const Pattern& p : set.prefilter) {
    if (p.regex.empty()) problems.push_back("prefilter: empty pattern");
  }
  for (const Rule& rule : set.rules) {
    if (!id_well_formed(rule.id)) {
      problems.push_back(rule.id + ": id must be lowercase and dotted, like scaleway.secret-key");
    }
    if (!seen.insert(rule.id).second) problems.push_back(rule.id + ": duplicate id");
    if (rule.examples.empty()) problems.push_back(rule.id + ": no examples");
    if (rule.negative_examples.empty()) problems.push_back(rule.id + ": no negative_examples");
    for (const Pattern& p : rule.patterns) {
      if (p.regex.empty() && p.finder.empty()) problems.push_back(rule.id + ": empty pattern");
      for (const std::string& need : p.requires_any) {
        const bool known = need.rfind("rule:", 0) == 0 ? set.find(std::string_view(need).substr(5)) != nullptr
                                                        : set.find_anchor(need) != nullptr;
        if (!known) problems.push_back(rule.id + ": requires unknown \"" + need + "\"");
      }
    }
    if (!rule.pairs_with.empty() && set.find(rule.pairs_with) == nullptr) {
      problems.push_back(rule.id + ": pairs_with unknown rule \"" + rule.pairs_with + "\"");
    }
  }
  for (const FrameworkName& f : set.framework_names) {
    if (!set.find_anchor(f.anchor)) problems.push_back("framework name " + f.name + ": unknown anchor \"" + f.anchor + "\"");
  }
  for (const PublishedExample& e : set.published_examples) {
    if (e.value.size() < 8) problems.push_back("published example \"" + e.value + "\": too short to be a key");
  }
  return problems;
}

}  // namespace layerleak::rules
