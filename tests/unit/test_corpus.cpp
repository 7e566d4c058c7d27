// Detection corpus: realistic files for every context of DESIGN.md §3 (positives) and every "not a secret"
// case (negatives), with their exact expected findings in tests/data/corpus/expected.json.
//
// 1. Each file is scanned with the built-in rules at its in-image path, fed in chunks of 1, 2, 3, 7, 64,
//    4096 bytes and whole, each also with its final piece fed as the file's last; all chunkings must
//    agree, and the findings must equal expected.json exactly (rule, secret, line, column, encoding, and
//    confidence where given). Every recall miss and every unexpected finding is reported with its file.
// 2. The corpus is big enough (>= 60 positive, >= 60 negative files) and expected.json lists exactly the
//    files on disk.
// 3. One image holding every corpus file at its in-image path (over 3 layers) goes through the whole
//    pipeline; its findings must be the expected ones, at the right path, line, column and layer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "fixture_builder.h"
#include "test_support.h"
#include "layerleak/detect.h"
#include "layerleak/pipeline.h"

using namespace layerleak;
namespace fs = std::filesystem;
namespace fx = layerleak::testing;

namespace {

const fs::path kCorpusDir = fs::path(LAYERLEAK_TEST_DATA_DIR) / "corpus";
const std::vector<std::size_t> kChunkSizes = {1, 2, 3, 7, 64, 4096, 0};  // 0: the whole file at once

struct ExpectedFinding {
  std::string rule_id;
  std::string secret;
  std::uint64_t line = 0;
  std::uint64_t column = 0;
  std::string encoding = "plain";
  std::optional<std::string> confidence;
};

struct CorpusFile {
  std::string key;   // "positive/dotenv": path relative to the corpus directory
  bool positive = false;
  std::string path;  // where the file lives in the image
  std::string content;
  std::vector<ExpectedFinding> findings;
};


const std::vector<CorpusFile>& corpus() {
  static const std::vector<CorpusFile> files = [] {
    const nlohmann::json doc = nlohmann::json::parse(fx::read_file_bytes(kCorpusDir / "expected.json"));
    std::vector<CorpusFile> out;
    for (const auto& [key, entry] : doc.at("files").items()) {
      CorpusFile file;
      file.key = key;
      file.positive = key.rfind("positive/", 0) == 0;
      file.path = entry.at("path").get<std::string>();
      file.content = fx::read_file_bytes(kCorpusDir / key);
      for (const auto& f : entry.at("findings")) {
        ExpectedFinding e;
        e.rule_id = f.at("rule_id").get<std::string>();
        e.secret = f.at("secret").get<std::string>();
        e.line = f.at("line").get<std::uint64_t>();
        e.column = f.at("column").get<std::uint64_t>();
        e.encoding = f.value("encoding", std::string("plain"));
        if (f.contains("confidence")) e.confidence = f.at("confidence").get<std::string>();
        file.findings.push_back(std::move(e));
      }
      out.push_back(std::move(file));
    }
    return out;
  }();
  return files;
}

// Everything a detection says, so that chunkings can be compared field by field.
struct Found {
  std::string rule_id;
  std::string secret;
  std::uint64_t offset = 0, line = 0, column = 0;
  std::string encoding;
  std::string confidence;
  std::string severity;
  std::string paired_access_key;
  bool operator==(const Found&) const = default;
};

std::string describe(const std::string& rule_id, const std::string& secret, std::uint64_t line, std::uint64_t column,
                     const std::string& encoding) {
  return rule_id + " \"" + secret + "\" at " + std::to_string(line) + ":" + std::to_string(column) + " (" + encoding + ")";
}

std::string describe(const Found& f) {
  return describe(f.rule_id, f.secret, f.line, f.column, f.encoding) + " confidence " + f.confidence;
}

std::string describe(const ExpectedFinding& e) {
  return describe(e.rule_id, e.secret, e.line, e.column, e.encoding) +
         (e.confidence ? " confidence " + *e.confidence : std::string());
}

std::vector<Found> scan_file(detect::DetectorSession& session, const CorpusFile& file, std::size_t chunk,
                             bool mark_last = false) {
  std::vector<Found> out;
  for (const detect::Detection& d : fx::scan_in_chunks(session, file.path, file.content, chunk, mark_last)) {
    out.push_back(Found{d.rule->id, d.secret, d.offset, d.line, d.column, d.encoding,
                        std::string(rules::confidence_name(d.confidence)),
                        std::string(rules::severity_name(d.severity)), d.paired_access_key});
  }
  return out;
}

std::string chunk_name(std::size_t chunk) { return chunk == 0 ? "whole-file" : "chunk size " + std::to_string(chunk); }

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "layerleak-corpus-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("corpus: every chunking gives the same findings with full recall and no false positives") {
  auto session = detect::DetectorSession::create(layerleak::testing::builtin_detector());
  REQUIRE(session);
  std::size_t expected_total = 0, misses = 0, unexpected = 0, wrong_confidence = 0, chunking_differences = 0;
  for (const CorpusFile& file : corpus()) {
    const std::string where = file.key + " (" + file.path + ")";
    const std::vector<Found> whole = scan_file(**session, file, 0);
    for (std::size_t chunk : kChunkSizes) {
      for (bool mark_last : {false, true}) {  // the final piece fed as the file's last, or not
        if (chunk == 0 && !mark_last) continue;
        const std::vector<Found> chunked = scan_file(**session, file, chunk, mark_last);
        if (chunked != whole) {
          ++chunking_differences;
          std::string message = "chunking changes the findings of " + where + " at " + chunk_name(chunk) +
                                (mark_last ? " (last piece marked)" : "") + ":";
          for (const Found& f : whole) message += "\n  whole:   " + describe(f) + " offset " + std::to_string(f.offset);
          for (const Found& f : chunked) message += "\n  chunked: " + describe(f) + " offset " + std::to_string(f.offset);
          FAIL_CHECK(message);
        }
      }
    }
    std::vector<bool> used(whole.size(), false);
    for (const ExpectedFinding& e : file.findings) {
      ++expected_total;
      auto it = std::find_if(whole.begin(), whole.end(), [&](const Found& f) {
        return !used[static_cast<std::size_t>(&f - whole.data())] && f.rule_id == e.rule_id && f.secret == e.secret &&
               f.line == e.line && f.column == e.column && f.encoding == e.encoding;
      });
      if (it == whole.end()) {
        ++misses;
        FAIL_CHECK("recall miss in " + where + ": expected " + describe(e));
        continue;
      }
      used[static_cast<std::size_t>(it - whole.begin())] = true;
      if (e.confidence && *e.confidence != it->confidence) {
        ++wrong_confidence;
        FAIL_CHECK("wrong confidence in " + where + ": expected " + describe(e) + ", got " + it->confidence);
      }
    }
    for (std::size_t i = 0; i < whole.size(); ++i) {
      if (used[i]) continue;
      ++unexpected;
      FAIL_CHECK(std::string(file.positive ? "unexpected finding" : "false positive") + " in " + where + ": " +
                 describe(whole[i]));
    }
  }
  INFO("corpus: " << corpus().size() << " files, " << expected_total << " expected findings, " << misses
                  << " recall misses, " << unexpected << " unexpected findings, " << wrong_confidence
                  << " wrong confidences, " << chunking_differences << " chunking differences");
  CHECK(expected_total > 0);
  CHECK(misses == 0);
  CHECK(unexpected == 0);
  CHECK(wrong_confidence == 0);
  CHECK(chunking_differences == 0);
}

TEST_CASE("corpus: at least 60 positive and 60 negative files and all of them in expected.json") {
  std::set<std::string> listed;
  std::size_t positives = 0, negatives = 0;
  std::set<std::string> image_paths;
  for (const CorpusFile& file : corpus()) {
    listed.insert(file.key);
    (file.positive ? positives : negatives)++;
    INFO(file.key);
    CHECK((file.positive || file.key.rfind("negative/", 0) == 0));
    CHECK(file.path.rfind("/", 0) == 0);
    CHECK(image_paths.insert(file.path).second);  // one file per in-image path
    if (file.positive) {
      CHECK_FALSE(file.findings.empty());
    } else {
      CHECK(file.findings.empty());
    }
  }
  CHECK(positives >= 60);
  CHECK(negatives >= 60);
  std::set<std::string> on_disk;
  for (const char* dir : {"positive", "negative"}) {
    for (const auto& entry : fs::directory_iterator(kCorpusDir / dir)) {
      if (entry.is_regular_file()) on_disk.insert(std::string(dir) + "/" + entry.path().filename().string());
    }
  }
  for (const std::string& key : on_disk) {
    if (!listed.count(key)) FAIL_CHECK("corpus file missing from expected.json: " + key);
  }
  for (const std::string& key : listed) {
    if (!on_disk.count(key)) FAIL_CHECK("expected.json lists a file that does not exist: " + key);
  }
  CHECK(on_disk == listed);
}

TEST_CASE("corpus: one image holding every corpus file gives exactly the expected findings") {
  constexpr std::size_t kLayers = 3;
  fx::ImageSpec spec;
  spec.repo_tags = {"example/corpus:latest"};
  const fx::Compression compressions[kLayers] = {fx::Compression::gzip, fx::Compression::zstd, fx::Compression::none};
  for (std::size_t l = 0; l < kLayers; ++l) {
    fx::LayerSpec layer;
    layer.compression = compressions[l];
    layer.created_by = "COPY corpus-part-" + std::to_string(l) + " /";
    spec.layers.push_back(std::move(layer));
  }
  // Expected rows: rule, path, line, column, layer, secret, encoding.
  using Row = std::tuple<std::string, std::string, std::uint64_t, std::uint64_t, std::size_t, std::string, std::string>;
  std::multiset<Row> expected;
  std::map<std::string, std::string> key_of_path;
  std::size_t index = 0;
  for (const CorpusFile& file : corpus()) {
    const std::size_t layer = index++ % kLayers;
    spec.layers[layer].layer.file(file.path.substr(1), file.content);
    key_of_path[file.path] = file.key;
    for (const ExpectedFinding& e : file.findings) {
      expected.insert(Row{e.rule_id, file.path, e.line, e.column, layer, e.secret, e.encoding});
    }
  }
  TempDir dir;
  const std::string archive = (dir.path / "corpus.oci.tar").string();
  REQUIRE(fx::write_file(archive, fx::oci_archive({spec})));

  pipeline::ScanOptions options;
  options.jobs = kLayers;
  const report::ScanReport result = pipeline::scan("oci-archive:" + archive, layerleak::testing::builtin_detector(), options);
  REQUIRE(result.images.size() == 1);
  const report::ImageReport& image = result.images[0];
  for (const auto& e : image.errors) FAIL_CHECK("scan error: " + e.message);
  CHECK(image.complete);
  REQUIRE(image.layers.size() == kLayers);

  std::size_t misses = 0, unexpected = 0;
  std::multiset<Row> remaining = expected;
  for (const report::Finding& f : image.findings) {
    const Row row{f.rule_id, f.location.path, f.location.line, f.location.column,
                  f.location.layer_index.value_or(kLayers), f.secret, f.encoding};
    auto it = remaining.find(row);
    if (it == remaining.end()) {
      ++unexpected;
      const auto key = key_of_path.find(f.location.path);
      FAIL_CHECK("unexpected finding in the image: " + f.rule_id + " \"" + f.secret + "\" at " + f.location.path + ":" +
                 std::to_string(f.location.line) + ":" + std::to_string(f.location.column) + " layer " +
                 std::to_string(f.location.layer_index.value_or(kLayers)) + " (" +
                 (key == key_of_path.end() ? std::string("not a corpus file") : key->second) + ")");
      continue;
    }
    remaining.erase(it);
    CHECK(f.location.kind == "layer");
    CHECK(f.visibility == "runtime");
  }
  for (const Row& row : remaining) {
    ++misses;
    FAIL_CHECK("missing from the image scan: " + std::get<0>(row) + " \"" + std::get<5>(row) + "\" at " +
               std::get<1>(row) + ":" + std::to_string(std::get<2>(row)) + ":" + std::to_string(std::get<3>(row)) +
               " layer " + std::to_string(std::get<4>(row)) + " (" + key_of_path[std::get<1>(row)] + ")");
  }
  INFO("image: " << expected.size() << " expected findings, " << misses << " missing, " << unexpected << " unexpected");
  CHECK(misses == 0);
  CHECK(unexpected == 0);
}
