// Realistic corpus (issue 14): tests/data/realistic/<kind>/<context>/<in-image path>, described by
// tests/data/realistic/manifest.json (format: see the manifest's description and the corpus helpers' brief).
//
// 1. The manifest lists exactly the files on disk, and the corpus is big enough: >= 150 expected findings
//    over >= 50 positive contexts, and >= 1000 negative lookalikes once the manifest has negative entries.
// 2. Every file is scanned with the built-in rules at its in-image path, fed in chunks of 1, 2, 3, 7, 64,
//    4096 bytes and whole; all chunkings must give identical findings.
// 3. Scoring (the same as tests/realistic/recall.py): an expected finding is found when the file's scan
//    reports its rule_id and secret (and encoding / severity where the manifest gives them). A false
//    positive is a reported finding above `info` (above the entry's max_severity when set) whose rule_id
//    and secret the entry does not expect. Recall must be >= 0.98 and false positives zero; every miss and
//    every false positive is printed with its file, rule and redacted secret.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "test_support.h"
#include "layerleak/detect.h"
#include "layerleak/rules.h"

using namespace layerleak;
namespace fs = std::filesystem;
namespace fx = layerleak::testing;

namespace {

const fs::path kRealisticDir = fs::path(LAYERLEAK_TEST_DATA_DIR) / "realistic";
const std::vector<std::size_t> kChunkSizes = {1, 2, 3, 7, 64, 4096};

struct Expected {
  std::string rule_id;
  std::string secret;
  std::optional<std::string> encoding;
  std::optional<std::string> severity;
};

struct Entry {
  std::string key;      // "positive/terraform-state/srv/infra/terraform.tfstate"
  bool positive = false;
  std::string context;
  std::string path;     // "/srv/infra/terraform.tfstate": where the file lives in the image
  std::vector<Expected> findings;
  std::uint64_t lookalikes = 0;
  rules::Severity max_severity = rules::Severity::info;  // findings above this count as false positives
};


const std::vector<Entry>& manifest() {
  static const std::vector<Entry> entries = [] {
    const nlohmann::json doc = nlohmann::json::parse(fx::read_file_bytes(kRealisticDir / "manifest.json"));
    std::vector<Entry> out;
    for (const auto& [key, value] : doc.at("files").items()) {
      Entry e;
      e.key = key;
      e.positive = key.rfind("positive/", 0) == 0;
      e.context = value.at("context").get<std::string>();
      const std::string prefix = (e.positive ? "positive/" : "negative/") + e.context + "/";
      INFO(key);
      REQUIRE((e.positive || key.rfind("negative/", 0) == 0));
      REQUIRE(key.rfind(prefix, 0) == 0);
      e.path = "/" + key.substr(prefix.size());
      if (value.contains("findings")) {
        for (const auto& f : value.at("findings")) {
          Expected x;
          x.rule_id = f.at("rule_id").get<std::string>();
          x.secret = f.at("secret").get<std::string>();
          if (f.contains("encoding")) x.encoding = f.at("encoding").get<std::string>();
          if (f.contains("severity")) x.severity = f.at("severity").get<std::string>();
          e.findings.push_back(std::move(x));
        }
      }
      e.lookalikes = value.value("lookalikes", std::uint64_t{0});
      if (value.contains("max_severity")) {
        const auto s = rules::parse_severity(value.at("max_severity").get<std::string>());
        REQUIRE(s);
        e.max_severity = *s;
      }
      out.push_back(std::move(e));
    }
    return out;
  }();
  return entries;
}

// Everything a detection says, so that chunkings can be compared field by field.
struct Found {
  std::string rule_id;
  std::string secret;
  std::uint64_t offset = 0, line = 0, column = 0;
  std::string encoding;
  rules::Severity severity = rules::Severity::info;
  std::string confidence;
  std::string paired_access_key;
  bool operator==(const Found&) const = default;
};

std::vector<Found> scan(detect::DetectorSession& session, const std::string& path, std::string_view bytes, std::size_t chunk) {
  std::vector<Found> out;
  for (const detect::Detection& d : fx::scan_in_chunks(session, path, bytes, chunk)) {
    out.push_back(Found{d.rule->id, d.secret, d.offset, d.line, d.column, d.encoding, d.severity,
                        std::string(rules::confidence_name(d.confidence)), d.paired_access_key});
  }
  return out;
}

std::string describe(const Found& f) {
  return f.rule_id + " " + rules::redact_secret(f.secret) + " at " + std::to_string(f.line) + ":" + std::to_string(f.column) +
         " offset " + std::to_string(f.offset) + " (" + f.encoding + ", " + std::string(rules::severity_name(f.severity)) + ")";
}

std::string describe(const Expected& e) {
  return e.rule_id + " " + rules::redact_secret(e.secret) + (e.encoding ? " encoding " + *e.encoding : std::string()) +
         (e.severity ? " severity " + *e.severity : std::string());
}

bool matches(const Expected& e, const Found& f) {
  return f.rule_id == e.rule_id && f.secret == e.secret && (!e.encoding || *e.encoding == f.encoding) &&
         (!e.severity || *e.severity == rules::severity_name(f.severity));
}

}  // namespace

TEST_CASE("realistic corpus: the manifest lists exactly the files on disk and the corpus is big enough", "[realistic]") {
  std::set<std::string> listed, on_disk, positive_contexts;
  std::size_t expected = 0, negatives = 0;
  std::uint64_t lookalikes = 0;
  for (const Entry& e : manifest()) {
    INFO(e.key);
    listed.insert(e.key);
    if (e.positive) {
      // A positive context may hold companion files without secrets (an fstab next to passwd-s3fs).
      expected += e.findings.size();
      if (!e.findings.empty()) positive_contexts.insert(e.context);
    } else {
      ++negatives;
      CHECK(e.findings.empty());
      lookalikes += e.lookalikes;
    }
    for (const Expected& x : e.findings) {
      CHECK(x.rule_id.rfind("scaleway.", 0) == 0);
      CHECK_FALSE(x.secret.empty());
      if (x.severity) CHECK(rules::parse_severity(*x.severity).has_value());
    }
  }
  for (const char* kind : {"positive", "negative"}) {
    if (!fs::exists(kRealisticDir / kind)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(kRealisticDir / kind)) {
      if (entry.is_regular_file()) on_disk.insert(fs::relative(entry.path(), kRealisticDir).generic_string());
    }
  }
  for (const std::string& key : on_disk) {
    if (!listed.count(key)) FAIL_CHECK("file missing from manifest.json: " + key);
  }
  for (const std::string& key : listed) {
    if (!on_disk.count(key)) FAIL_CHECK("manifest.json lists a file that does not exist: " + key);
  }
  INFO("positive: " << expected << " expected findings over " << positive_contexts.size() << " contexts; negative: "
                    << negatives << " files, " << lookalikes << " lookalikes");
  REQUIRE(expected >= 150);
  REQUIRE(positive_contexts.size() >= 50);
  // The negative half is written separately; until its first entry lands there is nothing to count.
  if (negatives > 0) REQUIRE(lookalikes >= 1000);
}

TEST_CASE("realistic corpus: identical findings in every chunking, recall >= 0.98 and no false positives", "[realistic]") {
  auto session = detect::DetectorSession::create(layerleak::testing::builtin_detector());
  REQUIRE(session);
  std::size_t expected_total = 0, found_total = 0, false_positives = 0, chunking_differences = 0;
  std::map<std::string, std::pair<std::size_t, std::size_t>> per_context;  // context -> (expected, found)
  for (const Entry& e : manifest()) {
    const std::string where = e.key + " (" + e.path + ")";
    const std::string bytes = fx::read_file_bytes(kRealisticDir / e.key);
    const std::vector<Found> whole = scan(**session, e.path, bytes, 0);
    for (std::size_t chunk : kChunkSizes) {
      const std::vector<Found> chunked = scan(**session, e.path, bytes, chunk);
      if (chunked == whole) continue;
      ++chunking_differences;
      std::string message = "chunk size " + std::to_string(chunk) + " changes the findings of " + where + ":";
      for (const Found& f : whole) message += "\n  whole:   " + describe(f);
      for (const Found& f : chunked) message += "\n  chunked: " + describe(f);
      FAIL_CHECK(message);
    }
    auto& [ctx_expected, ctx_found] = per_context[(e.positive ? "positive/" : "negative/") + e.context];
    for (const Expected& x : e.findings) {
      ++expected_total;
      ++ctx_expected;
      const bool hit = std::any_of(whole.begin(), whole.end(), [&](const Found& f) { return matches(x, f); });
      if (hit) {
        ++found_total;
        ++ctx_found;
        continue;
      }
      std::string message = "recall miss in " + where + ": expected " + describe(x);
      for (const Found& f : whole) {
        if (f.secret == x.secret) message += "\n  reported instead: " + describe(f);
      }
      WARN(message);
    }
    for (const Found& f : whole) {
      if (f.severity <= e.max_severity) continue;
      const bool wanted = std::any_of(e.findings.begin(), e.findings.end(),
                                      [&](const Expected& x) { return x.rule_id == f.rule_id && x.secret == f.secret; });
      if (wanted) continue;
      ++false_positives;
      FAIL_CHECK("false positive in " + where + ": " + describe(f));
    }
  }
  const double recall = expected_total == 0 ? 0.0 : static_cast<double>(found_total) / static_cast<double>(expected_total);
  std::ostringstream table;
  table << "realistic corpus: " << found_total << "/" << expected_total << " expected findings (recall " << recall << "), "
        << false_positives << " false positives, " << chunking_differences << " chunking differences\n";
  for (const auto& [context, counts] : per_context) {
    if (counts.first != counts.second) table << "  " << context << ": " << counts.second << "/" << counts.first << "\n";
  }
  WARN(table.str());
  CHECK(chunking_differences == 0);
  REQUIRE(expected_total > 0);
  REQUIRE(false_positives == 0);
  REQUIRE(recall >= 0.98);
}
