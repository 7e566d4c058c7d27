// Tests of the fixture builder: every container it writes is read back with libarchive's read API and
// checked for the facts a scanner relies on (paths, types, digests, diffIDs, media types, magic bytes),
// and every hostile knob is checked to really produce the mismatch it promises.
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>  // mkdtemp

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "fixture_builder.h"

namespace lt = layerleak::testing;
using nlohmann::json;

namespace {

struct ReadFree {
  void operator()(archive* a) const noexcept { archive_read_free(a); }
};

// Decompresses (gzip, zstd or nothing) with libarchive's raw format reader. Fails the test on error.
std::string decompress(std::string_view blob) {
  std::unique_ptr<archive, ReadFree> a(archive_read_new());
  REQUIRE(a);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());
  REQUIRE(archive_read_open_memory(a.get(), blob.data(), blob.size()) == ARCHIVE_OK);
  archive_entry* e = nullptr;
  REQUIRE(archive_read_next_header(a.get(), &e) == ARCHIVE_OK);
  std::string out;
  char buffer[8192];
  for (;;) {
    la_ssize_t n = archive_read_data(a.get(), buffer, sizeof buffer);
    REQUIRE(n >= 0);
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

// True when libarchive can decompress the whole blob without an error.
bool decompresses_cleanly(std::string_view blob) {
  std::unique_ptr<archive, ReadFree> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());
  if (archive_read_open_memory(a.get(), blob.data(), blob.size()) != ARCHIVE_OK) return false;
  archive_entry* e = nullptr;
  if (archive_read_next_header(a.get(), &e) != ARCHIVE_OK) return false;
  char buffer[8192];
  for (;;) {
    la_ssize_t n = archive_read_data(a.get(), buffer, sizeof buffer);
    if (n < 0) return false;
    if (n == 0) return true;
  }
}

using Files = std::map<std::string, std::string>;

Files files_of(const lt::ArchiveListing& listing) {
  Files files;
  for (const auto& e : listing.entries) {
    if (e.type == '0') files[e.path] = e.content;
  }
  return files;
}

Files list_tar(std::string_view tar) {
  auto listing = lt::read_archive(tar);
  REQUIRE(listing.ok());
  return files_of(*listing);
}

std::string hex(const std::string& digest) { return digest.substr(digest.find(':') + 1); }

bool starts_with_bytes(std::string_view s, std::string_view magic) { return s.substr(0, magic.size()) == magic; }

const std::string kGzipMagic("\x1f\x8b", 2);
const std::string kZstdMagic("\x28\xb5\x2f\xfd", 4);

lt::ImageSpec sample_image() {
  lt::ImageSpec image;
  image.repo_tags = {"example/app:latest"};
  image.env = {"PATH=/usr/bin", "SCW_DEFAULT_REGION=fr-par"};
  image.labels = {{"maintainer", "ops"}};
  lt::LayerSpec base;
  base.created_by = "ADD rootfs.tar /";
  base.compression = lt::Compression::gzip;
  base.layer.dir("app").file("app/.env", "SCW_SECRET_KEY=00000000-0000-0000-0000-000000000000\n", 0600);
  lt::LayerSpec top;
  top.created_by = "RUN rm /app/.env";
  top.compression = lt::Compression::zstd;
  top.layer.whiteout("app/.env").file("app/config.yaml", "region: fr-par\n");
  image.layers = {base, top};
  return image;
}

// Checks one OCI layout (from any container): every blob is named by its sha256, the index points at
// manifests that exist, and each manifest's config and layers exist with matching digests, sizes and
// diffIDs. `blob_at` maps a digest to the file path holding it. Returns the manifests found.
std::vector<json> check_oci_layout(const Files& files, const std::string& blob_prefix) {
  REQUIRE(files.count("oci-layout") == 1);
  CHECK(json::parse(files.at("oci-layout")) == json{{"imageLayoutVersion", "1.0.0"}});
  for (const auto& [path, content] : files) {
    if (path.rfind(blob_prefix, 0) == 0) CHECK(path == blob_prefix + lt::sha256_hex(content));
  }
  REQUIRE(files.count("index.json") == 1);
  json index = json::parse(files.at("index.json"));
  CHECK(index["schemaVersion"] == 2);
  CHECK(index["mediaType"] == "application/vnd.oci.image.index.v1+json");
  std::vector<json> manifests;
  for (const auto& d : index["manifests"]) {
    std::string path = blob_prefix + hex(d["digest"]);
    REQUIRE(files.count(path) == 1);
    const std::string& bytes = files.at(path);
    CHECK(d["size"] == bytes.size());
    json m = json::parse(bytes);
    CHECK(m["schemaVersion"] == 2);
    std::string config_path = blob_prefix + hex(m["config"]["digest"]);
    REQUIRE(files.count(config_path) == 1);
    CHECK(m["config"]["size"] == files.at(config_path).size());
    json config = json::parse(files.at(config_path));
    CHECK(d["platform"]["os"] == config["os"]);
    CHECK(d["platform"]["architecture"] == config["architecture"]);
    REQUIRE(m["layers"].size() == config["rootfs"]["diff_ids"].size());
    for (std::size_t i = 0; i < m["layers"].size(); ++i) {
      const json& layer = m["layers"][i];
      std::string layer_path = blob_prefix + hex(layer["digest"]);
      REQUIRE(files.count(layer_path) == 1);
      const std::string& blob = files.at(layer_path);
      CHECK(layer["size"] == blob.size());
      CHECK(lt::sha256_digest(decompress(blob)) == config["rootfs"]["diff_ids"][i]);
    }
    manifests.push_back(m);
  }
  return manifests;
}

std::string make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "layerleak-fixture-XXXXXX").string();
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("layer tar holds every kind of entry in insertion order", "[fixture]") {
  lt::LayerBuilder layer;
  layer.dir("app")
      .file("app/.env", "SCW_SECRET_KEY=x\n", 0600)
      .file("./app/dot.txt", "dot")
      .symlink("app/link", ".env")
      .hardlink("app/hard", "app/.env")
      .whiteout("app/old")
      .opaque("app/cache");
  std::string tar = layer.tar();
  REQUIRE(!tar.empty());
  CHECK(tar.size() % 512 == 0);
  CHECK(tar.size() < 10240);  // not padded to libarchive's default block
  CHECK(layer.tar() == tar);  // deterministic

  auto listing = lt::read_archive(tar);
  REQUIRE(listing.ok());
  CHECK(listing->filter == "none");
  const auto& e = listing->entries;
  REQUIRE(e.size() == 7);
  CHECK(e[0].path == "app/");
  CHECK(e[0].type == '5');
  CHECK(e[0].mode == 0755);
  CHECK(e[1].path == "app/.env");
  CHECK(e[1].type == '0');
  CHECK(e[1].content == "SCW_SECRET_KEY=x\n");
  CHECK(e[1].mode == 0600);
  CHECK(e[2].path == "./app/dot.txt");  // written as given
  CHECK(e[3].path == "app/link");
  CHECK(e[3].type == '2');
  CHECK(e[3].link == ".env");
  CHECK(e[4].path == "app/hard");
  CHECK(e[4].type == '1');
  CHECK(e[4].link == "app/.env");
  CHECK(e[4].content.empty());
  CHECK(e[5].path == "app/.wh.old");
  CHECK(e[5].type == '0');
  CHECK(e[6].path == "app/cache/.wh..wh..opq");
  for (const auto& entry : e) {
    CHECK(entry.mtime == 0);
    CHECK(entry.uid == 0);
    CHECK(entry.gid == 0);
  }
}

TEST_CASE("fixture builder whiteout and opaque names", "[fixture]") {
  CHECK(lt::whiteout_name("app/.env") == "app/.wh..env");
  CHECK(lt::whiteout_name("a/b/c") == "a/b/.wh.c");
  CHECK(lt::whiteout_name("top") == ".wh.top");
  CHECK(lt::whiteout_name("./app/x") == "./app/.wh.x");
  CHECK(lt::whiteout_name("app/dir/") == "app/.wh.dir");
  CHECK(lt::opaque_name("app") == "app/.wh..wh..opq");
  CHECK(lt::opaque_name("app/") == "app/.wh..wh..opq");
  CHECK(lt::opaque_name("") == ".wh..wh..opq");

  lt::LayerBuilder layer;
  layer.whiteout("etc/secret").opaque("var/lib").whiteout("root");
  auto listing = lt::read_archive(layer.tar());
  REQUIRE(listing.ok());
  REQUIRE(listing->entries.size() == 3);
  CHECK(listing->entries[0].path == "etc/.wh.secret");
  CHECK(listing->entries[1].path == "var/lib/.wh..wh..opq");
  CHECK(listing->entries[2].path == ".wh.root");
  for (const auto& e : listing->entries) {
    CHECK(e.type == '0');
    CHECK(e.content.empty());
  }
}

TEST_CASE("raw entries keep hostile name bytes exactly", "[fixture][hostile]") {
  const std::string invalid_utf8("app/\xff\xfe.env", 10);
  const std::string exactly_100(100, 'n');  // fills the name field: no NUL terminator
  const std::string long_name = "deep/" + std::string(250, 'd') + "/.env";
  lt::LayerBuilder layer;
  layer.file("before.txt", "1")
      .raw_entry("../../etc/passwd", "root:x:0:0\n")
      .raw_entry("/abs/path", "abs")
      .raw_entry(invalid_utf8, "bytes")
      .raw_entry(exactly_100, "hundred")
      .raw_entry(lt::RawEntry{long_name, '0', "long", {}, 0644, true, std::nullopt})
      .raw_entry(lt::RawEntry{"evil-link", '2', {}, "../../../etc/shadow", 0777, false, std::nullopt})
      .file("after.txt", "2");
  std::string tar = layer.tar();
  CHECK(tar.size() % 512 == 0);
  auto listing = lt::read_archive(tar);
  REQUIRE(listing.ok());
  const auto& e = listing->entries;
  REQUIRE(e.size() == 8);
  CHECK(e[0].path == "before.txt");
  CHECK(e[1].path == "../../etc/passwd");
  CHECK(e[1].content == "root:x:0:0\n");
  CHECK(e[2].path == "/abs/path");
  CHECK(e[3].path == invalid_utf8);
  CHECK(e[3].content == "bytes");
  CHECK(e[4].path == exactly_100);
  CHECK(e[4].content == "hundred");
  CHECK(e[5].path == long_name);
  CHECK(e[5].content == "long");
  CHECK(e[6].type == '2');
  CHECK(e[6].link == "../../../etc/shadow");
  CHECK(e[7].path == "after.txt");
  CHECK(e[7].content == "2");
}

TEST_CASE("raw entry with a lying size breaks the tar stream", "[fixture][hostile]") {
  lt::LayerBuilder layer;
  layer.raw_entry(lt::RawEntry{"big", '0', "short", {}, 0644, false, std::uint64_t{1} << 20});
  auto listing = lt::read_archive(layer.tar());
  CHECK_FALSE(listing.ok());
  if (!listing.ok()) CHECK(listing.error().code == layerleak::Errc::malformed);
}

TEST_CASE("fixture compression: magic bytes and round trip and determinism", "[fixture]") {
  std::string data;
  for (int i = 0; i < 5000; ++i) data += "line " + std::to_string(i) + " SCW_ACCESS_KEY=SCW0123456789ABCDEFG\n";

  std::string gz = lt::compress(data, lt::Compression::gzip);
  REQUIRE(gz.size() > 10);
  CHECK(starts_with_bytes(gz, kGzipMagic));
  CHECK(gz.substr(4, 4) == std::string(4, '\0'));  // no mtime in the gzip header
  CHECK(gz.size() < data.size());
  CHECK(decompress(gz) == data);
  CHECK(lt::compress(data, lt::Compression::gzip) == gz);

  std::string zs = lt::compress(data, lt::Compression::zstd);
  CHECK(starts_with_bytes(zs, kZstdMagic));
  CHECK(zs.size() < data.size());
  CHECK(decompress(zs) == data);

  CHECK(lt::compress(data, lt::Compression::none) == data);
  // Empty input: a complete 20-byte gzip member (libarchive's raw reader refuses empty data, so check bytes).
  std::string empty_gz = lt::compress("", lt::Compression::gzip);
  CHECK(empty_gz.size() == 20);
  CHECK(starts_with_bytes(empty_gz, kGzipMagic));
  CHECK(empty_gz.substr(12) == std::string(8, '\0'));  // CRC32 0, ISIZE 0
  CHECK(lt::sha256_digest("") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(lt::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("build_image: config and manifest and digests and diffIDs agree", "[fixture]") {
  lt::ImageSpec spec = sample_image();
  spec.variant = "v8";
  spec.architecture = "arm64";
  spec.cmd = {"/app/run"};
  spec.annotations = {{"org.opencontainers.image.source", "https://example.invalid/app"}};
  spec.history = {{"ADD rootfs.tar /", false, {}},
                  {"ARG SCW_SECRET_KEY", true, {}},
                  {"RUN rm /app/.env", false, "cleanup"}};
  lt::BuiltImage image = lt::build_image(spec);

  REQUIRE(image.layer_blobs.size() == 2);
  CHECK(starts_with_bytes(image.layer_blobs[0], kGzipMagic));
  CHECK(starts_with_bytes(image.layer_blobs[1], kZstdMagic));
  CHECK(image.layer_media_types[0] == "application/vnd.oci.image.layer.v1.tar+gzip");
  CHECK(image.layer_media_types[1] == "application/vnd.oci.image.layer.v1.tar+zstd");
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(image.layer_digests[i] == lt::sha256_digest(image.layer_blobs[i]));
    CHECK(image.diff_ids[i] == lt::sha256_digest(decompress(image.layer_blobs[i])));
    CHECK(image.diff_ids[i] == lt::sha256_digest(image.layer_tars[i]));
    CHECK(image.diff_ids[i] != image.layer_digests[i]);
  }
  auto top = lt::read_archive(image.layer_blobs[1]);
  REQUIRE(top.ok());
  CHECK(top->filter == "zstd");
  REQUIRE(top->find("app/.wh..env") != nullptr);
  REQUIRE(top->find("app/config.yaml") != nullptr);

  CHECK(image.config_digest == lt::sha256_digest(image.config));
  json config = json::parse(image.config);
  CHECK(config["architecture"] == "arm64");
  CHECK(config["os"] == "linux");
  CHECK(config["variant"] == "v8");
  CHECK(config["config"]["Env"] == json{"PATH=/usr/bin", "SCW_DEFAULT_REGION=fr-par"});
  CHECK(config["config"]["Labels"] == json{{"maintainer", "ops"}});
  CHECK(config["config"]["Cmd"] == json{"/app/run"});
  CHECK(config["rootfs"]["type"] == "layers");
  CHECK(config["rootfs"]["diff_ids"] == json(image.diff_ids));
  REQUIRE(config["history"].size() == 3);
  CHECK(config["history"][1]["created_by"] == "ARG SCW_SECRET_KEY");
  CHECK(config["history"][1]["empty_layer"] == true);
  CHECK_FALSE(config["history"][0].contains("empty_layer"));
  CHECK(config["history"][2]["comment"] == "cleanup");

  CHECK(image.manifest_digest == lt::sha256_digest(image.manifest));
  json manifest = json::parse(image.manifest);
  CHECK(manifest["schemaVersion"] == 2);
  CHECK(manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json");
  CHECK(manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json");
  CHECK(manifest["config"]["digest"] == image.config_digest);
  CHECK(manifest["config"]["size"] == image.config.size());
  REQUIRE(manifest["layers"].size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(manifest["layers"][i]["digest"] == image.layer_digests[i]);
    CHECK(manifest["layers"][i]["size"] == image.layer_blobs[i].size());
    CHECK(manifest["layers"][i]["mediaType"] == image.layer_media_types[i]);
  }
  CHECK(manifest["annotations"]["org.opencontainers.image.source"] == "https://example.invalid/app");

  // Same spec, same bytes.
  CHECK(lt::build_image(spec).manifest_digest == image.manifest_digest);
}

TEST_CASE("build_image: default history and uncompressed and docker media types", "[fixture]") {
  lt::ImageSpec spec = sample_image();
  spec.layers[0].compression = lt::Compression::none;
  spec.docker_media_types = true;
  lt::BuiltImage image = lt::build_image(spec);
  json config = json::parse(image.config);
  REQUIRE(config["history"].size() == 2);
  CHECK(config["history"][0]["created_by"] == "ADD rootfs.tar /");
  CHECK(config["history"][1]["created_by"] == "RUN rm /app/.env");
  CHECK_FALSE(config.contains("variant"));
  CHECK(image.layer_digests[0] == image.diff_ids[0]);  // uncompressed: blob is the tar
  CHECK(image.layer_media_types[0] == "application/vnd.docker.image.rootfs.diff.tar");
  CHECK(image.layer_media_types[1] == "application/vnd.docker.image.rootfs.diff.tar.zstd");
  json manifest = json::parse(image.manifest);
  CHECK(manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json");
  CHECK(manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json");
}

TEST_CASE("oci archive: layout and index and blobs and shared layers stored once", "[fixture]") {
  lt::ImageSpec amd = sample_image();
  lt::ImageSpec arm = sample_image();
  arm.architecture = "arm64";
  arm.variant = "v8";
  arm.repo_tags = {"example/app:arm", "registry.local:5000/example/app:v2"};
  arm.layers[1].layer.file("app/arm-only", "x");
  std::string tar = lt::oci_archive({amd, arm});
  CHECK(lt::oci_archive({amd, arm}) == tar);

  auto listing = lt::read_archive(tar);
  REQUIRE(listing.ok());
  Files files = files_of(*listing);
  // The base layer is identical in both images: one blob file, one tar entry.
  std::string base_path = "blobs/sha256/" + hex(lt::build_image(amd).layer_digests[0]);
  int base_count = 0;
  for (const auto& e : listing->entries) base_count += e.path == base_path ? 1 : 0;
  CHECK(base_count == 1);
  REQUIRE(listing->find("blobs/") != nullptr);
  CHECK(listing->find("blobs/")->type == '5');

  auto manifests = check_oci_layout(files, "blobs/sha256/");
  REQUIRE(manifests.size() == 3);  // amd: 1 tag, arm: 2 tags
  json index = json::parse(files.at("index.json"));
  CHECK(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest");
  CHECK(index["manifests"][0]["platform"] == json{{"architecture", "amd64"}, {"os", "linux"}});
  CHECK(index["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"] == "arm");
  CHECK(index["manifests"][2]["annotations"]["org.opencontainers.image.ref.name"] == "v2");
  CHECK(index["manifests"][2]["platform"]["variant"] == "v8");
  CHECK(index["manifests"][1]["digest"] == index["manifests"][2]["digest"]);
  CHECK(index["manifests"][0]["digest"] != index["manifests"][1]["digest"]);
  CHECK_FALSE(index["manifests"][0]["annotations"].contains("io.containerd.image.name"));

  // The layers decompress to the entries asked for.
  auto top = lt::read_archive(files.at("blobs/sha256/" + hex(manifests[1]["layers"][1]["digest"])));
  REQUIRE(top.ok());
  CHECK(top->filter == "zstd");
  REQUIRE(top->find("app/arm-only") != nullptr);
  CHECK(top->find("app/.wh..env") != nullptr);
}

TEST_CASE("oci archive: untagged image has no annotations", "[fixture]") {
  lt::ImageSpec spec = sample_image();
  spec.repo_tags.clear();
  Files files = list_tar(lt::oci_archive({spec}));
  json index = json::parse(files.at("index.json"));
  REQUIRE(index["manifests"].size() == 1);
  CHECK_FALSE(index["manifests"][0].contains("annotations"));
}

TEST_CASE("oci layout directory matches the oci archive", "[fixture]") {
  lt::ImageSpec spec = sample_image();
  std::string dir = make_temp_dir();
  REQUIRE(lt::write_oci_layout({spec}, dir).ok());
  Files from_dir;
  for (const auto& p : std::filesystem::recursive_directory_iterator(dir)) {
    if (p.is_regular_file()) {
      from_dir[std::filesystem::relative(p.path(), dir).string()] = slurp(p.path());
    }
  }
  CHECK(from_dir == list_tar(lt::oci_archive({spec})));
  auto manifests = check_oci_layout(from_dir, "blobs/sha256/");
  CHECK(manifests.size() == 1);
  std::filesystem::remove_all(dir);

  auto bad = lt::write_oci_layout({spec}, "/proc/definitely/not/writable");
  CHECK_FALSE(bad.ok());
}

TEST_CASE("docker archive legacy: uncompressed layers and manifest last", "[fixture]") {
  lt::ImageSpec spec = sample_image();  // layers asked as gzip and zstd: legacy ignores that
  lt::ImageSpec other = sample_image();
  other.repo_tags = {"example/other:1.0"};
  other.layers.pop_back();
  std::string tar = lt::docker_archive_legacy({spec, other});
  auto listing = lt::read_archive(tar);
  REQUIRE(listing.ok());
  const auto& entries = listing->entries;
  REQUIRE(entries.size() >= 3);
  CHECK(entries[entries.size() - 2].path == "manifest.json");
  CHECK(entries.back().path == "repositories");
  Files files = files_of(*listing);

  json manifest = json::parse(files.at("manifest.json"));
  REQUIRE(manifest.is_array());
  REQUIRE(manifest.size() == 2);
  CHECK(manifest[0]["RepoTags"] == json{"example/app:latest"});
  CHECK(manifest[1]["RepoTags"] == json{"example/other:1.0"});
  // The shared base layer is stored once.
  CHECK(manifest[0]["Layers"][0] == manifest[1]["Layers"][0]);
  int layer_tars = 0;
  for (const auto& e : entries) layer_tars += e.path.size() > 10 && e.path.ends_with("/layer.tar") ? 1 : 0;
  CHECK(layer_tars == 2);

  for (const auto& image : manifest) {
    std::string config_name = image["Config"];
    REQUIRE(files.count(config_name) == 1);
    CHECK(config_name == lt::sha256_hex(files.at(config_name)) + ".json");
    json config = json::parse(files.at(config_name));
    REQUIRE(image["Layers"].size() == config["rootfs"]["diff_ids"].size());
    for (std::size_t i = 0; i < image["Layers"].size(); ++i) {
      std::string path = image["Layers"][i];
      REQUIRE(files.count(path) == 1);
      const std::string& layer = files.at(path);
      CHECK_FALSE(starts_with_bytes(layer, kGzipMagic));
      CHECK_FALSE(starts_with_bytes(layer, kZstdMagic));
      CHECK(lt::sha256_digest(layer) == config["rootfs"]["diff_ids"][i]);
      CHECK(path == hex(config["rootfs"]["diff_ids"][i]) + "/layer.tar");
      auto inner = lt::read_archive(layer);
      REQUIRE(inner.ok());
      CHECK(inner->filter == "none");
    }
  }
  // Layer 1 of the first image carries the whiteout.
  auto top = lt::read_archive(files.at(manifest[0]["Layers"][1]));
  REQUIRE(top.ok());
  CHECK(top->find("app/.wh..env") != nullptr);

  // Same config as the OCI build: diff_ids do not depend on compression.
  CHECK(hex(lt::build_image(spec).config_digest) + ".json" == manifest[0]["Config"]);

  json repositories = json::parse(files.at("repositories"));
  CHECK(repositories["example/app"]["latest"] == std::string(manifest[0]["Layers"][1]).substr(0, 64));
  CHECK(repositories["example/other"]["1.0"] == std::string(manifest[1]["Layers"][0]).substr(0, 64));
}

TEST_CASE("docker archive v25: OCI layout plus manifest.json into blobs", "[fixture]") {
  lt::ImageSpec spec = sample_image();
  lt::ImageSpec untagged = sample_image();
  untagged.repo_tags.clear();
  untagged.env.push_back("EXTRA=1");
  std::string tar = lt::docker_archive_v25({spec, untagged});
  auto listing = lt::read_archive(tar);
  REQUIRE(listing.ok());
  Files files = files_of(*listing);
  auto manifests = check_oci_layout(files, "blobs/sha256/");
  REQUIRE(manifests.size() == 2);
  json index = json::parse(files.at("index.json"));
  CHECK(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest");
  CHECK(index["manifests"][0]["annotations"]["io.containerd.image.name"] == "example/app:latest");

  json manifest = json::parse(files.at("manifest.json"));
  REQUIRE(manifest.size() == 2);
  CHECK(manifest[0]["RepoTags"] == json{"example/app:latest"});
  CHECK(manifest[1]["RepoTags"].is_null());
  for (std::size_t n = 0; n < 2; ++n) {
    std::string config_path = manifest[n]["Config"];
    CHECK(config_path.rfind("blobs/sha256/", 0) == 0);
    REQUIRE(files.count(config_path) == 1);
    CHECK(config_path == "blobs/sha256/" + hex(manifests[n]["config"]["digest"]));
    json config = json::parse(files.at(config_path));
    REQUIRE(manifest[n]["Layers"].size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
      std::string path = manifest[n]["Layers"][i];
      REQUIRE(files.count(path) == 1);
      CHECK(path == "blobs/sha256/" + lt::sha256_hex(files.at(path)));
      CHECK(lt::sha256_digest(decompress(files.at(path))) == config["rootfs"]["diff_ids"][i]);
    }
    CHECK(starts_with_bytes(files.at(manifest[n]["Layers"][0]), kGzipMagic));
    CHECK(starts_with_bytes(files.at(manifest[n]["Layers"][1]), kZstdMagic));
  }
  CHECK(files.count("oci-layout") == 1);
  CHECK(json::parse(files.at("repositories"))["example/app"]["latest"] ==
        std::string(manifest[0]["Layers"][1]).substr(13));
}

TEST_CASE("hostile: drop_first_layer_blob leaves a dangling reference", "[fixture][hostile]") {
  lt::ContainerOptions options;
  options.drop_first_layer_blob = true;
  lt::BuiltImage image = lt::build_image(sample_image());
  std::string dropped = "blobs/sha256/" + hex(image.layer_digests[0]);

  Files oci = list_tar(lt::oci_archive({sample_image()}, options));
  json manifest = json::parse(oci.at("blobs/sha256/" + hex(image.manifest_digest)));
  CHECK(manifest["layers"][0]["digest"] == image.layer_digests[0]);
  CHECK(oci.count(dropped) == 0);
  CHECK(oci.count("blobs/sha256/" + hex(image.layer_digests[1])) == 1);

  Files v25 = list_tar(lt::docker_archive_v25({sample_image()}, options));
  CHECK(json::parse(v25.at("manifest.json"))[0]["Layers"][0] == dropped);
  CHECK(v25.count(dropped) == 0);

  Files legacy = list_tar(lt::docker_archive_legacy({sample_image()}, options));
  std::string legacy_path = hex(image.diff_ids[0]) + "/layer.tar";
  CHECK(json::parse(legacy.at("manifest.json"))[0]["Layers"][0] == legacy_path);
  CHECK(legacy.count(legacy_path) == 0);
  CHECK(legacy.count(hex(image.diff_ids[0]) + "/VERSION") == 1);
}

TEST_CASE("hostile: corrupt_last_layer_blob keeps size and breaks digest", "[fixture][hostile]") {
  lt::ContainerOptions options;
  options.corrupt_last_layer_blob = true;
  lt::BuiltImage good = lt::build_image(sample_image());
  lt::BuiltImage bad = lt::build_image(sample_image(), options);
  CHECK(bad.manifest == good.manifest);  // declared digests and sizes are the pristine ones
  CHECK(bad.layer_blobs[0] == good.layer_blobs[0]);
  REQUIRE(bad.layer_blobs[1].size() == good.layer_blobs[1].size());
  CHECK(bad.layer_blobs[1] != good.layer_blobs[1]);
  CHECK(lt::sha256_digest(bad.layer_blobs[1]) != bad.layer_digests[1]);

  Files oci = list_tar(lt::oci_archive({sample_image()}, options));
  std::string path = "blobs/sha256/" + hex(good.layer_digests[1]);
  REQUIRE(oci.count(path) == 1);
  CHECK(path != "blobs/sha256/" + lt::sha256_hex(oci.at(path)));

  // Legacy: the uncompressed layer.tar no longer hashes to its diffID.
  Files legacy = list_tar(lt::docker_archive_legacy({sample_image()}, options));
  json manifest = json::parse(legacy.at("manifest.json"));
  json config = json::parse(legacy.at(manifest[0]["Config"]));
  CHECK(lt::sha256_digest(legacy.at(manifest[0]["Layers"][1])) != config["rootfs"]["diff_ids"][1]);
  CHECK(lt::sha256_digest(legacy.at(manifest[0]["Layers"][0])) == config["rootfs"]["diff_ids"][0]);
}

TEST_CASE("hostile: wrong_diff_id keeps the blob valid and breaks the diffID", "[fixture][hostile]") {
  lt::ContainerOptions options;
  options.wrong_diff_id = true;
  Files oci = list_tar(lt::oci_archive({sample_image()}, options));
  json index = json::parse(oci.at("index.json"));
  json manifest = json::parse(oci.at("blobs/sha256/" + hex(index["manifests"][0]["digest"])));
  json config = json::parse(oci.at("blobs/sha256/" + hex(manifest["config"]["digest"])));
  const std::string& last = oci.at("blobs/sha256/" + hex(manifest["layers"][1]["digest"]));
  CHECK(lt::sha256_digest(last) == manifest["layers"][1]["digest"]);  // blob digest is fine
  CHECK(decompresses_cleanly(last));
  CHECK(lt::sha256_digest(decompress(last)) != config["rootfs"]["diff_ids"][1]);
  const std::string& first = oci.at("blobs/sha256/" + hex(manifest["layers"][0]["digest"]));
  CHECK(lt::sha256_digest(decompress(first)) == config["rootfs"]["diff_ids"][0]);
}

TEST_CASE("hostile: truncate_last_layer_blob matches its digest but does not decompress", "[fixture][hostile]") {
  lt::ContainerOptions options;
  options.truncate_last_layer_blob = true;
  for (auto c : {lt::Compression::gzip, lt::Compression::zstd, lt::Compression::none}) {
    lt::ImageSpec spec = sample_image();
    spec.layers[1].compression = c;
    for (int i = 0; i < 50; ++i) spec.layers[1].layer.file("pad/" + std::to_string(i), std::string(300, 'p'));
    lt::BuiltImage good = lt::build_image(spec);
    lt::BuiltImage bad = lt::build_image(spec, options);
    CHECK(bad.layer_blobs[1].size() == good.layer_blobs[1].size() / 2);
    CHECK(bad.layer_digests[1] == lt::sha256_digest(bad.layer_blobs[1]));
    CHECK(bad.diff_ids[1] == good.diff_ids[1]);
    auto listing = lt::read_archive(bad.layer_blobs[1]);
    CHECK_FALSE(listing.ok());  // truncated stream or truncated tar
    if (c != lt::Compression::none) CHECK_FALSE(decompresses_cleanly(bad.layer_blobs[1]));
  }
}

TEST_CASE("hostile: nested index", "[fixture][hostile]") {
  lt::ContainerOptions options;
  options.nested_index = true;
  lt::ImageSpec arm = sample_image();
  arm.architecture = "arm64";
  Files oci = list_tar(lt::oci_archive({sample_image(), arm}, options));
  json index = json::parse(oci.at("index.json"));
  REQUIRE(index["manifests"].size() == 2);  // both tags point at the nested index
  for (const auto& d : index["manifests"]) {
    CHECK(d["mediaType"] == "application/vnd.oci.image.index.v1+json");
    CHECK(d["annotations"]["org.opencontainers.image.ref.name"] == "latest");
  }
  const std::string& nested_bytes = oci.at("blobs/sha256/" + hex(index["manifests"][0]["digest"]));
  CHECK(index["manifests"][0]["size"] == nested_bytes.size());
  json nested = json::parse(nested_bytes);
  REQUIRE(nested["manifests"].size() == 2);
  CHECK(nested["manifests"][0]["platform"]["architecture"] == "amd64");
  CHECK(nested["manifests"][1]["platform"]["architecture"] == "arm64");
  for (const auto& d : nested["manifests"]) {
    CHECK(oci.count("blobs/sha256/" + hex(d["digest"])) == 1);
  }
}

TEST_CASE("fixture spec: JSON builds the same image as the C++ API", "[fixture][spec]") {
  const char* text = R"({
    "images": [{
      "repo_tags": ["example/app:latest"],
      "env": ["PATH=/usr/bin", "SCW_DEFAULT_REGION=fr-par"],
      "labels": {"maintainer": "ops"},
      "layers": [
        {"compression": "gzip", "created_by": "ADD rootfs.tar /", "entries": [
          {"type": "dir", "path": "app"},
          {"type": "file", "path": "app/.env", "content": "SCW_SECRET_KEY=00000000-0000-0000-0000-000000000000\n", "mode": 384}]},
        {"compression": "zstd", "created_by": "RUN rm /app/.env", "entries": [
          {"type": "whiteout", "path": "app/.env"},
          {"type": "file", "path": "app/config.yaml", "content": "region: fr-par\n"}]}]
    }],
    "options": {"wrong_diff_id": true}
  })";
  auto spec = lt::parse_fixture_spec(text);
  REQUIRE(spec.ok());
  CHECK(spec->options.wrong_diff_id);
  CHECK_FALSE(spec->options.drop_first_layer_blob);
  lt::ContainerOptions options;
  options.wrong_diff_id = true;
  CHECK(lt::oci_archive(spec->images, spec->options) == lt::oci_archive({sample_image()}, options));
}

TEST_CASE("fixture spec: every entry type and base64 and repeat", "[fixture][spec]") {
  const char* text = R"({"images": [{"history": [{"created_by": "ARG X", "empty_layer": true}],
    "os": "linux", "architecture": "arm", "variant": "v7", "docker_media_types": true,
    "layers": [{"compression": "none", "entries": [
      {"type": "file", "path": "bin", "content_base64": "AP8BAg=="},
      {"type": "file", "path": "big", "content": "ab", "repeat": 3},
      {"type": "symlink", "path": "s", "target": "bin"},
      {"type": "hardlink", "path": "h", "target": "bin"},
      {"type": "opaque", "path": "etc"},
      {"type": "raw", "name_base64": "ZXZpbC//", "content": "r", "typeflag": "0"}]}]}]})";
  auto spec = lt::parse_fixture_spec(text);
  REQUIRE(spec.ok());
  REQUIRE(spec->images.size() == 1);
  const auto& image = spec->images[0];
  CHECK(image.variant == "v7");
  CHECK(image.docker_media_types);
  REQUIRE(image.history.size() == 1);
  CHECK(image.history[0].empty_layer);
  auto listing = lt::read_archive(image.layers[0].layer.tar());
  REQUIRE(listing.ok());
  const auto& e = listing->entries;
  REQUIRE(e.size() == 6);
  CHECK(e[0].content == std::string("\x00\xff\x01\x02", 4));
  CHECK(e[1].content == "ababab");
  CHECK(e[2].type == '2');
  CHECK(e[3].type == '1');
  CHECK(e[4].path == "etc/.wh..wh..opq");
  CHECK(e[5].path == std::string("evil/\xff", 6));
  CHECK(lt::build_image(image).layer_media_types[0] == "application/vnd.docker.image.rootfs.diff.tar");
}

TEST_CASE("fixture spec: bad specs are rejected with a message", "[fixture][spec]") {
  auto rejects = [](const char* text, const char* fragment) {
    auto spec = lt::parse_fixture_spec(text);
    REQUIRE_FALSE(spec.ok());
    CHECK(spec.error().code == layerleak::Errc::invalid_argument);
    INFO(spec.error().message);
    CHECK(spec.error().message.find(fragment) != std::string::npos);
  };
  rejects("{", "not valid JSON");
  rejects(R"({"images": []})", "non-empty");
  rejects(R"({"images": [{"layers": [{"compression": "brotli"}]}]})", "gzip, zstd or none");
  rejects(R"({"images": [{"layers": [{"entries": [{"type": "fifo", "path": "p"}]}]}]})", "unknown entry type");
  rejects(R"({"images": [{"layers": [{"entries": [{"type": "file"}]}]}]})", "missing \"path\"");
  rejects(R"({"images": [{"layers": [{"entries": [{"type": "file", "path": "a", "contents": "x"}]}]}]})",
          "unknown key \"contents\"");
  rejects(R"({"images": [{}], "options": {"corupt_last_layer_blob": true}})", "unknown key");
  rejects(R"({"images": [{"env": "A=1"}]})", "images[0].env");
  rejects(R"({"images": [{"layers": [{"entries": [{"type": "file", "path": "a", "content_base64": "!!"}]}]}]})",
          "base64");
  rejects(R"({"images": [{"layers": [{"entries": [{"type": "dir", "path": "a", "mode": 99999}]}]}]})",
          "out of range");
}

TEST_CASE("write_container writes each format and rejects unknown ones", "[fixture][spec]") {
  lt::FixtureSpec spec{{sample_image()}, {}};
  std::string dir = make_temp_dir();
  for (const char* format : {"oci-archive", "docker-archive-legacy", "docker-archive-v25"}) {
    std::string out = dir + "/" + format + ".tar";
    REQUIRE(lt::write_container(spec, format, out).ok());
    Files files = list_tar(slurp(out));
    CHECK((files.count("index.json") == 1 || files.count("manifest.json") == 1));
  }
  CHECK(slurp(dir + "/oci-archive.tar") == lt::oci_archive(spec.images));
  REQUIRE(lt::write_container(spec, "oci-dir", dir + "/layout").ok());
  CHECK(std::filesystem::exists(dir + "/layout/index.json"));
  CHECK(std::filesystem::exists(dir + "/layout/oci-layout"));
  auto bad = lt::write_container(spec, "docker-archive", dir + "/x");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == layerleak::Errc::invalid_argument);
  std::filesystem::remove_all(dir);
}

TEST_CASE("fixture builder split_repo_tag", "[fixture]") {
  CHECK(lt::split_repo_tag("example/app:latest") == std::pair<std::string, std::string>{"example/app", "latest"});
  CHECK(lt::split_repo_tag("reg:5000/app:1.0") == std::pair<std::string, std::string>{"reg:5000/app", "1.0"});
  CHECK(lt::split_repo_tag("reg:5000/app") == std::pair<std::string, std::string>{"reg:5000/app", "latest"});
  CHECK(lt::split_repo_tag("app") == std::pair<std::string, std::string>{"app", "latest"});
}
