// The compiled-database cache (scanner/detect/src/database_cache): a hit gives the same detector, and a
// damaged, foreign or unsafe cache is a miss, never a wrong result or a crash.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "database_cache.h"
#include "test_support.h"

using namespace layerleak;
namespace fx = layerleak::testing;

namespace {

const char* const kSample = "SCW_ACCESS_KEY=SCWXXXXXXXXXXXXXXXXX\nSCW_SECRET_KEY=8f3d2b1a-7c4e-4f6a-9b8d-2e1f0a9c7b5d\n";

std::size_t findings_with(const std::string& cache_dir) {
  auto rules = rules::builtin_rules();
  REQUIRE(rules);
  auto detector = detect::Detector::compile(std::move(rules).value(), detect::CompileOptions{cache_dir});
  REQUIRE(detector);
  auto session = detect::DetectorSession::create(*detector);
  REQUIRE(session);
  auto found = (*session)->scan("/app/.env", kSample);
  REQUIRE(found);
  return found->size();
}

std::vector<std::filesystem::path> cache_files(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("database cache: written once, read back, same findings", "[detect][cache]") {
  fx::TempDir tmp;
  const std::string dir = tmp.file("rules");
  const std::size_t uncached = findings_with("");
  REQUIRE(uncached > 0);
  CHECK(findings_with(dir) == uncached);
  auto files = cache_files(dir);
  REQUIRE(files.size() == 2);  // the rule database and the prefilter gate
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  for (const auto& f : files) {
    REQUIRE(::stat(f.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  const auto written = std::filesystem::last_write_time(files[0]);
  CHECK(findings_with(dir) == uncached);  // a hit: nothing rewritten
  CHECK(std::filesystem::last_write_time(files[0]) == written);
}

TEST_CASE("database cache: damaged, empty or truncated files are compiled again", "[detect][cache]") {
  fx::TempDir tmp;
  const std::string dir = tmp.file("rules");
  const std::size_t expected = findings_with(dir);
  for (const std::string damage : {"flip", "empty", "truncate"}) {
    for (const auto& f : cache_files(dir)) {
      std::string bytes = fx::read_file_bytes(f);
      if (damage == "flip") bytes[bytes.size() / 2] ^= 0x5a;
      if (damage == "empty") bytes.clear();
      if (damage == "truncate") bytes.resize(bytes.size() / 3);
      std::ofstream(f, std::ios::binary | std::ios::trunc) << bytes;
    }
    INFO(damage);
    CHECK(findings_with(dir) == expected);
    // The miss rewrote a good file: the next run loads it.
    for (const auto& f : cache_files(dir)) {
      auto db = detect::load_cached_database(dir, f.filename().string());
      CHECK(db != nullptr);
    }
  }
}

TEST_CASE("database cache: a directory others may write is never read", "[detect][cache]") {
  fx::TempDir tmp;
  const std::string dir = tmp.file("rules");
  findings_with(dir);
  auto files = cache_files(dir);
  REQUIRE(!files.empty());
  const std::string key = files[0].filename().string();
  CHECK(detect::load_cached_database(dir, key) != nullptr);
  REQUIRE(::chmod(dir.c_str(), 0777) == 0);
  CHECK(detect::load_cached_database(dir, key) == nullptr);
  REQUIRE(::chmod(dir.c_str(), 0700) == 0);
  // A symlink in place of the file is not followed.
  std::filesystem::rename(files[0], tmp.file("elsewhere"));
  std::filesystem::create_symlink(tmp.file("elsewhere"), files[0]);
  CHECK(detect::load_cached_database(dir, key) == nullptr);
}

TEST_CASE("database cache: the key depends on every expression, flag and id", "[detect][cache]") {
  detect::CompileInput a;
  a.expressions = {"abc", "de"};
  a.flags = {0, 0};
  a.ids = {0, 1};
  detect::CompileInput b = a;
  b.expressions = {"ab", "cde"};
  detect::CompileInput c = a;
  c.flags = {0, HS_FLAG_CASELESS};
  detect::CompileInput d = a;
  d.ids = {1, 0};
  detect::CompileInput e = a;
  e.mode = HS_MODE_BLOCK;
  const std::string key = detect::database_cache_key(a);
  CHECK(key == detect::database_cache_key(a));
  for (const auto* other : {&b, &c, &d, &e}) CHECK(detect::database_cache_key(*other) != key);
}
