// layerleak rules: detection rules as data.
//
// A rule file is YAML: a top-level `rules:` list; each rule has a stable id, a title, a severity, one or
// more Hyperscan patterns whose match *ends* with the secret, the shape of that secret (how the
// confirmation stage extracts and checks it), and positive/negative examples that `rules check` runs.
// The built-in rules (rules/data/*.yaml) are embedded in the binary at build time.
//
// Not responsible for: compiling or running patterns (scanner/detect does that; no Hyperscan here).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/core.h"

namespace layerleak::rules {

enum class Severity { info, low, medium, high, critical };
std::string_view severity_name(Severity s) noexcept;
std::optional<Severity> parse_severity(std::string_view text) noexcept;

enum class Confidence { low, medium, high };
std::string_view confidence_name(Confidence c) noexcept;

// How the confirmation stage finds the secret at the end of a pattern match.
enum class SecretShape {
  uuid,        // canonical 8-4-4-4-12 hex UUID, any case, not followed by [0-9A-Za-z_-]
  access_key,  // "SCW" + 17 Crockford base32 characters, word-bounded on both sides
};
std::string_view shape_name(SecretShape s) noexcept;

struct Pattern {
  std::string regex;      // Hyperscan syntax; the match must end with the secret
  bool caseless = false;  // HS_FLAG_CASELESS
};

struct Rule {
  std::string id;           // stable, lowercase, dotted: "scaleway.secret-key"
  std::string title;        // "Scaleway API secret key"
  std::string description;  // what it finds and why it matters
  std::string remediation;  // what to do about a finding
  Severity severity = Severity::medium;
  Confidence confidence = Confidence::medium;  // confidence of a plain (unpaired) match
  SecretShape secret = SecretShape::uuid;
  std::vector<Pattern> patterns;
  std::vector<std::string> examples;           // each must produce at least one finding of this rule
  std::vector<std::string> negative_examples;  // each must produce no finding of this rule
};

struct RuleSet {
  std::vector<Rule> rules;
  std::string digest;  // "sha256:..." over the rule sources, in load order

  const Rule* find(std::string_view id) const;
};

// Parses one YAML rule document. `origin` (a file name) prefixes every error message.
// Fails with Errc::malformed (bad YAML or schema) or Errc::invalid_argument (bad values).
Result<RuleSet> parse_rules(std::string_view yaml_text, std::string_view origin);

// The rules compiled into the binary.
Result<RuleSet> builtin_rules();

// Adds the rules of `extra` to `base`; a duplicate id is an error naming both origins.
Status merge_rules(RuleSet& base, RuleSet extra);

// Static checks that need no matcher: ids well-formed and unique, titles present, patterns non-empty,
// every rule has at least one example and one negative example. Returns one message per problem.
std::vector<std::string> lint_rules(const RuleSet& set);

}  // namespace layerleak::rules
