// Core vocabulary tests: digests, hashing readers, read-ahead, file ranges.
#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "layerleak/core.h"
#include "test_support.h"

using namespace layerleak;

TEST_CASE("digests parse strictly") {
  auto ok = Digest::parse("sha256:" + std::string(64, 'a'));
  REQUIRE(ok);
  CHECK(ok->str() == "sha256:" + std::string(64, 'a'));
  CHECK(Digest::parse("sha512:" + std::string(128, 'a')).error().code == Errc::unsupported);
  CHECK(Digest::parse("sha256:" + std::string(63, 'a')).error().code == Errc::malformed);
  CHECK(Digest::parse("sha256:" + std::string(64, 'A')).error().code == Errc::malformed);
  CHECK(Digest::parse("nocolon").error().code == Errc::malformed);
  CHECK(Sha256::of("abc").str() == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("hashing readers give the same digest for any read sizes") {
  std::mt19937 rng(7);
  std::string data(3'000'000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  const Digest expected = Sha256::of(data);
  for (std::size_t read_size : {std::size_t{1}, std::size_t{4093}, std::size_t{65536}, std::size_t{1 << 20}}) {
    INFO("read size " << read_size);
    MemoryReader memory(std::string_view(data).substr(0, read_size == 1 ? 20000 : data.size()));
    HashingReader reader(memory, std::nullopt, "test");
    std::vector<char> buffer(read_size);
    std::size_t total = 0;
    while (true) {
      auto n = reader.read(buffer);
      REQUIRE(n);
      if (*n == 0) break;
      total += *n;
    }
    REQUIRE(reader.digest());
    const std::string_view hashed = std::string_view(data).substr(0, total);
    CHECK(*reader.digest() == Sha256::of(hashed));
    if (total == data.size()) CHECK(*reader.digest() == expected);
    CHECK(reader.bytes() == total);
  }
}

TEST_CASE("a hashing reader reports a digest mismatch at the end, not a silent end of stream") {
  MemoryReader memory("some layer bytes");
  HashingReader reader(memory, Sha256::of("other bytes"), "layer blob");
  char buffer[4];
  Result<std::size_t> n = std::size_t{1};
  while (n && *n > 0) n = reader.read(buffer);
  REQUIRE_FALSE(n);
  CHECK(n.error().code == Errc::digest_mismatch);
  CHECK(n.error().message.find("layer blob") != std::string::npos);
}

TEST_CASE("list files: one item a line, comments and blanks skipped, NUL and endless files refused") {
  layerleak::testing::TempDir dir;
  const std::string path = dir.write("list.txt", "# images\n  docker://a:1 \r\n\n\t# indented comment\nb.tar");
  auto lines = read_list_file(path, "--images-from");
  REQUIRE(lines);
  REQUIRE(lines->size() == 2);
  CHECK((*lines)[0].text == "docker://a:1");
  CHECK((*lines)[0].number == 2);
  CHECK((*lines)[1].text == "b.tar");
  CHECK((*lines)[1].number == 5);
  CHECK(list_line_where("--images-from", path, 5) == "--images-from: " + path + ": line 5");

  const std::string nul = dir.write("nul.txt", std::string_view("a\nb\0c\n", 6));
  auto refused = read_list_file(nul, "--repositories-from");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message == "--repositories-from: " + nul + ": line 2: contains a NUL byte");
  auto device = read_list_file("/dev/zero", "--images-from");
  REQUIRE_FALSE(device);
  CHECK(device.error().message.starts_with("--images-from: cannot read /dev/zero"));
  CHECK_FALSE(read_list_file(dir.file("missing"), "--images-from"));
}

TEST_CASE("file readers read exact ranges and fail clearly") {
  layerleak::testing::TempDir dir;
  const std::string path = dir.write("data.bin", "0123456789");
  auto range = FileReader::open_range(path, 3, 4);
  REQUIRE(range);
  auto text = read_all(**range, 100);
  REQUIRE(text);
  CHECK(*text == "3456");
  CHECK(FileReader::open_range(path, 8, 5).error().code == Errc::malformed);
  CHECK(FileReader::open(dir.file("missing")).error().code == Errc::not_found);
  auto whole = FileReader::open(path);
  REQUIRE(whole);
  CHECK(read_all(**whole, 5).error().code == Errc::limit);
}

namespace {
// Serves a buffer in uneven pieces, then optionally fails: like a decompressor hitting damage.
class UnevenReader final : public ByteReader {
 public:
  UnevenReader(std::string_view data, bool fail_at_end) : data_(data), fail_(fail_at_end) {}
  Result<std::size_t> read(std::span<char> out) override {
    if (pos_ >= data_.size()) {
      if (fail_) return make_error(Errc::malformed, "damaged at the end");
      return std::size_t{0};
    }
    const std::size_t n = std::min({out.size(), data_.size() - pos_, 1 + (pos_ * 7919) % 70000});
    std::copy_n(data_.data() + pos_, n, out.data());
    pos_ += n;
    return n;
  }

 private:
  std::string_view data_;
  bool fail_;
  std::size_t pos_ = 0;
};
}  // namespace

TEST_CASE("a read-ahead reader returns the same bytes in order, then the inner error") {
  std::mt19937 rng(11);
  std::string data(2'500'000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (bool fail : {false, true}) {
    for (std::size_t read_size : {std::size_t{1000}, std::size_t{65536}, std::size_t{1 << 20}}) {
      INFO("fail " << fail << " read size " << read_size);
      UnevenReader inner(data, fail);
      ReadAheadReader ahead(inner);
      std::string got;
      std::vector<char> buffer(read_size);
      Result<std::size_t> n = std::size_t{1};
      while (true) {
        n = ahead.read(buffer);
        if (!n || *n == 0) break;
        got.append(buffer.data(), *n);
      }
      CHECK(got == data);
      CHECK(n.ok() == !fail);
      if (fail) {
        CHECK(n.error().message == "damaged at the end");
        CHECK_FALSE(ahead.read(buffer));  // the error stays
      }
    }
  }
}

TEST_CASE("a read-ahead reader lends its blocks in order, mixed with copying reads") {
  std::mt19937 rng(5);
  std::string data(6'000'000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (bool fail : {false, true}) {
    INFO("fail " << fail);
    UnevenReader inner(data, fail);
    ReadAheadReader ahead(inner);
    std::string got;
    std::optional<Error> error;
    char small[777];
    for (int i = 0;; ++i) {
      if (i % 3 == 2) {
        auto n = ahead.read(small);
        if (!n) {
          error = n.error();
          break;
        }
        if (*n == 0) break;
        got.append(small, *n);
      } else {
        auto block = ahead.read_block();
        if (!block) {
          error = block.error();
          break;
        }
        if (block->empty()) break;
        got.append(block->data(), block->size());
      }
    }
    CHECK(got == data);
    CHECK(error.has_value() == fail);
    if (fail) CHECK_FALSE(ahead.read_block());  // the error stays
  }
}

TEST_CASE("a read-ahead reader keeps up with a slow consumer and a slow producer") {
  std::string data(3'000'000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + i / 4096);
  for (bool slow_consumer : {false, true}) {
    INFO("slow consumer " << slow_consumer);
    UnevenReader inner(data, false);
    ReadAheadReader ahead(inner);
    std::string got;
    while (true) {
      auto block = ahead.read_block();
      REQUIRE(block);
      if (block->empty()) break;
      got.append(block->data(), block->size());
      if (slow_consumer) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(got == data);
    CHECK(ahead.read_block()->empty());
  }
}

TEST_CASE("a read-ahead reader's tap sees every block in order, in place, whatever the pace") {
  std::mt19937 rng(9);
  std::string data(7'000'000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (int pace : {0, 1, 2}) {  // 0: both fast, 1: slow tap, 2: slow consumer
    INFO("pace " << pace);
    UnevenReader inner(data, false);
    std::string tapped;
    std::string got;
    {
      ReadAheadReader ahead(inner, [&](std::span<const char> block) {
        tapped.append(block.data(), block.size());
        if (pace == 1) std::this_thread::sleep_for(std::chrono::microseconds(300));
      });
      while (true) {
        auto block = ahead.read_block();
        REQUIRE(block);
        if (block->empty()) break;
        got.append(block->data(), block->size());
        if (pace == 2) std::this_thread::sleep_for(std::chrono::microseconds(300));
      }
    }  // the tap has returned for the last time once the reader is gone
    CHECK(got == data);
    CHECK(tapped == data);
  }
}

TEST_CASE("a read-ahead reader abandoned early still taps exactly the blocks it read, then stops") {
  std::string data(40'000'000, 'q');
  UnevenReader inner(data, false);
  std::size_t tapped = 0;
  {
    ReadAheadReader ahead(inner, [&](std::span<const char> block) { tapped += block.size(); });
    REQUIRE(ahead.read_block());
  }
  CHECK(tapped > 0);
  CHECK(tapped < data.size());  // it stopped reading instead of hashing the rest
}

namespace {
// Counts how far a reader has been read, from another thread.
class PositionReader final : public ByteReader {
 public:
  explicit PositionReader(std::size_t total) : total_(total) {}
  Result<std::size_t> read(std::span<char> out) override {
    const std::size_t n = std::min(out.size(), total_ - pos_.load());
    std::fill_n(out.data(), n, 'p');
    pos_ += n;
    return n;
  }
  std::size_t position() const { return pos_.load(); }

 private:
  std::size_t total_;
  std::atomic<std::size_t> pos_{0};
};

// Waits until `reader` has stopped moving (the read-ahead thread is waiting for room).
// Why 100 ms without a change: on a loaded machine (CI runs two test processes per core) the reading
// thread can go unscheduled for 10 ms in the middle of filling the ring.
std::size_t settled_position(const PositionReader& reader) {
  std::size_t last = reader.position();
  int unchanged = 0;
  for (int i = 0; i < 500 && unchanged < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::size_t now = reader.position();
    unchanged = now == last && now > 0 ? unchanged + 1 : 0;
    last = now;
  }
  return last;
}
}  // namespace

TEST_CASE("a read-ahead reader runs ahead by its buffer size, no further") {
  for (std::size_t buffer : {std::size_t{2} << 20, std::size_t{16} << 20}) {
    INFO("buffer " << buffer);
    PositionReader inner(std::size_t{256} << 20);
    ReadAheadReader ahead(inner, {}, ReadAheadReader::Options{buffer});
    REQUIRE(ahead.read_block());
    const std::size_t ahead_by = settled_position(inner);
    CHECK(ahead_by <= buffer);
    CHECK(ahead_by >= buffer / 2);
  }
}

TEST_CASE("a read-ahead reader destroyed before the end stops its thread") {
  std::string data(8'000'000, 'z');
  UnevenReader inner(data, false);
  auto ahead = std::make_unique<ReadAheadReader>(inner);
  char buffer[100];
  REQUIRE(ahead->read(buffer));
  ahead.reset();  // must join without reading the rest, without hanging
  SUCCEED();
}

TEST_CASE("JSON nesting is measured without parsing, ignoring brackets inside strings") {
  CHECK(layerleak::json_nesting_within(R"({"a": [1, {"b": [2]}]})", 4));
  CHECK_FALSE(layerleak::json_nesting_within(R"({"a": [1, {"b": [2]}]})", 3));
  CHECK(layerleak::json_nesting_within(R"({"s": "[[[[[[\"[[[["})", 1));
  CHECK_FALSE(layerleak::json_nesting_within(std::string(100000, '['), 64));
  CHECK(layerleak::json_nesting_within("", 0));
}

TEST_CASE("base64: one codec for both alphabets, padding optional, garbage refused") {
  CHECK(layerleak::base64_encode("") == "");
  CHECK(layerleak::base64_encode("f") == "Zg==");
  CHECK(layerleak::base64_encode("fo") == "Zm8=");
  CHECK(layerleak::base64_encode("foo") == "Zm9v");
  CHECK(layerleak::base64_encode("\xfb\xff") == "+/8=");
  CHECK(layerleak::base64_decode("+/8=") == std::optional<std::string>("\xfb\xff"));
  CHECK(layerleak::base64_decode("-_8") == std::optional<std::string>("\xfb\xff"));  // URL-safe, unpadded
  CHECK(layerleak::base64_decode("Zm9v") == std::optional<std::string>("foo"));
  CHECK(layerleak::base64_decode("Zg") == std::optional<std::string>("f"));
  CHECK_FALSE(layerleak::base64_decode("Zm9vY"));     // 6 bits cannot end a byte
  CHECK_FALSE(layerleak::base64_decode("Zm 9v"));     // no spaces
  CHECK_FALSE(layerleak::base64_decode("Zm=9v"));     // padding only at the end
  CHECK_FALSE(layerleak::base64_decode("Zg==="));     // at most two
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    CHECK(layerleak::base64_decode(layerleak::base64_encode(all.substr(0, n))) == std::optional<std::string>(all.substr(0, n)));
  }
}

TEST_CASE("edit_distance counts insertions, deletions and substitutions", "[core]") {
  CHECK(layerleak::edit_distance("", "") == 0);
  CHECK(layerleak::edit_distance("scan", "scan") == 0);
  CHECK(layerleak::edit_distance("scna", "scan") == 2);
  CHECK(layerleak::edit_distance("oci-achive", "oci-archive") == 1);
  CHECK(layerleak::edit_distance("", "serve") == 5);
  CHECK(layerleak::edit_distance("fail-no", "fail-on") == 2);
  CHECK(layerleak::edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("pooled blocks are 2 MiB aligned, move-only owners, and reused by size") {
  const std::uintptr_t kHuge = 2u << 20;
  // Why this size: no other part asks for it, so the pool holds no block of it from earlier tests.
  const std::size_t kBytes = (5u << 20) + 4096;
  char* first = nullptr;
  {
    PooledBlock block(kBytes);
    REQUIRE(block);
    CHECK(block.size() == kBytes);
    CHECK(reinterpret_cast<std::uintptr_t>(block.data()) % kHuge == 0);
    block.data()[0] = 'a';
    block.data()[block.size() - 1] = 'z';  // the whole size is usable
    first = block.data();
    PooledBlock moved(std::move(block));
    CHECK_FALSE(block);
    CHECK(block.size() == 0);
    CHECK(moved.data() == first);
    PooledBlock assigned;
    assigned = std::move(moved);
    CHECK(assigned.data() == first);
    CHECK_FALSE(moved);
  }
  // Given back when its owner went: the next block of that size is the same memory, one of another
  // size is not.
  PooledBlock again(kBytes);
  CHECK(again.data() == first);
  PooledBlock other(3u << 20);
  CHECK(other.data() != first);
  CHECK(reinterpret_cast<std::uintptr_t>(other.data()) % kHuge == 0);
  other.data()[other.size() - 1] = 'x';
}
