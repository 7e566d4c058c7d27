// The scan cache: a cached re-scan gives the same report as an uncached one without opening any layer
// blob, incomplete layers are never stored, and the SQLite store round-trips every field.
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fixture_builder.h"
#include "layerleak/cache.h"
#include "layerleak/pipeline.h"
#include "test_support.h"

using namespace layerleak;
namespace fx = layerleak::testing;
using layerleak::testing::TempDir;

namespace {

const std::string kSecret = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c";
const std::string kSecret2 = "9a8b7c6d-1e2f-4a3b-8c5d-6e7f8a9b0c1d";
const std::string kAccess = "SCW0RE86AB2CD4EF6GH8";

// Findings in every visibility, a hardlink, a nested archive, a skipped file, and a shared base layer.
fx::LayerSpec base_layer() {
  fx::LayerSpec base;
  base.created_by = "ADD rootfs.tar /";
  base.layer.dir("etc").file("etc/os-release", "ID=debian\n").file("etc/scw.env", "SCW_SECRET_KEY=" + kSecret2 + "\n");
  return base;
}

fx::ImageSpec app_image(const std::string& tag, const std::string& motd) {
  fx::ImageSpec spec;
  spec.repo_tags = {"example/app:" + tag};
  fx::LayerSpec app;
  app.compression = fx::Compression::zstd;
  app.created_by = "COPY . /app";
  const std::string nested = fx::tar_of({{"conf/", ""}, {"conf/.env", "SCW_SECRET_KEY=" + kSecret + "\n"}});
  app.layer.dir("app")
      .file("app/.env", "# settings\nSCW_ACCESS_KEY=" + kAccess + "\nSCW_SECRET_KEY=" + kSecret + "\n")
      .hardlink("app/.env.link", "app/.env")
      .file("app/settings.env", "SCW_SECRET_KEY=" + kSecret + "\n")
      .file("app/bundle.tar", nested)
      .file("app/big.bin", std::string(4096, 'x'));
  fx::LayerSpec remove;
  remove.compression = fx::Compression::none;
  remove.created_by = "RUN rm /app/.env";
  remove.layer.whiteout("app/.env").opaque("etc").file("app/settings.env", "SCW_SECRET_KEY=${SCW_SECRET_KEY}\n");
  fx::LayerSpec last;
  last.created_by = "COPY motd /etc/motd";
  last.layer.file("etc/motd", motd);
  spec.layers = {base_layer(), app, remove, last};
  spec.env = {"PATH=/usr/bin"};
  return spec;
}

std::string json_of(report::ScanReport r) {
  for (auto& image : r.images) image.duration_ms = 0;
  std::ostringstream out;
  report::ReportOptions options;
  options.show_secrets = true;
  REQUIRE(report::write_report(r, report::Format::json, options, out));
  return out.str();
}

report::ScanReport scan(const std::string& reference, pipeline::LayerCache* cache, unsigned jobs = 2) {
  pipeline::ScanOptions options;
  options.jobs = jobs;
  options.max_file_size = 1024;  // big.bin is skipped, and the skip must come back from the cache
  options.layer_cache = cache;
  return pipeline::scan(reference, fx::builtin_detector(), options);
}

// Counts the calls a cache gets, around a real one.
class CountingCache final : public pipeline::LayerCache {
 public:
  explicit CountingCache(pipeline::LayerCache& inner) : inner_(inner) {}
  std::optional<pipeline::CachedLayer> get(const pipeline::LayerKey& key) override {
    auto hit = inner_.get(key);
    (hit ? hits : misses)++;
    return hit;
  }
  void put(const pipeline::LayerKey& key, const pipeline::CachedLayer& layer) override {
    ++puts;
    inner_.put(key, layer);
  }
  std::atomic<int> hits{0}, misses{0}, puts{0};

 private:
  pipeline::LayerCache& inner_;
};

}  // namespace

TEST_CASE("a cached re-scan gives the same report as an uncached scan, without reading the layer blobs") {
  TempDir dir;
  const std::string layout = dir.file("layout");
  REQUIRE(fx::write_oci_layout({app_image("1", "welcome\n")}, layout));
  const std::string reference = "oci:" + layout + ":1";

  auto first = scan(reference, nullptr);
  REQUIRE(first.complete());
  REQUIRE(first.images.at(0).findings.size() >= 4);
  const std::string uncached = json_of(std::move(first));

  auto opened = cache::ScanCache::open(dir.file("cache"));
  REQUIRE(opened);
  CountingCache counting(**opened);
  CHECK(json_of(scan(reference, &counting)) == uncached);
  CHECK(counting.misses == 4);
  CHECK(counting.puts == 4);

  // The blobs are gone: a hit must not open them, and the report is still identical.
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(layout) / "blobs" / "sha256")) {
    const std::string content = [&] {
      std::ifstream in(entry.path(), std::ios::binary);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }();
    if (content.empty() || content.front() != '{') std::filesystem::remove(entry.path());  // layers, not JSON
  }
  CHECK(json_of(scan(reference, &counting, 1)) == uncached);
  CHECK(counting.hits == 4);
  CHECK(counting.puts == 4);

  // The file persists: a fresh process (a fresh cache object) hits too.
  opened->reset();
  auto reopened = cache::ScanCache::open(dir.file("cache"));
  REQUIRE(reopened);
  CHECK(json_of(scan(reference, reopened->get())) == uncached);
  CHECK((*reopened)->stats().layer_hits == 4);
}

TEST_CASE("a base layer shared by two images is scanned once") {
  TempDir dir;
  const std::string one = dir.file("one.tar");
  const std::string two = dir.file("two.tar");
  REQUIRE(fx::write_file(one, fx::oci_archive({app_image("1", "one\n")})));
  REQUIRE(fx::write_file(two, fx::oci_archive({app_image("2", "two\n")})));
  auto opened = cache::ScanCache::open_in_memory();
  REQUIRE(opened);
  CountingCache counting(**opened);
  const std::string expected_two = json_of(scan("oci-archive:" + two, nullptr));
  (void)scan("oci-archive:" + one, &counting);
  CHECK(counting.misses == 4);
  CHECK(json_of(scan("oci-archive:" + two, &counting)) == expected_two);
  CHECK(counting.hits == 3);    // base, app and whiteout layers are the same content
  CHECK(counting.misses == 5);  // only the motd layer differs
}

TEST_CASE("incomplete layers are never cached") {
  TempDir dir;
  fx::ContainerOptions hostile;
  hostile.truncate_last_layer_blob = true;
  const std::string path = dir.file("truncated.tar");
  REQUIRE(fx::write_file(path, fx::oci_archive({app_image("1", std::string(20000, 'm'))}, hostile)));
  auto opened = cache::ScanCache::open_in_memory();
  REQUIRE(opened);
  CountingCache counting(**opened);
  auto first = scan("oci-archive:" + path, &counting);
  REQUIRE_FALSE(first.complete());
  CHECK(counting.puts == 3);
  auto second = scan("oci-archive:" + path, &counting);
  CHECK_FALSE(second.complete());
  CHECK(counting.hits == 3);
  CHECK(json_of(std::move(first)) == json_of(std::move(second)));

  SECTION("nor interrupted ones") {
    std::atomic<bool> cancel{true};
    pipeline::ScanOptions options;
    options.cancel = &cancel;
    auto fresh = cache::ScanCache::open_in_memory();
    REQUIRE(fresh);
    options.layer_cache = fresh->get();
    auto r = pipeline::scan("oci-archive:" + path, fx::builtin_detector(), options);
    CHECK_FALSE(r.complete());
    CHECK((*fresh)->stats().layer_puts == 0);
  }
}

TEST_CASE("different rules or limits do not share cached layers") {
  pipeline::ScanOptions a;
  pipeline::ScanOptions b;
  b.max_file_size = 5;
  CHECK(pipeline::cache_profile("sha256:1", a) != pipeline::cache_profile("sha256:2", a));
  CHECK(pipeline::cache_profile("sha256:1", a) != pipeline::cache_profile("sha256:1", b));
  CHECK(pipeline::cache_profile("sha256:1", a) == pipeline::cache_profile("sha256:1", a));
}

TEST_CASE("the layer codec round-trips arbitrary bytes in names and rejects damage") {
  pipeline::CachedLayer layer;
  layer.detections.push_back({"/a\xff\xfe/b.jar!/c.yml", "/a\xff\xfe/b.jar", "scaleway.secret-key", kSecret, 7, 2, 3,
                              rules::Severity::critical, rules::Confidence::high, "base64", kAccess});
  layer.changes.record("/a\xff\xfe", true);
  layer.changes.record("/a\xff\xfe/b.jar", false);
  layer.changes.record("/gone/.wh.x", false);
  layer.changes.record("/d/.wh..wh..opq", false);
  layer.hardlinks["/x"] = {"/y", "/z"};
  layer.skipped.push_back({"/big", std::nullopt, "too big"});
  layer.entries = 5;
  layer.bytes_scanned = 1234;
  layer.compressed_bytes = 99;
  layer.compression = "zstd";
  const std::string encoded = cache::encode_layer(layer);
  CHECK(encoded == cache::encode_layer(layer));
  auto decoded = cache::decode_layer(encoded);
  REQUIRE(decoded);
  CHECK(cache::encode_layer(*decoded) == encoded);
  REQUIRE(decoded->detections.size() == 1);
  CHECK(decoded->detections[0].path == "/a\xff\xfe/b.jar!/c.yml");
  CHECK(decoded->detections[0].severity == rules::Severity::critical);
  CHECK(decoded->changes.whiteouts == layer.changes.whiteouts);
  CHECK(decoded->changes.opaque_dirs == layer.changes.opaque_dirs);
  CHECK(decoded->changes.directories == layer.changes.directories);
  CHECK(decoded->hardlinks == layer.hardlinks);
  CHECK_FALSE(cache::decode_layer(encoded.substr(0, encoded.size() / 2)));
  CHECK_FALSE(cache::decode_layer("not cbor"));
}

TEST_CASE("the cache stores reports by manifest digest and is safe to share between threads") {
  TempDir dir;
  auto opened = cache::ScanCache::open(dir.file("c"));
  REQUIRE(opened);
  cache::ScanCache& c = **opened;
  CHECK_FALSE(c.get_report("sha256:aa", "p"));
  REQUIRE(c.put_report("sha256:aa", "p", "{\"x\":1}"));
  CHECK(c.get_report("sha256:aa", "p") == std::optional<std::string>("{\"x\":1}"));
  CHECK_FALSE(c.get_report("sha256:aa", "q"));
  CHECK(std::filesystem::status(c.path()).permissions() == (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));

  auto d = Digest::parse("sha256:" + std::string(64, 'a'));
  auto blob = Digest::parse("sha256:" + std::string(64, 'b'));
  REQUIRE(d);
  REQUIRE(blob);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        pipeline::CachedLayer layer;
        layer.entries = static_cast<std::uint64_t>(i);
        layer.compression = "gzip";
        c.put({*d, *blob, "p" + std::to_string(t)}, layer);
        (void)c.get({*d, *blob, "p" + std::to_string(t)});
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(c.stats().layer_puts == 200);
  auto hit = c.get({*d, *blob, "p0"});
  REQUIRE(hit);
  CHECK(hit->compression == "gzip");
  // A blob digest that names other content is a miss.
  auto other = Digest::parse("sha256:" + std::string(64, 'c'));
  CHECK_FALSE(c.get({*other, *blob, "p0"}));
}

TEST_CASE("an in-memory cache stays within its byte budget, dropping its oldest entries") {
  // `serve` without --cache runs for weeks on an in-memory cache: it must not grow with every layer.
  constexpr std::uint64_t kBudget = 64u << 10;
  auto opened = cache::ScanCache::open_in_memory(kBudget);
  REQUIRE(opened);
  cache::ScanCache& c = **opened;
  auto digest = [](int i, char kind) {
    std::string hex = std::to_string(i);
    return *Digest::parse("sha256:" + std::string(64 - hex.size(), kind) + hex);
  };
  for (int i = 0; i < 200; ++i) {
    pipeline::CachedLayer layer;
    for (int f = 0; f < 40; ++f) layer.changes.record("/layer" + std::to_string(i) + "/file" + std::to_string(f), false);
    layer.compression = "gzip";
    c.put({digest(i, 'a'), digest(i, 'b'), "p"}, layer);
    REQUIRE(c.put_report(digest(i, 'c').str(), "p", std::string(512, 'r')));
    CHECK(c.stored_bytes() <= kBudget);
  }
  CHECK(c.stats().evicted > 0);
  CHECK_FALSE(c.get({digest(0, 'a'), digest(0, 'b'), "p"}));   // the oldest went
  CHECK(c.get({digest(199, 'a'), digest(199, 'b'), "p"}));     // the newest stayed
  CHECK(c.get_report(digest(199, 'c').str(), "p"));
}

TEST_CASE("the layer codec refuses deep nesting and numbers of the wrong type") {
  // 100 000 nested one-element arrays: the CBOR reader recursed once per level (stack overflow).
  CHECK_FALSE(cache::decode_layer(std::string(100000, '\x81') + '\x00'));
  CHECK_FALSE(cache::decode_layer(std::string(100000, '\x9f')));  // indefinite-length arrays
  CHECK_FALSE(cache::decode_layer(std::string("\x9b\xff\xff\xff\xff\xff\xff\xff\xff", 9)));  // 2^64-1 items in 9 bytes

  pipeline::CachedLayer layer;
  layer.detections.push_back({"/a", "/a", "scaleway.secret-key", kSecret, 1, 1, 1, rules::Severity::high,
                              rules::Confidence::high, "plain", ""});
  layer.compression = "gzip";
  const std::string good = cache::encode_layer(layer);
  REQUIRE(cache::decode_layer(good));
  // The same record with the severity 3 (0x03) written as the double 3.0, and as 1e300: only unsigned
  // integers are accepted (get<int>() on 1e300 was undefined behaviour, 3.0 was read as 3).
  const std::string severity_key = std::string("\x68severity", 9);
  const auto at = good.find(severity_key);
  REQUIRE(at != std::string::npos);
  REQUIRE(good[at + severity_key.size()] == '\x03');
  for (const std::string& number : {std::string("\xfb\x40\x08\x00\x00\x00\x00\x00\x00", 9),
                                    std::string("\xfb\x7e\x37\xe4\x3c\x88\x00\x75\x9c", 9)}) {
    std::string bad = good;
    bad.replace(at + severity_key.size(), 1, number);
    CHECK_FALSE(cache::decode_layer(bad));
  }
  // A set written as a string instead of an array was read as a one-element set.
  const std::string set_key = std::string("\x6b" "entries_set\x80", 13);
  const auto set_at = good.find(set_key);
  REQUIRE(set_at != std::string::npos);
  std::string bad = good;
  bad.replace(set_at + set_key.size() - 1, 1, std::string("\x61x", 2));
  CHECK_FALSE(cache::decode_layer(bad));
}

namespace {

std::filesystem::perms mode_of(const std::string& path) {
  return std::filesystem::symlink_status(path).permissions() & std::filesystem::perms::mask;
}

}  // namespace

TEST_CASE("a damaged cache file is moved aside and the cache starts empty", "[cache]") {
  TempDir dir;
  const std::string cache_dir = dir.file("c");
  std::filesystem::create_directory(cache_dir);
  const std::string db = cache_dir + "/layerleak-cache.sqlite3";
  SECTION("garbage instead of a database") {
    REQUIRE(fx::write_file(db, std::string(8192, 'g')));
  }
  SECTION("a database whose first pages are overwritten") {
    {
      auto opened = cache::ScanCache::open(cache_dir);
      REQUIRE(opened);
      REQUIRE((*opened)->put_report("sha256:aa", "p", "{\"x\":1}"));
    }
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    const std::string junk(4000, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    std::filesystem::remove(db + "-wal");
  }
  REQUIRE(fx::write_file(db + "-wal", "stale wal"));
  auto opened = cache::ScanCache::open(cache_dir);
  REQUIRE(opened);
  cache::ScanCache& c = **opened;
  CHECK_FALSE(c.get_report("sha256:aa", "p"));
  REQUIRE(c.put_report("sha256:aa", "p", "{\"x\":2}"));
  CHECK(c.get_report("sha256:aa", "p") == std::optional<std::string>("{\"x\":2}"));
  std::vector<std::string> aside;
  for (const auto& entry : std::filesystem::directory_iterator(cache_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("layerleak-cache.sqlite3.corrupt-", 0) == 0) aside.push_back(name);
  }
  std::sort(aside.begin(), aside.end());
  REQUIRE(!aside.empty());
  CHECK(aside.size() <= 2);  // the file, and its -wal unless SQLite dropped it as not belonging to the file
  if (aside.size() == 2) CHECK(aside[1] == aside[0] + "-wal");
  // The stale -wal is never replayed into (or left next to) the new file.
  if (std::filesystem::exists(db + "-wal")) {
    std::ifstream wal(db + "-wal", std::ios::binary);
    CHECK(std::string((std::istreambuf_iterator<char>(wal)), std::istreambuf_iterator<char>()).find("stale wal") ==
          std::string::npos);
  }
  CHECK(mode_of(db) == (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  // The moved file keeps what it held: nothing was deleted.
  CHECK(std::filesystem::file_size(cache_dir + "/" + aside[0]) >= 4096);
}

TEST_CASE("a symlinked cache database is refused, never followed", "[cache]") {
  TempDir dir;
  const std::string cache_dir = dir.file("c");
  std::filesystem::create_directory(cache_dir);
  const std::string target = dir.file("elsewhere.sqlite3");
  REQUIRE(fx::write_file(target, "precious"));
  std::filesystem::create_symlink(target, cache_dir + "/layerleak-cache.sqlite3");
  auto opened = cache::ScanCache::open(cache_dir);
  REQUIRE_FALSE(opened);
  CHECK(opened.error().code == Errc::io);
  CHECK(opened.error().message.find(cache_dir + "/layerleak-cache.sqlite3") != std::string::npos);
  CHECK(opened.error().message.find("symbolic link") != std::string::npos);
  CHECK(std::filesystem::is_symlink(cache_dir + "/layerleak-cache.sqlite3"));  // not moved aside
  std::ifstream in(target);
  CHECK(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()) == "precious");
  // A dangling symlink is refused too (it would otherwise create the target).
  std::filesystem::remove(target);
  CHECK_FALSE(cache::ScanCache::open(cache_dir));
  CHECK_FALSE(std::filesystem::exists(target));
}

TEST_CASE("a --cache directory reached through a symbolic link is used (only the database must not be one)", "[cache]") {
  TempDir dir;
  const std::string real = dir.file("volume");
  std::filesystem::create_directory(real);
  std::filesystem::create_directory_symlink(real, dir.file("link"));
  auto opened = cache::ScanCache::open(dir.file("link"));
  REQUIRE(opened);
  CHECK((*opened)->put_report("sha256:" + std::string(64, 'a'), "p", "{}"));
  CHECK(std::filesystem::is_regular_file(real + "/layerleak-cache.sqlite3"));
}

TEST_CASE("the cache keeps the mode of an existing directory and creates its own 0700, the file 0600", "[cache]") {
  namespace fs = std::filesystem;
  const auto rw = fs::perms::owner_read | fs::perms::owner_write;
  TempDir dir;
  const mode_t old_umask = ::umask(0);  // the file mode must not depend on the umask
  const std::string shared = dir.file("shared");
  fs::create_directory(shared);
  fs::permissions(shared, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  {
    auto opened = cache::ScanCache::open(shared);
    REQUIRE(opened);
    REQUIRE((*opened)->put_report("sha256:aa", "p", "{}"));
  }
  CHECK(mode_of(shared) == (fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec));
  CHECK(mode_of(shared + "/layerleak-cache.sqlite3") == rw);
  const std::string fresh = dir.file("a/b/fresh");
  {
    auto opened = cache::ScanCache::open(fresh);
    REQUIRE(opened);
    REQUIRE((*opened)->put_report("sha256:aa", "p", "{}"));
    CHECK(mode_of(fresh + "/layerleak-cache.sqlite3-wal") == rw);
  }
  ::umask(old_umask);
  CHECK(mode_of(fresh) == fs::perms::owner_all);
  CHECK(mode_of(fresh + "/layerleak-cache.sqlite3") == rw);
}
