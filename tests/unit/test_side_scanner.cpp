// The side scanner (scanner/pipeline/src/side_scanner.h) scans small nested archives of a layer on a
// second thread. A layer's result must be exactly what the worker gets scanning every file itself:
// the same detections and skips in the same order, the same byte count, across layers too.
#include <catch2/catch.hpp>
#include <sstream>
#include <thread>

#include "fixture_builder.h"
#include "layer_scan.h"
#include "side_scanner.h"
#include "test_support.h"
#include "layerleak/archive.h"

using namespace layerleak;
namespace fx = layerleak::testing;

namespace {

std::string key(unsigned i) { return fx::numbered_secret_key(i); }

std::string env(unsigned i) { return "# settings\nSCW_SECRET_KEY=" + key(i) + "\n"; }

std::string noise(std::size_t n) { return fx::incompressible_bytes(n, 2463534242u); }

// Nested archives with keys (gzip, zstd, tar.gz) between plain files with keys, and the cases the side
// scanner must leave alone or get right: a nested archive over its size limit (scanned by the worker),
// a file that only starts like gzip (scanned as plain bytes, reported), a truncated one (reported).
std::string mixed_layer(unsigned files, unsigned first_key) {
  fx::LayerBuilder layer;
  for (unsigned i = 0; i < files; ++i) {
    const unsigned k = first_key + i;
    const std::string n = std::to_string(i);
    switch (i % 4) {
      case 0: layer.file("usr/share/doc/p" + n + "/changelog.gz", fx::compress("entry\n" + env(k), fx::Compression::gzip)); break;
      case 1: layer.file("etc/app" + n + ".env", env(k)); break;
      case 2: layer.file("opt/b" + n + ".tgz", fx::compress(fx::LayerBuilder().file("app/.env", env(k)).tar(), fx::Compression::gzip)); break;
      default: layer.file("var/log/a" + n + ".log.zst", fx::compress(env(k), fx::Compression::zstd)); break;
    }
    if (i == files / 2) {
      layer.file("usr/share/big.gz", fx::compress(noise(pipeline::SideScanner::kMaxFileBytes + 4096) + "\n" + env(first_key + 900), fx::Compression::gzip));
      layer.file("usr/share/fake.gz", std::string("\x1f\x8b\x08 not gzip after all\n") + env(first_key + 901));
      const std::string whole = fx::compress(noise(20000) + env(first_key + 902), fx::Compression::gzip);
      layer.file("usr/share/cut.gz", whole.substr(0, whole.size() / 2));
    }
  }
  return layer.tar();
}

const pipeline::ScanOptions kOptions;

pipeline::LayerResult scan(const std::string& tar, pipeline::SideScanner* side) {
  MemoryReader reader(tar);
  auto entries = archive::open_tar(reader);
  REQUIRE(entries);
  auto session = detect::DetectorSession::create(fx::builtin_detector());
  REQUIRE(session);
  pipeline::LayerResult result;
  pipeline::scan_entries(**entries, **session, kOptions, result, side);
  return result;
}

std::vector<std::string> detections(const pipeline::LayerResult& r) {
  std::vector<std::string> out;
  for (const auto& f : r.detections) {
    std::ostringstream row;
    row << f.path << " | " << f.file << " | " << f.detection.rule->id << " | " << f.detection.secret << " | "
        << f.detection.offset << " " << f.detection.line << ":" << f.detection.column;
    out.push_back(row.str());
  }
  return out;
}

std::vector<std::string> skips(const pipeline::LayerResult& r) {
  std::vector<std::string> out;
  for (const auto& s : r.skipped) out.push_back(s.path + ": " + s.reason);
  return out;
}

}  // namespace

TEST_CASE("side scanner: a layer's detections, skips and byte count are those of an in-order scan") {
  const std::string tar = mixed_layer(400, 0);
  const auto alone = scan(tar, nullptr);
  pipeline::SideScanner side(fx::builtin_detector(), kOptions);
  const auto shared = scan(tar, &side);
  REQUIRE_FALSE(alone.error);
  REQUIRE_FALSE(shared.error);
  // 400 files with a key each, and the one at the end of big.gz; fake.gz is scanned as plain text.
  CHECK(alone.detections.size() == 402);
  CHECK(detections(shared) == detections(alone));
  CHECK(skips(shared) == skips(alone));
  CHECK(skips(alone).size() == 2);  // fake.gz and cut.gz
  CHECK(shared.bytes_scanned == alone.bytes_scanned);
  CHECK(shared.files == alone.files);
  if (std::thread::hardware_concurrency() >= 2) {
    // The 300 small archives, fake.gz and cut.gz went to the side thread (the queue never fills with
    // files this small); big.gz, over the size limit, did not.
    CHECK(side.files_scanned() == 302);
  } else {
    CHECK(side.files_scanned() == 0);
  }
}

TEST_CASE("side scanner: one scanner serves layer after layer, each result its own") {
  pipeline::SideScanner side(fx::builtin_detector(), kOptions);
  const std::string first = mixed_layer(40, 1000);
  const std::string second = mixed_layer(24, 2000);
  const auto a = scan(first, &side);
  const auto b = scan(second, &side);
  CHECK(detections(a) == detections(scan(first, nullptr)));
  CHECK(detections(b) == detections(scan(second, nullptr)));
  CHECK(b.detections.size() == 26);
}

TEST_CASE("bytes_scanned counts the bytes given to the detector, not an archive's own bytes") {
  const std::string member = std::string(1000, 'x');
  const std::string fake = std::string("\x1f\x8b\x08") + std::string(297, 'y');
  fx::LayerBuilder layer;
  layer.file("a.txt", std::string(100, 'a'))
      .file("m.gz", fx::compress(member, fx::Compression::gzip))
      .file("fake.gz", fake)
      .file("t.tar.zst", fx::compress(fx::LayerBuilder().file("in.txt", std::string(50, 'z')).tar(), fx::Compression::zstd));
  const std::string tar = layer.tar();
  pipeline::SideScanner side(fx::builtin_detector(), kOptions);
  for (pipeline::SideScanner* s : {static_cast<pipeline::SideScanner*>(nullptr), &side}) {
    const auto r = scan(tar, s);
    REQUIRE_FALSE(r.error);
    CHECK(r.bytes_scanned == 100 + 1000 + 300 + 50);
  }
}

namespace {

// Entries given as (path, declared size, whether the reader vouches for it, blocks): what a directory read
// gives when a file changes size between its stat and its read, and what a reader that broke its word would.
class ScriptedEntries final : public archive::EntryReader {
 public:
  struct File {
    std::string path;
    std::uint64_t size;
    bool exact;
    std::vector<std::string> blocks;
  };
  explicit ScriptedEntries(std::vector<File> files) : files_(std::move(files)) {}
  Result<std::optional<archive::Entry>> next_entry() override {
    if (next_ >= files_.size()) return std::optional<archive::Entry>();
    current_ = &files_[next_++];
    block_ = 0;
    archive::Entry e;
    e.path = current_->path;
    e.type = archive::Entry::Type::file;
    e.size = current_->size;
    e.exact_size = current_->exact;
    return std::optional<archive::Entry>(e);
  }
  Result<std::span<const char>> read_block() override {
    if (block_ >= current_->blocks.size()) return std::span<const char>();
    const std::string& b = current_->blocks[block_++];
    return std::span<const char>(b.data(), b.size());
  }

 private:
  std::vector<File> files_;
  std::size_t next_ = 0;
  File* current_ = nullptr;
  std::size_t block_ = 0;
};

}  // namespace

TEST_CASE("a file's last block is marked only where its size is exact; every byte is scanned") {
  const std::string words = std::string(600, 'w') + "\n";
  const std::string secret = env(7);
  ScriptedEntries entries({
      // Exact size in three blocks, the key in the first (the gate opens before the last) or the last.
      {"/a.env", words.size() * 2 + secret.size(), true, {secret, words, words}},
      {"/b.env", words.size() * 2 + env(8).size(), true, {words, words, env(8)}},
      // A directory's file that grew after its size was taken: all of it is scanned.
      {"/c.env", words.size() + env(9).size(), false, {words + env(9), env(10)}},
      // Shorter than it was (shrank): scanned as far as it goes.
      {"/d.env", 100000, false, {env(11)}},
      // A reader that delivers more than the exact size it declared: the layer fails, never quietly.
      {"/e.env", words.size(), true, {words, env(12)}},
  });
  auto session = detect::DetectorSession::create(fx::builtin_detector());
  REQUIRE(session);
  pipeline::LayerResult result;
  pipeline::scan_entries(entries, **session, kOptions, result, nullptr);
  std::vector<std::string> found;
  for (const auto& d : result.detections) found.push_back(d.path + " " + d.detection.secret);
  CHECK(found == std::vector<std::string>{"/a.env " + key(7), "/b.env " + key(8), "/c.env " + key(9), "/c.env " + key(10),
                                          "/d.env " + key(11)});
  CHECK(result.skipped.empty());
  REQUIRE(result.error);
  CHECK(result.error->message.find("more data than its declared size of " + std::to_string(words.size())) != std::string::npos);
  CHECK(result.error->message.find("/e.env") != std::string::npos);
}
