// Which entries of an image index are scanned (oci/src/image_json.h, internal to oci): attestation
// manifests are skipped only when they also have BuildKit's unknown/unknown platform, and an entry that a
// node could pick for its platform is never skipped silently because of its media type.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "image_json.h"

using namespace layerleak;
using nlohmann::json;

namespace {

std::string digest_of(char c) { return "sha256:" + std::string(64, c); }

json entry(char c, const std::string& media_type, const std::string& os, const std::string& arch, bool attestation = false) {
  json e = {{"mediaType", media_type}, {"digest", digest_of(c)}, {"size", 100}};
  if (!os.empty()) e["platform"] = {{"os", os}, {"architecture", arch}};
  if (attestation) e["annotations"] = {{"vnd.docker.reference.type", "attestation-manifest"}, {"vnd.docker.reference.digest", digest_of('a')}};
  return e;
}

Result<std::vector<std::pair<oci::Descriptor, std::string>>> selected(const json& index, bool all_platforms) {
  oci::SelectOptions options;
  options.all_platforms = all_platforms;
  std::vector<std::pair<oci::Descriptor, std::string>> found;
  const oci::DocumentFetcher fetch = [](const oci::Descriptor&, const std::string&) -> Result<std::string> {
    return make_error(Errc::not_found, "no nested documents here");
  };
  if (auto st = oci::collect_from_index(fetch, index, "test", options, "", 0, found); !st) return std::move(st).error();
  return oci::select_platform(std::move(found), options, "test");
}

constexpr const char* kOci = "application/vnd.oci.image.manifest.v1+json";

}  // namespace

TEST_CASE("an entry that only claims to be an attestation is still scanned when a node could run it") {
  json index = {{"schemaVersion", 2}, {"manifests", json::array({entry('b', kOci, "linux", "amd64", true), entry('a', kOci, "linux", "amd64")})}};
  for (bool all : {false, true}) {
    auto picked = selected(index, all);
    REQUIRE(picked);
    REQUIRE(picked->size() == 2);
    CHECK((*picked)[0].first.digest.str() == digest_of('b'));
  }
  // A real BuildKit attestation (unknown/unknown) is skipped.
  index["manifests"][0]["platform"] = {{"os", "unknown"}, {"architecture", "unknown"}};
  auto picked = selected(index, true);
  REQUIRE(picked);
  REQUIRE(picked->size() == 1);
  CHECK((*picked)[0].first.digest.str() == digest_of('a'));
}

TEST_CASE("an index entry of a type layerleak cannot read fails the scan when its platform is selected") {
  for (const std::string type : {"application/vnd.docker.distribution.manifest.v1+prettyjws", "application/vnd.oci.artifact.manifest.v1+json"}) {
    json index = {{"schemaVersion", 2}, {"manifests", json::array({entry('a', kOci, "linux", "amd64"), entry('b', type, "linux", "arm64")})}};
    auto all = selected(index, true);
    REQUIRE_FALSE(all);
    CHECK(all.error().code == Errc::unsupported);
    CHECK(all.error().message.find("linux/arm64") != std::string::npos);
    auto amd64 = selected(index, false);  // not selected for linux/amd64: the amd64 image alone
    REQUIRE(amd64);
    CHECK(amd64->size() == 1);
  }
  // Artifacts without a platform (signatures, SBOMs) are not images and are skipped.
  json artifacts = {{"schemaVersion", 2}, {"manifests", json::array({entry('a', kOci, "linux", "amd64"), entry('c', "application/vnd.dev.cosign.artifact.sig.v1+json", "", "")})}};
  auto picked = selected(artifacts, true);
  REQUIRE(picked);
  CHECK(picked->size() == 1);
}

TEST_CASE("media types are compared without case or parameters") {
  CHECK(oci::is_manifest_type("application/vnd.oci.image.manifest.v1+json"));
  CHECK(oci::is_manifest_type("Application/VND.OCI.Image.Manifest.v1+JSON"));
  CHECK(oci::is_manifest_type("application/vnd.oci.image.manifest.v1+json; charset=utf-8"));
  CHECK(oci::is_index_type("application/vnd.docker.distribution.manifest.list.v2+json ; x=y"));
  CHECK_FALSE(oci::is_manifest_type("application/vnd.oci.image.manifest.v1+jsonx"));
  json index = {{"schemaVersion", 2}, {"manifests", json::array({entry('a', "APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON", "linux", "arm64")})}};
  auto picked = selected(index, true);
  REQUIRE(picked);
  CHECK(picked->size() == 1);
}

TEST_CASE("a scan opens the largest layer first; ties and unknown sizes keep manifest order") {
  oci::Image image;
  for (std::int64_t size : {300, -1, 5000, 300, 5000, 0}) {
    oci::Layer layer;
    layer.index = image.layers.size();
    layer.blob.size = size;
    image.layers.push_back(layer);
  }
  CHECK(oci::layers_largest_first(image) == std::vector<std::size_t>{2, 4, 0, 3, 5, 1});
  CHECK(oci::layers_largest_first(oci::Image{}).empty());
}

TEST_CASE("a descriptor's size, when given, is a byte count") {
  const json base = {{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"}, {"digest", digest_of('b')}};
  json absent = base;
  auto unknown = oci::parse_descriptor(absent, "layer");
  REQUIRE(unknown);
  CHECK(unknown->size == -1);  // docker-archive's own descriptors carry none
  for (const json& size : {json(0), json(12345), json(std::uint64_t{INT64_MAX})}) {
    json d = base;
    d["size"] = size;
    auto parsed = oci::parse_descriptor(d, "layer");
    REQUIRE(parsed);
    CHECK(parsed->size == size.get<std::int64_t>());
  }
  for (const json& size : {json(-5), json(-1), json(1234.5), json(1e12), json("12"), json(nullptr),
                           json(std::uint64_t{INT64_MAX} + 1), json::parse("18446744073709551621")}) {
    json d = base;
    d["size"] = size;
    auto parsed = oci::parse_descriptor(d, "layer");
    INFO("size " << size.dump());
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == Errc::malformed);
    CHECK(parsed.error().message.find("is not a byte count") != std::string::npos);
  }
}
