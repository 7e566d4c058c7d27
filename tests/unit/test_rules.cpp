// Rule loader tests: schema errors name the file and line; built-ins load; merging rejects duplicates.
#include <catch2/catch.hpp>

#include "layerleak/rules.h"

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
