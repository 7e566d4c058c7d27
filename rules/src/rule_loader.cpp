#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <regex>
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

std::string_view shape_name(SecretShape s) noexcept {
  switch (s) {
    case SecretShape::uuid: return "uuid";
    case SecretShape::access_key: return "access_key";
  }
  return "unknown";
}

const Rule* RuleSet::find(std::string_view id) const {
  for (const Rule& r : rules) {
    if (r.id == id) return &r;
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

Rule parse_rule(const YAML::Node& node) {
  if (!node.IsMap()) throw SchemaError{where(node) + "each rule must be a mapping"};
  static const std::set<std::string> kKnownKeys = {"id", "title", "description", "remediation", "severity",
                                                   "confidence", "secret", "patterns", "examples",
                                                   "negative_examples"};
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (!kKnownKeys.count(key)) throw SchemaError{where(kv.first) + "unknown rule key \"" + key + "\""};
  }
  Rule rule;
  rule.id = required_string(node, "id");
  rule.title = required_string(node, "title");
  rule.description = optional_string(node, "description");
  rule.remediation = optional_string(node, "remediation");

  const std::string severity = required_string(node, "severity");
  auto parsed = parse_severity(severity);
  if (!parsed) throw SchemaError{where(node["severity"]) + "unknown severity \"" + severity + "\""};
  rule.severity = *parsed;

  const std::string confidence = optional_string(node, "confidence");
  if (confidence.empty() || confidence == "medium") {
    rule.confidence = Confidence::medium;
  } else if (confidence == "high") {
    rule.confidence = Confidence::high;
  } else if (confidence == "low") {
    rule.confidence = Confidence::low;
  } else {
    throw SchemaError{where(node["confidence"]) + "unknown confidence \"" + confidence + "\""};
  }

  const std::string shape = required_string(node, "secret");
  if (shape == "uuid") {
    rule.secret = SecretShape::uuid;
  } else if (shape == "access_key") {
    rule.secret = SecretShape::access_key;
  } else {
    throw SchemaError{where(node["secret"]) + "unknown secret shape \"" + shape + "\" (uuid, access_key)"};
  }

  const YAML::Node patterns = node["patterns"];
  if (!patterns || !patterns.IsSequence() || patterns.size() == 0) {
    throw SchemaError{where(node) + "rule " + rule.id + " needs a non-empty \"patterns\" list"};
  }
  for (const YAML::Node& p : patterns) {
    Pattern pattern;
    if (p.IsScalar()) {
      pattern.regex = p.Scalar();
    } else if (p.IsMap()) {
      pattern.regex = required_string(p, "regex");
      if (p["caseless"]) pattern.caseless = p["caseless"].as<bool>();
    } else {
      throw SchemaError{where(p) + "a pattern is a string or {regex, caseless}"};
    }
    rule.patterns.push_back(std::move(pattern));
  }
  rule.examples = string_list(node, "examples");
  rule.negative_examples = string_list(node, "negative_examples");
  return rule;
}

}  // namespace

Result<RuleSet> parse_rules(std::string_view yaml_text, std::string_view origin) {
  const std::string prefix = std::string(origin) + ": ";
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    const YAML::Node list = root["rules"];
    if (!root.IsMap() || !list || !list.IsSequence()) {
      return make_error(Errc::malformed, prefix + "a rules file is a mapping with a \"rules\" list");
    }
    RuleSet set;
    for (const YAML::Node& node : list) set.rules.push_back(parse_rule(node));
    set.digest = Sha256::of(yaml_text).str();
    return set;
  } catch (const SchemaError& e) {
    return make_error(Errc::malformed, prefix + e.message);
  } catch (const YAML::Exception& e) {
    return make_error(Errc::malformed, prefix + e.what());
  }
}

Status merge_rules(RuleSet& base, RuleSet extra) {
  for (Rule& rule : extra.rules) {
    if (base.find(rule.id)) return make_error(Errc::invalid_argument, "duplicate rule id \"" + rule.id + "\"");
    base.rules.push_back(std::move(rule));
  }
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

std::vector<std::string> lint_rules(const RuleSet& set) {
  std::vector<std::string> problems;
  static const std::regex kIdShape("^[a-z0-9]+(\\.[a-z0-9-]+)+$");
  std::set<std::string> seen;
  for (const Rule& rule : set.rules) {
    if (!std::regex_match(rule.id, kIdShape)) {
      problems.push_back(rule.id + ": id must be lowercase and dotted, like scaleway.secret-key");
    }
    if (!seen.insert(rule.id).second) problems.push_back(rule.id + ": duplicate id");
    if (rule.examples.empty()) problems.push_back(rule.id + ": no examples");
    if (rule.negative_examples.empty()) problems.push_back(rule.id + ": no negative_examples");
    for (const Pattern& p : rule.patterns) {
      if (p.regex.empty()) problems.push_back(rule.id + ": empty pattern");
    }
  }
  return problems;
}

}  // namespace layerleak::rules
