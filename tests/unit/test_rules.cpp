// Rule loader tests: schema errors name the file and line; built-ins load; merging rejects duplicates;
// the fields of issue 14 parse, are type-checked and linted.
#include <catch2/catch.hpp>

#include <algorithm>

#include "layerleak/detect.h"
#include "layerleak/rules.h"
#include "test_support.h"

using namespace layerleak;

TEST_CASE("built-in rules load with the core rule ids") {
  auto set = rules::builtin_rules();
  REQUIRE(set);
  CHECK(set->find("scaleway.secret-key") != nullptr);
  CHECK(set->find("scaleway.access-key") != nullptr);
  CHECK(set->find("scaleway.secret-key")->severity == rules::Severity::critical);
  CHECK(set->digest.rfind("sha256:", 0) == 0);
}

TEST_CASE("schema errors are reported with origin and line") {
  auto missing_title = rules::parse_rules("rules:\n  - id: x.y\n    severity: low\n    secret: uuid\n    patterns: [a]\n",
                                          "mine.yaml");
  REQUIRE_FALSE(missing_title);
  CHECK(missing_title.error().message.find("mine.yaml") != std::string::npos);
  CHECK(missing_title.error().message.find("title") != std::string::npos);

  auto bad_severity = rules::parse_rules(
      "rules:\n  - id: x.y\n    title: T\n    severity: urgent\n    secret: uuid\n    patterns: [a]\n", "mine.yaml");
  REQUIRE_FALSE(bad_severity);
  CHECK(bad_severity.error().message.find("urgent") != std::string::npos);

  auto unknown_key = rules::parse_rules(
      "rules:\n  - id: x.y\n    title: T\n    severity: low\n    secret: uuid\n    patterns: [a]\n    colour: red\n",
      "mine.yaml");
  REQUIRE_FALSE(unknown_key);
  CHECK(unknown_key.error().message.find("colour") != std::string::npos);

  auto not_yaml = rules::parse_rules("rules: [unclosed", "broken.yaml");
  REQUIRE_FALSE(not_yaml);
  CHECK(not_yaml.error().code == Errc::malformed);
}

TEST_CASE("merging rejects a duplicate id and lint flags rules without examples") {
  auto base = rules::builtin_rules();
  REQUIRE(base);
  auto dup = rules::parse_rules(
      "rules:\n  - id: scaleway.secret-key\n    title: T\n    severity: low\n    secret: uuid\n    patterns: [a]\n", "dup.yaml");
  REQUIRE(dup);
  CHECK_FALSE(rules::merge_rules(*base, std::move(dup).value()));

  auto bare = rules::parse_rules(
      "rules:\n  - id: Not_Dotted\n    title: T\n    severity: low\n    secret: uuid\n    patterns: [a]\n", "bare.yaml");
  REQUIRE(bare);
  auto problems = rules::lint_rules(*bare);
  CHECK(problems.size() == 3);  // id shape, no examples, no negative examples
}

// ---- Rule fields added with issue 14: pairs, unpaired severity, key-path context, resource types,
// line_after, path_contains, foreign/generic names, published examples.

namespace {

const char* kNewFields = R"(foreign_names: [acme, globex]
generic_names: [blob]
published_examples:
  - value: "7c2e6d1a-4b3f-4e8a-9c5d-2f1b0a9e8d7c"
    kind: secret_key
    source: "https://example.org/docs"
  - {value: "SCW0RE86AB2CD4EF6GH8", source: "README"}
anchors:
  - id: test-path
    path_contains: [scw, MNQ]
rules:
  - id: test.secret
    title: Secret
    severity: high
    secret: uuid
    pairs_with: test.access
    unpaired_severity: low
    patterns:
      - regex: 'a'
        check_key_name: true
        named_context: [mnq, sqs]
        resource_types: [scaleway_mnq_sqs_credentials, scaleway_mnq_sns_credentials]
        line_after: [login]
      - regex: 'b'
        named_context: true
      - regex: 'c'
        named_context: false
  - id: test.access
    title: Access
    severity: low
    secret: access_key
    pairs_with: test.secret
    patterns: ['SCW']
)";

// The schema error for `yaml` (which must fail to parse), as text.
std::string schema_error(const std::string& yaml) {
  auto set = rules::parse_rules(yaml, "fields.yaml");
  REQUIRE_FALSE(set);
  CHECK(set.error().code == Errc::malformed);
  CHECK(set.error().message.find("fields.yaml") != std::string::npos);
  return set.error().message;
}

// A one-rule document with `rule_extra` added to the rule and `pattern_extra` to its only pattern.
std::string one_rule(const std::string& rule_extra, const std::string& pattern_extra = "") {
  return "rules:\n  - id: x.y\n    title: T\n    severity: low\n    secret: uuid\n" + rule_extra +
         "    patterns:\n      - regex: 'a'\n" + pattern_extra;
}

}  // namespace

TEST_CASE("the new rule fields parse", "[rules]") {
  auto set = rules::parse_rules(kNewFields, "fields.yaml");
  REQUIRE(set);
  CHECK(set->foreign_names == std::vector<std::string>{"acme", "globex"});
  CHECK(set->generic_names == std::vector<std::string>{"blob"});
  REQUIRE(set->published_examples.size() == 2);
  CHECK(set->published_examples[0].value == "7c2e6d1a-4b3f-4e8a-9c5d-2f1b0a9e8d7c");
  CHECK(set->published_examples[0].kind == "secret_key");
  CHECK(set->published_examples[0].source == "https://example.org/docs");
  CHECK(set->published_examples[1].kind.empty());
  REQUIRE(set->find_anchor("test-path") != nullptr);
  CHECK(set->find_anchor("test-path")->path_contains == std::vector<std::string>{"scw", "MNQ"});

  const rules::Rule* secret = set->find("test.secret");
  REQUIRE(secret != nullptr);
  CHECK(secret->pairs_with == "test.access");
  REQUIRE(secret->unpaired_severity.has_value());
  CHECK(*secret->unpaired_severity == rules::Severity::low);
  REQUIRE(secret->patterns.size() == 3);
  const rules::Pattern& p = secret->patterns[0];
  CHECK(p.check_key_name);
  CHECK(p.named_context == std::vector<std::string>{"mnq", "sqs"});
  CHECK(p.resource_types == std::vector<std::string>{"scaleway_mnq_sqs_credentials", "scaleway_mnq_sns_credentials"});
  CHECK(p.line_after == std::vector<std::string>{"login"});
  // `named_context: true` is Scaleway's own names; false is none.
  CHECK(secret->patterns[1].named_context == std::vector<std::string>{"scw", "scaleway"});
  CHECK(secret->patterns[2].named_context.empty());
  CHECK(secret->patterns[1].resource_types.empty());
  CHECK(secret->patterns[1].line_after.empty());

  const rules::Rule* access = set->find("test.access");
  REQUIRE(access != nullptr);
  CHECK(access->pairs_with == "test.secret");
  CHECK_FALSE(access->unpaired_severity.has_value());
  // Both rules lack examples, nothing else is wrong.
  CHECK(rules::lint_rules(*set).size() == 4);

  // The built-in rules use them.
  auto builtin = rules::builtin_rules();
  REQUIRE(builtin);
  const rules::Rule* key = builtin->find("scaleway.access-key");
  REQUIRE(key != nullptr);
  CHECK(key->pairs_with == "scaleway.secret-key");
  CHECK(key->unpaired_severity == rules::Severity::info);
  CHECK(builtin->find("scaleway.secret-key")->pairs_with == "scaleway.access-key");
  const auto has = [](const std::vector<std::string>& names, const char* name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  CHECK(has(builtin->foreign_names, "snyk"));
  CHECK(has(builtin->generic_names, "value"));
  CHECK(builtin->published_examples.size() >= 5);
}

TEST_CASE("wrong types in the new fields are schema errors naming the field", "[rules]") {
  CHECK(schema_error(one_rule("    pairs_with: [a.b]\n")).find("pairs_with") != std::string::npos);
  CHECK(schema_error(one_rule("    unpaired_severity: [info]\n")).find("unpaired_severity") != std::string::npos);
  CHECK(schema_error(one_rule("    unpaired_severity: negligible\n")).find("negligible") != std::string::npos);
  CHECK(schema_error(one_rule("", "        named_context: {scw: true}\n")).find("named_context") != std::string::npos);
  CHECK(schema_error(one_rule("", "        named_context: [[scw]]\n")).find("named_context") != std::string::npos);
  CHECK(schema_error(one_rule("", "        named_context: maybe\n")).find("named_context") != std::string::npos);
  CHECK(schema_error(one_rule("", "        resource_types: scaleway_cockpit_token\n")).find("resource_types") !=
        std::string::npos);
  CHECK(schema_error(one_rule("", "        line_after: login\n")).find("line_after") != std::string::npos);
  CHECK(schema_error(one_rule("", "        colour: red\n")).find("colour") != std::string::npos);
  CHECK(schema_error("anchors:\n  - id: a\n    path_contains: scw\n" + one_rule("")).find("path_contains") !=
        std::string::npos);
  CHECK(schema_error("foreign_names: snyk\n" + one_rule("")).find("foreign_names") != std::string::npos);
  CHECK(schema_error("generic_names: {value: 1}\n" + one_rule("")).find("generic_names") != std::string::npos);
  CHECK(schema_error("published_examples: abc\n" + one_rule("")).find("published_examples") != std::string::npos);
  CHECK(schema_error("published_examples: [abc]\n").find("published example") != std::string::npos);
  CHECK(schema_error("published_examples:\n  - {value: abcdefghij}\n").find("source") != std::string::npos);
  CHECK(schema_error("published_examples:\n  - {value: abcdefghij, source: s, colour: red}\n").find("colour") !=
        std::string::npos);
  // A file with neither rules nor published examples, or with a `rules` that is not a list.
  schema_error("foreign_names: [a]\n");
  schema_error("rules: 5\npublished_examples:\n  - {value: abcdefghij, source: s}\n");
}

TEST_CASE("lint reports pairs_with to an unknown rule and short published examples", "[rules]") {
  auto set = rules::parse_rules(one_rule("    pairs_with: x.missing\n    examples: [a]\n    negative_examples: [b]\n"),
                                "lint.yaml");
  REQUIRE(set);
  auto problems = rules::lint_rules(*set);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("x.y") != std::string::npos);
  CHECK(problems[0].find("pairs_with") != std::string::npos);
  CHECK(problems[0].find("x.missing") != std::string::npos);

  auto known = rules::parse_rules(one_rule("    pairs_with: x.y\n    examples: [a]\n    negative_examples: [b]\n"),
                                  "lint.yaml");
  REQUIRE(known);
  CHECK(rules::lint_rules(*known).empty());

  auto short_example = rules::parse_rules("published_examples:\n  - {value: SCW1, source: s}\n", "lint.yaml");
  REQUIRE(short_example);
  auto short_problems = rules::lint_rules(*short_example);
  REQUIRE(short_problems.size() == 1);
  CHECK(short_problems[0].find("SCW1") != std::string::npos);
}

TEST_CASE("a file of published examples alone loads, merges, and makes its values info", "[rules]") {
  const std::string value = "7c2e6d1a-4b3f-4e8a-9c5d-2f1b0a9e8d7c";
  auto extra = rules::parse_rules("# ours\npublished_examples:\n  - value: \"" + value +
                                      "\"\n    kind: secret_key\n    source: internal wiki\n",
                                  "examples.yaml");
  REQUIRE(extra);
  CHECK(extra->rules.empty());
  REQUIRE(extra->published_examples.size() == 1);

  auto base = rules::builtin_rules();
  REQUIRE(base);
  const std::size_t before = base->published_examples.size();
  const std::string digest = base->digest;
  REQUIRE(rules::merge_rules(*base, std::move(extra).value()));
  CHECK(base->published_examples.size() == before + 1);
  CHECK(base->published_examples.back().value == value);
  CHECK(base->digest != digest);
  CHECK_FALSE(base->prefilter.empty());  // adds no patterns, so the gate stays

  const std::string file = "SCW_SECRET_KEY=" + value + "\n";
  auto plain = detect::DetectorSession::create(layerleak::testing::builtin_detector());
  REQUIRE(plain);
  auto before_merge = (*plain)->scan("/app/.env", file);
  REQUIRE(before_merge);
  REQUIRE(before_merge->size() == 1);
  CHECK((*before_merge)[0].severity == rules::Severity::critical);

  auto detector = detect::Detector::compile(std::move(base).value());
  REQUIRE(detector);
  auto session = detect::DetectorSession::create(*detector);
  REQUIRE(session);
  auto after_merge = (*session)->scan("/app/.env", file);
  REQUIRE(after_merge);
  REQUIRE(after_merge->size() == 1);
  CHECK((*after_merge)[0].severity == rules::Severity::info);
}
