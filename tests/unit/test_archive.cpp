// Archive part tests: compression sniffing and inflating, tar entries, name normalisation, archive magic.
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "fixture_builder.h"
#include "layerleak/archive.h"
#include "test_support.h"

using namespace layerleak;
namespace fx = layerleak::testing;

namespace {

Result<std::string> inflate(const std::string& bytes, archive::Compression& detected) {
  MemoryReader memory(bytes);
  auto reader = archive::open_decompressor(memory, detected);
  if (!reader) return std::move(reader).error();
  return read_all(**reader, 1 << 26);
}

}  // namespace

TEST_CASE("compression is sniffed by magic bytes, not by name") {
  const std::string tar = fx::LayerBuilder().file("a.txt", std::string(100000, 'a')).tar();
  for (auto [c, expected] : {std::pair{fx::Compression::gzip, archive::Compression::gzip},
                             std::pair{fx::Compression::zstd, archive::Compression::zstd},
                             std::pair{fx::Compression::none, archive::Compression::none}}) {
    archive::Compression detected{};
    auto out = inflate(fx::compress(tar, c), detected);
    REQUIRE(out);
    CHECK(detected == expected);
    CHECK(*out == tar);
  }
}

TEST_CASE("multi-member gzip and trailing zero padding are read; damage is an error") {
  const std::string a(70000, 'x'), b = "second member\n";
  archive::Compression detected{};
  auto two = inflate(fx::compress(a, fx::Compression::gzip) + fx::compress(b, fx::Compression::gzip) + std::string(512, '\0'),
                     detected);
  REQUIRE(two);
  CHECK(*two == a + b);

  const std::string gz = fx::compress(a, fx::Compression::gzip);
  auto truncated = inflate(gz.substr(0, gz.size() / 2), detected);
  REQUIRE_FALSE(truncated);
  CHECK(truncated.error().code == Errc::malformed);
  CHECK(truncated.error().message.find("truncated") != std::string::npos);

  auto garbage = inflate(gz + "junk", detected);
  REQUIRE_FALSE(garbage);
  CHECK(garbage.error().message.find("after the end") != std::string::npos);

  std::string flipped = gz;
  flipped[flipped.size() - 6] = static_cast<char>(flipped[flipped.size() - 6] ^ 0x55);  // inside the CRC
  auto crc = inflate(flipped, detected);
  REQUIRE_FALSE(crc);
  CHECK(crc.error().message.find("CRC") != std::string::npos);

  const std::string zst = fx::compress(a, fx::Compression::zstd);
  auto zst_truncated = inflate(zst.substr(0, zst.size() - 3), detected);
  REQUIRE_FALSE(zst_truncated);
  CHECK(zst_truncated.error().message.find("truncated zstd") != std::string::npos);

  // A zstd frame header declares the content size (the fixture's compressor writes it): a frame whose
  // content is one byte more or less than declared is damage, not a shorter or longer layer.
  const auto fhd = static_cast<unsigned char>(zst[4]);
  const bool single_segment = (fhd >> 5) & 1;
  const std::size_t size_bytes = std::array<std::size_t, 4>{single_segment ? 1u : 0u, 2, 4, 8}[fhd >> 6];
  const std::size_t size_at = 5 + (single_segment ? 0 : 1) + std::array<std::size_t, 4>{0, 1, 2, 4}[fhd & 3];
  REQUIRE(size_bytes > 0);
  for (int delta : {1, -1}) {
    std::string misdeclared = zst;
    std::uint64_t declared = 0;
    for (std::size_t i = 0; i < size_bytes; ++i) declared |= std::uint64_t{static_cast<unsigned char>(zst[size_at + i])} << (8 * i);
    declared += static_cast<std::uint64_t>(static_cast<std::int64_t>(delta));
    for (std::size_t i = 0; i < size_bytes; ++i) misdeclared[size_at + i] = static_cast<char>((declared >> (8 * i)) & 0xff);
    auto wrong = inflate(misdeclared, detected);
    INFO("declared content size off by " << delta);
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().code == Errc::malformed);
    CHECK(wrong.error().message.find("zstd") != std::string::npos);
  }
}

TEST_CASE("tar entries come out typed and normalised, and the stream is read to its end") {
  const std::string tar =
      fx::LayerBuilder().dir("./app").file("./app/.env", "K=V\n").symlink("app/link", "/etc/passwd")
          .hardlink("app/hard", "app/.env").whiteout("app/old").tar() +
      std::string(4096, '\0');  // padding after the end-of-archive blocks
  MemoryReader memory(tar);
  HashingReader hashed(memory, std::nullopt, "test");
  auto entries = archive::open_tar(hashed);
  REQUIRE(entries);
  std::vector<archive::Entry> seen;
  std::string data;
  while (true) {
    auto next = (*entries)->next_entry();
    REQUIRE(next);
    if (!*next) break;
    if ((*next)->type == archive::Entry::Type::file) {
      for (auto block = (*entries)->read_block(); block && !block->empty(); block = (*entries)->read_block()) {
        data.append(block->data(), block->size());
      }
    }
    seen.push_back(**next);
  }
  REQUIRE(seen.size() == 5);
  CHECK(seen[0].path == "/app");
  CHECK(seen[0].type == archive::Entry::Type::directory);
  CHECK(seen[1].path == "/app/.env");
  CHECK(seen[1].size == 4);
  CHECK(data == "K=V\n");
  CHECK(seen[2].type == archive::Entry::Type::symlink);
  CHECK(seen[2].link == "/etc/passwd");
  CHECK(seen[3].type == archive::Entry::Type::hardlink);
  CHECK(seen[3].link == "/app/.env");
  CHECK(seen[4].path == "/app/.wh.old");
  REQUIRE(hashed.digest());
  CHECK(*hashed.digest() == Sha256::of(tar));  // every byte, padding included, was hashed
}

TEST_CASE("names are normalised lexically and never leave the root") {
  CHECK(archive::normalize_path("./app/.env") == "/app/.env");
  CHECK(archive::normalize_path("/abs//path/") == "/abs/path");
  CHECK(archive::normalize_path("../../etc/passwd") == "/etc/passwd");
  CHECK(archive::normalize_path("a/./b/../c") == "/a/c");
  CHECK(archive::normalize_path("") == "/");
  CHECK(archive::normalize_path("..") == "/");
}

TEST_CASE("archive magic is recognised from the first bytes") {
  auto sniff = [](const std::string& s) { return archive::sniff_nested(std::span<const char>(s.data(), s.size())); };
  CHECK(sniff(std::string("PK\x03\x04rest", 8)) == archive::NestedKind::zip);
  CHECK(sniff(std::string("\x1f\x8b\x08", 3)) == archive::NestedKind::gzip);
  CHECK(sniff(std::string("\x28\xb5\x2f\xfd", 4)) == archive::NestedKind::zstd);
  CHECK(sniff("BZh91AY&SY") == archive::NestedKind::bzip2);
  CHECK(sniff("BZh is not bzip2") == archive::NestedKind::none);
  CHECK(sniff(std::string("\xfd" "7zXZ\0", 6)) == archive::NestedKind::xz);
  CHECK(sniff(fx::LayerBuilder().file("x", "y").tar()) == archive::NestedKind::tar);
  CHECK(sniff("plain text") == archive::NestedKind::none);
  CHECK(sniff("") == archive::NestedKind::none);
}

// ---- dir: trees --------------------------------------------------------------------------------------

namespace {

namespace stdfs = std::filesystem;

void write_text(const stdfs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

struct ReadEntry {
  archive::Entry entry;
  std::string content;
};

// The next entry and, for a file, all its bytes.
std::optional<ReadEntry> next_read(archive::EntryReader& reader) {
  auto next = reader.next_entry();
  INFO((next ? std::string() : next.error().message));
  REQUIRE(next);
  if (!*next) return std::nullopt;
  ReadEntry out{**next, {}};
  while (true) {
    auto block = reader.read_block();
    REQUIRE(block);
    if (block->empty()) break;
    out.content.append(block->data(), block->size());
  }
  return out;
}

}  // namespace

TEST_CASE("a directory tree never follows a symlink swapped in after listing", "[archive][dir]") {
  layerleak::testing::TempDir tmp;
  const stdfs::path root = tmp.path / "root";
  const stdfs::path outside = tmp.path / "outside";
  stdfs::create_directories(root / "d" / "inner");
  stdfs::create_directories(outside);
  write_text(root / "a.txt", "a\n");
  write_text(root / "d" / "f", "inside\n");
  write_text(root / "d" / "g", "inside g\n");
  write_text(root / "d" / "inner" / "h", "inside h\n");
  write_text(outside / "f", "OUTSIDE\n");
  write_text(outside / "g", "OUTSIDE\n");
  write_text(outside / "h", "OUTSIDE\n");
  stdfs::create_directory_symlink("/etc", root / "etc-link");  // present from the start: never followed
  REQUIRE(::mkfifo((root / "pipe").c_str(), 0600) == 0);      // never opened (it would block)

  auto opened = archive::open_directory(root.string());
  REQUIRE(opened);
  archive::EntryReader& reader = **opened;
  std::vector<ReadEntry> seen;
  while (auto e = next_read(reader)) {
    seen.push_back(*e);
    if (e->entry.path == "/d") {
      // /d is listed now. Swap it for a symlink to `outside` (the walk holds the real /d open), swap
      // /d/g for a symlink to a file outside, and /d/inner for a symlink to /etc.
      stdfs::rename(root / "d", tmp.path / "d-moved");
      stdfs::create_directory_symlink(outside, root / "d");
      stdfs::remove(tmp.path / "d-moved" / "g");
      stdfs::create_symlink(outside / "g", tmp.path / "d-moved" / "g");
      stdfs::remove_all(tmp.path / "d-moved" / "inner");
      stdfs::create_directory_symlink("/etc", tmp.path / "d-moved" / "inner");
    }
  }
  std::vector<std::string> paths;
  for (const ReadEntry& e : seen) {
    paths.push_back(e.entry.path);
    CHECK(e.content.find("OUTSIDE") == std::string::npos);
    CHECK(e.entry.path.rfind("/etc-link/", 0) != 0);
    CHECK(e.entry.path.rfind("/d/inner/", 0) != 0);
  }
  CHECK(paths == std::vector<std::string>{"/a.txt", "/d", "/d/f", "/d/g", "/d/inner", "/etc-link", "/pipe"});
  auto find = [&](const std::string& path) {
    auto it = std::find_if(seen.begin(), seen.end(), [&](const ReadEntry& e) { return e.entry.path == path; });
    REQUIRE(it != seen.end());
    return *it;
  };
  CHECK(find("/d/f").content == "inside\n");  // read through the directory that was listed
  CHECK(find("/d/g").entry.type == archive::Entry::Type::symlink);
  CHECK(find("/d/inner").entry.type == archive::Entry::Type::symlink);
  CHECK(find("/etc-link").entry.type == archive::Entry::Type::symlink);
  CHECK(find("/etc-link").entry.link == "/etc");
  const ReadEntry pipe = find("/pipe");
  CHECK(pipe.entry.type == archive::Entry::Type::other);
  CHECK_THAT(pipe.entry.skip_reason, Catch::Contains("FIFO"));
}
