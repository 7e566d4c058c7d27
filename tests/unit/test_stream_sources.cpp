// Sources read front to back (StreamTree: standard input, compressed archives, the Docker daemon's
// export), reference errors, and the dir: source's entries seam.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "fixture_builder.h"
#include "layerleak/archive.h"
#include "layerleak/oci.h"
#include "stream_tree.h"

using namespace layerleak;
namespace lt = layerleak::testing;

namespace {

std::unique_ptr<ByteReader> owned_reader(std::string bytes) {
  struct Owning final : ByteReader {
    explicit Owning(std::string b) : bytes(std::move(b)), inner(bytes) {}
    Result<std::size_t> read(std::span<char> out) override { return inner.read(out); }
    std::string bytes;
    MemoryReader inner;
  };
  return std::make_unique<Owning>(std::move(bytes));
}

std::string read_member(const oci::FileTree& tree, const std::string& path) {
  auto reader = tree.open(path);
  REQUIRE(reader);
  auto data = read_all(**reader, 1 << 26);
  REQUIRE(data);
  return *data;
}

oci::StreamLimits on_disk(const std::string& dir) {
  oci::StreamLimits limits;
  limits.max_memory_member = 16;  // everything bigger goes to the spool
  limits.temp_dir = dir;
  return limits;
}

struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern = std::filesystem::temp_directory_path().string() + "/layerleak-unit-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  bool empty() const { return std::filesystem::is_empty(path); }
};

const std::string kLayerA(5000, 'a');
const std::string kLayerB(7000, 'b');

}  // namespace

TEST_CASE("StreamTree: metadata first and layers in order stream without a spool", "[sources][stream]") {
  TempDir tmp;
  const std::string a = "blobs/sha256/" + std::string(64, 'a');
  const std::string b = std::string(64, 'b') + ".tar";
  std::string tar = lt::tar_of({{"manifest.json", "[]"}, {a, kLayerA}, {b, kLayerB}});
  auto tree = oci::StreamTree::create(owned_reader(tar), "test", on_disk(tmp.path));
  REQUIRE(tree);
  auto kind = (*tree)->detect();
  REQUIRE(kind);
  CHECK(*kind == oci::StreamTree::Kind::docker_archive);
  CHECK(read_member(**tree, "manifest.json") == "[]");
  (*tree)->expect({a, b});
  CHECK(read_member(**tree, a) == kLayerA);
  CHECK(read_member(**tree, b) == kLayerB);
  CHECK((*tree)->spooled_bytes() == 0);
  CHECK(tmp.empty());
}

TEST_CASE("StreamTree: layers before the manifest, or out of order, are spooled and the spool removed", "[sources][stream]") {
  TempDir tmp;
  {
    std::string tar = lt::tar_of({{"b.tar", kLayerB}, {"a.tar", kLayerA}, {"unused.tar", kLayerA}, {"manifest.json", "[]"}});
    auto tree = oci::StreamTree::create(owned_reader(tar), "test", on_disk(tmp.path));
    REQUIRE(tree);
    REQUIRE((*tree)->detect());
    // Before the manifest is read, every member may be a layer: all three were kept.
    CHECK((*tree)->spooled_bytes() == kLayerA.size() * 2 + kLayerB.size());
    (*tree)->expect({"a.tar", "b.tar"});
    CHECK(read_member(**tree, "a.tar") == kLayerA);
    CHECK(read_member(**tree, "b.tar") == kLayerB);
    CHECK_FALSE(tmp.empty());
  }
  CHECK(tmp.empty());
}

TEST_CASE("StreamTree: once layers are announced, unneeded members are skipped and out-of-order ones kept", "[sources][stream]") {
  TempDir tmp;
  const std::string a = std::string(64, 'a') + ".tar";  // named by digest: cannot be a link
  const std::string b = std::string(64, 'b') + ".tar";
  std::string tar = lt::tar_of({{"manifest.json", "[]"}, {"unused.tar", kLayerA}, {b, kLayerB}, {a, kLayerA}});
  auto tree = oci::StreamTree::create(owned_reader(tar), "test", on_disk(tmp.path));
  REQUIRE(tree);
  REQUIRE((*tree)->detect());
  (*tree)->expect({a, b});
  CHECK(read_member(**tree, a) == kLayerA);  // passes unused.tar (skipped) and b (kept), streams a
  CHECK((*tree)->spooled_bytes() == kLayerB.size());
  CHECK(read_member(**tree, b) == kLayerB);
}

TEST_CASE("StreamTree: a name that may be a link keeps what passes until it is known", "[sources][stream]") {
  TempDir tmp;
  lt::LayerBuilder builder;
  builder.file("manifest.json", "[]").file("x/layer.tar", kLayerA).symlink("y/layer.tar", "../x/layer.tar");
  auto tree = oci::StreamTree::create(owned_reader(builder.tar()), "test", on_disk(tmp.path));
  REQUIRE(tree);
  REQUIRE((*tree)->detect());
  (*tree)->expect({"y/layer.tar"});  // only the link is listed (docker's legacy layout, one image of two)
  CHECK(read_member(**tree, "y/layer.tar") == kLayerA);
  CHECK((*tree)->spooled_bytes() == kLayerA.size());
}

TEST_CASE("StreamTree: a member used twice is kept, links are followed", "[sources][stream]") {
  TempDir tmp;
  lt::LayerBuilder builder;
  builder.file("manifest.json", "[]").file("a/layer.tar", kLayerA).symlink("b/layer.tar", "../a/layer.tar");
  auto tree = oci::StreamTree::create(owned_reader(builder.tar()), "test", on_disk(tmp.path));
  REQUIRE(tree);
  REQUIRE((*tree)->detect());
  (*tree)->expect({"a/layer.tar", "b/layer.tar"});
  CHECK(read_member(**tree, "a/layer.tar") == kLayerA);
  CHECK(read_member(**tree, "b/layer.tar") == kLayerA);
  CHECK((*tree)->spooled_bytes() == kLayerA.size());
}

TEST_CASE("StreamTree: the spool is bounded", "[sources][stream]") {
  TempDir tmp;
  auto limits = on_disk(tmp.path);
  limits.max_spool_bytes = kLayerA.size() + 10;
  std::string tar = lt::tar_of({{"a.tar", kLayerA}, {"b.tar", kLayerB}, {"manifest.json", "[]"}});
  auto tree = oci::StreamTree::create(owned_reader(tar), "standard input", limits);
  REQUIRE(tree);
  auto kind = (*tree)->detect();
  REQUIRE_FALSE(kind);
  CHECK(kind.error().code == Errc::limit);
  CHECK_THAT(kind.error().message, Catch::Contains("limit for temporary space") && Catch::Contains("b.tar"));
}

TEST_CASE("StreamTree: gzip and zstd streams, garbage and truncation", "[sources][stream]") {
  std::string tar = lt::tar_of({{"oci-layout", "{}"}, {"index.json", "{}"}, {"blobs/sha256/x", kLayerA}});
  for (auto c : {lt::Compression::gzip, lt::Compression::zstd}) {
    auto tree = oci::StreamTree::create(owned_reader(lt::compress(tar, c)), "test");
    REQUIRE(tree);
    auto kind = (*tree)->detect();
    REQUIRE(kind);
    CHECK(*kind == oci::StreamTree::Kind::oci_archive);
    CHECK(read_member(**tree, "blobs/sha256/x") == kLayerA);
  }
  auto garbage = oci::StreamTree::create(owned_reader(std::string(2048, 'x')), "standard input");
  REQUIRE_FALSE(garbage);
  CHECK(garbage.error().code == Errc::malformed);
  CHECK_THAT(garbage.error().message, Catch::StartsWith("standard input is not a container image"));

  auto cut = oci::StreamTree::create(owned_reader(tar.substr(0, 3000)), "test");
  REQUIRE(cut);
  auto kind = (*cut)->detect();
  REQUIRE(kind);
  auto reader = (*cut)->open("blobs/sha256/x");
  bool failed = !reader;
  if (reader) failed = !read_all(**reader, 1 << 20);
  CHECK(failed);
}

TEST_CASE("open_source(\"-\"): docker-archive and oci-archive on standard input", "[sources][stream]") {
  lt::ImageSpec spec;
  spec.repo_tags = {"example/app:1"};
  lt::LayerSpec layer;
  layer.layer.file("app/.env", "SCW_SECRET_KEY=x\n");
  spec.layers.push_back(layer);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {lt::docker_archive_legacy({spec}), "docker-archive"},
      {lt::docker_archive_v25({spec}), "docker-archive"},
      {lt::oci_archive({spec}), "oci-archive"},
      {lt::compress(lt::oci_archive({spec}), lt::Compression::zstd), "oci-archive"},
      {lt::compress(lt::docker_archive_legacy({spec}), lt::Compression::gzip), "docker-archive"}};
  for (const auto& [bytes, transport] : cases) {
    MemoryReader input(bytes);
    oci::SourceOptions options;
    options.standard_input = &input;
    auto source = oci::open_source("-", options);
    REQUIRE(source);
    auto images = (*source)->images({});
    REQUIRE(images);
    REQUIRE(images->size() == 1);
    CHECK((*images)[0].transport == transport);
    CHECK((*images)[0].reference.rfind(transport + ":-", 0) == 0);
    REQUIRE((*images)[0].layers.size() == 1);
    auto blob = (*source)->open_blob((*images)[0], (*images)[0].layers[0]);
    REQUIRE(blob);
    auto data = read_all(**blob, 1 << 20);
    REQUIRE(data);
    CHECK_FALSE(data->empty());
    CHECK((*source)->spooled_bytes().has_value());
  }
}

TEST_CASE("open_source: unknown transports and bare image names", "[sources]") {
  auto typo = oci::open_source("oci-achive:x.tar");
  REQUIRE_FALSE(typo);
  CHECK(typo.error().message ==
        "unknown transport \"oci-achive:\"; valid: docker://, docker-archive:, docker-daemon:, oci-archive:, oci:, dir:");
  auto scheme = oci::open_source("https://example.com/x");
  REQUIRE_FALSE(scheme);
  CHECK_THAT(scheme.error().message, Catch::StartsWith("unknown transport \"https:\""));
  auto name = oci::open_source("alpine:3.19");
  REQUIRE_FALSE(name);
  CHECK_THAT(name.error().message, Catch::EndsWith("(did you mean docker://alpine:3.19 or docker-daemon:alpine:3.19?)"));
  auto missing = oci::open_source("/nonexistent/dir/x.tar");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "no such file or directory: /nonexistent/dir/x.tar");
}

TEST_CASE("dir: one filesystem layer read through open_entries; index.json without oci-layout warns", "[sources]") {
  TempDir tmp;
  std::ofstream(tmp.path + "/index.json") << "{}";
  std::vector<std::string> warnings;
  oci::SourceOptions options;
  options.warn = [&](const std::string& w) { warnings.push_back(w); };
  auto source = oci::open_source(tmp.path, options);
  REQUIRE(source);
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Contains("has index.json but no oci-layout"));
  auto images = (*source)->images({});
  REQUIRE(images);
  REQUIRE(images->size() == 1);
  const oci::Image& image = (*images)[0];
  CHECK(image.filesystem);
  CHECK(image.transport == "dir");
  REQUIRE(image.layers.size() == 1);
  CHECK_FALSE((*source)->open_blob(image, image.layers[0]));
  auto entries = (*source)->open_entries(image, image.layers[0]);
  REQUIRE(entries);
  REQUIRE(*entries);
  auto first = (*entries)->next_entry();
  REQUIRE(first);
  REQUIRE(*first);
  CHECK((*first)->path == "/index.json");
}
