// Detector tests: rule examples, chunking invariance, locations, placeholders, pairing.
#include <catch2/catch.hpp>

#include "test_support.h"
#include "layerleak/detect.h"

using namespace layerleak;

namespace {

struct Seen {
  std::string rule;
  std::string secret;
  std::uint64_t offset, line, column;
  std::string paired;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> scan_in_chunks(std::string_view text, std::size_t chunk) {
  auto session = detect::DetectorSession::create(layerleak::testing::builtin_detector());
  REQUIRE(session);
  (*session)->begin("/test");
  for (std::size_t i = 0; i < text.size(); i += chunk) {
    auto piece = text.substr(i, chunk);
    REQUIRE((*session)->feed(std::span<const char>(piece.data(), piece.size())));
  }
  auto found = (*session)->finish();
  REQUIRE(found);
  std::vector<Seen> out;
  for (const auto& d : *found) out.push_back({d.rule->id, d.secret, d.offset, d.line, d.column, d.paired_access_key});
  return out;
}

const std::vector<std::size_t> kChunkSizes = {1, 2, 3, 7, 64, 4096};

}  // namespace

TEST_CASE("every built-in rule example is found and no negative example is") {
  auto problems = detect::check_rule_examples(layerleak::testing::builtin_detector());
  REQUIRE(problems);
  for (const auto& p : *problems) FAIL_CHECK(p);
  CHECK(problems->empty());
  CHECK(rules::lint_rules(layerleak::testing::builtin_detector()->rules()).empty());
}

TEST_CASE("a secret key with a Scaleway variable name is found with its exact location") {
  const std::string text = "# app settings\nDEBUG=1\nexport SCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c\n";
  auto found = scan_in_chunks(text, text.size());
  REQUIRE(found.size() == 1);
  CHECK(found[0].rule == "scaleway.secret-key");
  CHECK(found[0].secret == "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c");
  CHECK(found[0].line == 3);
  CHECK(found[0].column == 23);
  CHECK(found[0].offset == text.find("6f2c"));
}

TEST_CASE("findings are identical for every chunk size") {
  std::string text;
  for (int i = 0; i < 50; ++i) text += "filler line " + std::to_string(i) + " with some words and 0123 numbers\n";
  text += "SCW_ACCESS_KEY=SCW0RE86AB2CD4EF6GH8\n";
  text += std::string(5000, 'x') + "\n";
  text += "SCALEWAY_SECRET_KEY: 'A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D'\n";
  text += "not a key: SCW0RE86AB2CD4EF6GH8Z and SCWXXXXXXXXXXXXXXXXX\n";
  text += "SCW_SECRET_KEY=7d3e2a1b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";  // at the very end: no byte after it
  const auto whole = scan_in_chunks(text, text.size());
  REQUIRE(whole.size() == 3);
  CHECK(whole[0].rule == "scaleway.access-key");
  CHECK(whole[0].line == 51);
  CHECK(whole[1].secret == "A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D");
  CHECK(whole[1].line == 53);
  CHECK(whole[1].column == 23);
  CHECK(whole[1].paired == "SCW0RE86AB2CD4EF6GH8");
  CHECK(whole[2].secret == "7d3e2a1b-4c5d-4e6f-8a9b-0c1d2e3f4a5b");
  CHECK(whole[2].line == 55);
  for (std::size_t chunk : kChunkSizes) {
    INFO("chunk size " << chunk);
    CHECK(scan_in_chunks(text, chunk) == whole);
  }
}

TEST_CASE("a secret split at every possible chunk boundary is still found once") {
  const std::string text = "line one\nSCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c\nSCW_ACCESS_KEY=SCW0RE86AB2CD4EF6GH8\n";
  const auto whole = scan_in_chunks(text, text.size());
  REQUIRE(whole.size() == 2);
  for (std::size_t cut = 1; cut < text.size(); ++cut) {
    auto session = detect::DetectorSession::create(layerleak::testing::builtin_detector());
    REQUIRE(session);
    (*session)->begin("/split");
    REQUIRE((*session)->feed(std::span<const char>(text.data(), cut)));
    REQUIRE((*session)->feed(std::span<const char>(text.data() + cut, text.size() - cut)));
    auto found = (*session)->finish();
    REQUIRE(found);
    INFO("cut at " << cut);
    REQUIRE(found->size() == 2);
    CHECK((*found)[0].secret == whole[0].secret);
    CHECK((*found)[0].line == whole[0].line);
    CHECK((*found)[0].column == whole[0].column);
    CHECK((*found)[1].secret == whole[1].secret);
  }
}

TEST_CASE("line and column stay right on long lines and far into big files") {
  std::string text(1'000'000, 'a');
  for (std::size_t i = 999; i < text.size(); i += 1000) text[i] = '\n';
  const std::size_t at = 700'123;
  const std::string key = "SCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c";
  text.replace(at, key.size(), key);
  text[at - 1] = ' ';
  text[at + key.size()] = ' ';
  const std::size_t secret_at = at + 15;
  const std::size_t expected_line = 1 + secret_at / 1000;
  const std::size_t expected_column = secret_at % 1000 + 1;
  for (std::size_t chunk : {std::size_t{7}, std::size_t{4096}, std::size_t{65536}, text.size()}) {
    auto found = scan_in_chunks(text, chunk);
    REQUIRE(found.size() == 1);
    CHECK(found[0].line == expected_line);
    CHECK(found[0].column == expected_column);
    CHECK(found[0].offset == secret_at);
  }
}

TEST_CASE("placeholders, masked values, references and IDs are not secrets") {
  for (const char* text : {
           "SCW_SECRET_KEY=11111111-1111-1111-1111-111111111111",
           "SCW_SECRET_KEY=00000000-0000-0000-0000-000000000000",
           "SCW_SECRET_KEY=2b8d6113-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
           "SCW_SECRET_KEY=${SCW_SECRET_KEY}",
           "SCW_DEFAULT_ORGANIZATION_ID=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c",
           "SCW_DEFAULT_PROJECT_ID=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c",
           "SCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c-suffix",
           "SCW_ACCESS_KEY=SCWXXXXXXXXXXXXXXXXX",
           "id=ASCW0RE86AB2CD4EF6GH8",
       }) {
    INFO(text);
    CHECK(scan_in_chunks(text, 3).empty());
  }
}

TEST_CASE("a session is reusable across files and forgets the previous one") {
  auto session = detect::DetectorSession::create(layerleak::testing::builtin_detector());
  REQUIRE(session);
  auto first = (*session)->scan("/a", "SCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b");
  REQUIRE(first);
  CHECK(first->empty());
  // The tail of the first file must not complete a match in the second.
  auto second = (*session)->scan("/b", "-4c5b-9e8f-0a1b2c3d6b7c\n");
  REQUIRE(second);
  CHECK(second->empty());
  auto third = (*session)->scan("/c", "x\nSCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c");
  REQUIRE(third);
  REQUIRE(third->size() == 1);
  CHECK((*third)[0].line == 2);
  CHECK((*third)[0].column == 16);
}

TEST_CASE("a rule file with a pattern Hyperscan rejects fails to compile, naming the rule") {
  auto set = rules::parse_rules(R"(rules:
  - id: test.bad
    title: Bad
    severity: low
    secret: uuid
    patterns: ['(unclosed']
    examples: [x]
    negative_examples: [y]
)", "bad.yaml");
  REQUIRE(set);
  auto compiled = detect::Detector::compile(std::move(set).value());
  REQUIRE_FALSE(compiled);
  CHECK(compiled.error().message.find("test.bad") != std::string::npos);
}

TEST_CASE("the prefilter gate holds files back until a Scaleway literal shows up, wherever it is") {
  const std::string secret = "7c2e6d1a-4b3f-4e8a-9c5d-2f1b0a9e8d7c";
  const std::string filler_line = "int unrelated_function(void); /* ordinary header text */\n";
  auto filler = [&](std::size_t bytes) {
    std::string out;
    while (out.size() < bytes) out += filler_line;
    return out;
  };
  // A generic name counts only in a Scaleway file: the anchor comes long after the secret, both within
  // the held bytes and past kGateBytes (1 MiB), where the file goes through the full matcher anyway.
  for (std::size_t gap : {std::size_t{100}, std::size_t{900} << 10, std::size_t{3} << 20}) {
    INFO("gap " << gap);
    const std::string text = "password = " + secret + "\n" + filler(gap) + "endpoint: https://api.scw.cloud\n";
    for (std::size_t chunk : {std::size_t{7}, std::size_t{4096}, std::size_t{1} << 20, text.size()}) {
      INFO("chunk " << chunk);
      auto found = scan_in_chunks(text, chunk);
      REQUIRE(found.size() == 1);
      CHECK(found[0].rule == "scaleway.secret-key");
      CHECK(found[0].offset == 11);
    }
  }
  // Without the anchor the same file has nothing to report.
  CHECK(scan_in_chunks("password = " + secret + "\n" + filler(2000), 64).empty());
  // A literal at the very end, after ~1 MiB of held bytes.
  const std::string late = filler((1 << 20) - 200) + "SCW_SECRET_KEY=" + secret + "\n";
  auto found = scan_in_chunks(late, 65536);
  REQUIRE(found.size() == 1);
  CHECK(found[0].line == late.substr(0, late.size() - 1).find_last_of('\n') / filler_line.size() + 2);
}

TEST_CASE("the prefilter gate is part of the rules: examples prove it, user rules without one turn it off") {
  const char* gated_rules = R"(prefilter: ['zzz']
rules:
  - id: test.mykey
    title: My key
    severity: low
    secret: uuid
    patterns: ['mykey=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}']
    examples: ['mykey=7c2e6d1a-4b3f-4e8a-9c5d-2f1b0a9e8d7c']
    negative_examples: ['mykey=none']
)";
  auto set = rules::parse_rules(gated_rules, "gated.yaml");
  REQUIRE(set);
  REQUIRE(set->prefilter.size() == 1);
  auto detector = detect::Detector::compile(std::move(set).value());
  REQUIRE(detector);
  // The example lacks the gate's literal: the gate hides it, and the rule self-test says so.
  auto problems = detect::check_rule_examples(*detector);
  REQUIRE(problems);
  REQUIRE(problems->size() == 1);
  CHECK(problems->front().find("example not found") != std::string::npos);
  auto session = detect::DetectorSession::create(*detector);
  REQUIRE(session);
  auto with_literal = (*session)->scan("/f", "zzz mykey=7c2e6d1a-4b3f-4e8a-9c5d-2f1b0a9e8d7c");
  REQUIRE(with_literal);
  CHECK(with_literal->size() == 1);

  // Merged into the built-ins without a prefilter of its own: the gate is off, the user rule works.
  auto builtin = rules::builtin_rules();
  REQUIRE(builtin);
  REQUIRE_FALSE(builtin->prefilter.empty());
  auto user = rules::parse_rules(std::string(gated_rules).substr(std::string(gated_rules).find("rules:")), "user.yaml");
  REQUIRE(user);
  REQUIRE(rules::merge_rules(*builtin, std::move(user).value()));
  CHECK(builtin->prefilter.empty());
  auto merged = detect::Detector::compile(std::move(builtin).value());
  REQUIRE(merged);
  auto merged_problems = detect::check_rule_examples(*merged);
  REQUIRE(merged_problems);
  CHECK(merged_problems->empty());
}

TEST_CASE("a file whose last chunk is marked gives the same findings, and bytes after it are refused") {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "plain words on line " + std::to_string(i) + "\n";
  const std::string key = "SCW_SECRET_KEY=7d3e2a1b-4c5d-4e6f-8a9b-0c1d2e3f4a5b\n";
  auto session = detect::DetectorSession::create(layerleak::testing::builtin_detector());
  REQUIRE(session);
  // The gate opens on the last chunk itself, on an earlier one, or never.
  for (const std::string& file : {text + key, key + text, text}) {
    const auto unmarked = layerleak::testing::scan_in_chunks(**session, "/app/.env", file, 64);
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{64}, file.size()}) {
      INFO("chunk " << chunk);
      const auto marked = layerleak::testing::scan_in_chunks(**session, "/app/.env", file, chunk, true);
      REQUIRE(marked.size() == unmarked.size());
      for (std::size_t i = 0; i < marked.size(); ++i) {
        CHECK(marked[i].secret == unmarked[i].secret);
        CHECK(marked[i].line == unmarked[i].line);
        CHECK(marked[i].column == unmarked[i].column);
      }
    }
  }
  (*session)->begin("/app/.env");
  REQUIRE((*session)->feed(std::span<const char>(text.data(), text.size()), true));
  auto after = (*session)->feed(std::span<const char>(key.data(), key.size()));
  REQUIRE_FALSE(after);
  CHECK(after.error().code == Errc::internal);
  // The session is usable for the next file.
  auto next = (*session)->scan("/app/.env", key);
  REQUIRE(next);
  CHECK(next->size() == 1);
}
