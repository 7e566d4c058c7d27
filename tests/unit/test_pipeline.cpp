// Pipeline tests over images made in-process by the fixture builder, in every container format.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <tuple>

#include "fixture_builder.h"
#include "test_support.h"
#include "layerleak/pipeline.h"

using namespace layerleak;
namespace fx = layerleak::testing;

namespace {

const std::string kSecret = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c";
const std::string kAccess = "SCW0RE86AB2CD4EF6GH8";

using layerleak::testing::TempDir;

// The demo image: a secret added, deleted by a later layer, an overwritten file, a clean layer.
fx::ImageSpec leaky_image(fx::Compression compression) {
  fx::ImageSpec spec;
  spec.repo_tags = {"example/app:latest"};
  fx::LayerSpec base;
  base.compression = compression;
  base.created_by = "COPY . /app";
  base.layer.dir("app").file("app/.env", "# settings\nSCW_ACCESS_KEY=" + kAccess + "\nSCW_SECRET_KEY=" + kSecret + "\n")
      .file("app/settings.env", "SCW_SECRET_KEY=" + kSecret + "\n").file("app/main.py", "print('hello')\n");
  fx::LayerSpec remove;
  remove.compression = compression;
  remove.created_by = "RUN rm /app/.env";
  remove.layer.whiteout("app/.env").file("app/settings.env", "SCW_SECRET_KEY=${SCW_SECRET_KEY}\n");
  fx::LayerSpec clean;
  clean.compression = compression;
  clean.created_by = "COPY motd /etc/motd";
  clean.layer.file("etc/motd", "welcome\n");
  spec.layers = {base, remove, clean};
  spec.history = {{"FROM scratch", true, ""}, {"COPY . /app", false, ""}, {"ENV X=1", true, ""},
                  {"RUN rm /app/.env", false, ""}, {"COPY motd /etc/motd", false, ""}};
  return spec;
}

using Row = std::tuple<std::string, std::size_t, std::string, std::uint64_t, std::uint64_t, std::string,
                       std::optional<std::size_t>, std::string>;

std::vector<Row> rows(const report::ImageReport& image) {
  std::vector<Row> out;
  for (const auto& f : image.findings) {
    out.emplace_back(f.rule_id, f.location.layer_index.value_or(99), f.location.path, f.location.line,
                     f.location.column, f.visibility, f.hidden_by_layer, f.location.diff_id);
  }
  return out;
}

report::ScanReport scan(const std::string& reference, unsigned jobs = 2) {
  pipeline::ScanOptions options;
  options.jobs = jobs;
  return pipeline::scan(reference, layerleak::testing::builtin_detector(), options);
}

}  // namespace

TEST_CASE("the same image gives the same findings in every container format and compression") {
  TempDir dir;
  std::vector<std::pair<std::string, std::string>> references;
  for (auto compression : {fx::Compression::gzip, fx::Compression::zstd, fx::Compression::none}) {
    const std::string tag = std::to_string(static_cast<int>(compression));
    auto spec = leaky_image(compression);
    REQUIRE(fx::write_file(dir.file("oci-" + tag + ".tar"), fx::oci_archive({spec})));
    REQUIRE(fx::write_oci_layout({spec}, dir.file("layout-" + tag)));
    REQUIRE(fx::write_file(dir.file("v25-" + tag + ".tar"), fx::docker_archive_v25({spec})));
    references.emplace_back("oci-archive:" + dir.file("oci-" + tag + ".tar"), "oci-archive");
    references.emplace_back("oci:" + dir.file("layout-" + tag), "oci");
    references.emplace_back(dir.file("v25-" + tag + ".tar"), "docker-archive");
  }
  REQUIRE(fx::write_file(dir.file("legacy.tar"), fx::docker_archive_legacy({leaky_image(fx::Compression::none)})));
  references.emplace_back("docker-archive:" + dir.file("legacy.tar"), "docker-archive");

  const auto expected = std::vector<Row>{};
  std::optional<std::vector<Row>> first;
  for (const auto& [reference, transport] : references) {
    INFO(reference);
    auto result = scan(reference);
    REQUIRE(result.images.size() == 1);
    const auto& image = result.images[0];
    for (const auto& e : image.errors) FAIL_CHECK(e.message);
    CHECK(image.complete);
    CHECK(image.transport == transport);
    CHECK(image.layers.size() == 3);
    auto got = rows(image);
    REQUIRE(got.size() == 3);
    // /app/.env: access key + secret key in layer 0, deleted by layer 1.
    CHECK(std::get<0>(got[0]) == "scaleway.access-key");
    CHECK(std::get<2>(got[0]) == "/app/.env");
    CHECK(std::get<3>(got[0]) == 2);
    CHECK(std::get<4>(got[0]) == 16);
    CHECK(std::get<5>(got[0]) == "deleted");
    CHECK(std::get<6>(got[0]) == std::optional<std::size_t>(1));
    CHECK(std::get<0>(got[1]) == "scaleway.secret-key");
    CHECK(std::get<3>(got[1]) == 3);
    // /app/settings.env: rewritten by layer 1 without the key.
    CHECK(std::get<2>(got[2]) == "/app/settings.env");
    CHECK(std::get<5>(got[2]) == "overwritten");
    CHECK(image.findings[1].paired_access_key == kAccess);
    CHECK(image.findings[1].location.created_by == "COPY . /app");
    CHECK(image.layers[0].history_index == std::optional<std::size_t>(1));
    CHECK(image.layers[1].created_by == "RUN rm /app/.env");
    CHECK(image.layers[2].history_index == std::optional<std::size_t>(4));
    // Findings agree across formats (the diffID too: it names the uncompressed content).
    if (!first) first = got;
    CHECK(got == *first);
  }
}

TEST_CASE("a secret straddling the layer reader's 256 KiB read boundary is found at the right place") {
  TempDir dir;
  fx::ImageSpec spec;
  fx::LayerSpec layer;
  layer.compression = fx::Compression::none;
  // Tar data starts after one 512-byte header, so put the key across 256 KiB of the stream.
  std::string content(300 * 1024, '.');
  for (std::size_t i = 100; i < content.size(); i += 100) content[i] = '\n';
  const std::size_t at = 256 * 1024 - 512 - 20;
  const std::string key = "\nSCW_SECRET_KEY=" + kSecret + "\n";
  content.replace(at, key.size(), key);
  layer.layer.file("big.txt", content);
  spec.layers = {layer};
  REQUIRE(fx::write_file(dir.file("big.tar"), fx::oci_archive({spec})));
  auto result = scan("oci-archive:" + dir.file("big.tar"));
  REQUIRE(result.images.size() == 1);
  REQUIRE(result.images[0].findings.size() == 1);
  const auto& f = result.images[0].findings[0];
  CHECK(f.location.offset == at + 16);
  CHECK(f.location.column == 16);
  CHECK(f.secret == kSecret);
  CHECK(f.visibility == "runtime");
}

TEST_CASE("a clean image has no findings and is complete") {
  TempDir dir;
  fx::ImageSpec spec;
  fx::LayerSpec layer;
  layer.layer.file("etc/os-release", "ID=debian\n").file("app/config.yaml", "project_id: 6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c\n");
  spec.layers = {layer};
  REQUIRE(fx::write_file(dir.file("clean.tar"), fx::oci_archive({spec})));
  auto result = scan(dir.file("clean.tar"));
  REQUIRE(result.images.size() == 1);
  CHECK(result.images[0].findings.empty());
  CHECK(result.complete());
  CHECK(result.images[0].entries == 2);
}

TEST_CASE("several images in one docker-archive are all scanned unless a REF picks one") {
  TempDir dir;
  auto a = leaky_image(fx::Compression::gzip);
  a.repo_tags = {"example/a:1"};
  fx::ImageSpec b;
  b.repo_tags = {"example/b:2"};
  fx::LayerSpec layer;
  layer.layer.file("b.env", "SCW_SECRET_KEY=" + kSecret + "\n");
  b.layers = {layer};
  REQUIRE(fx::write_file(dir.file("two.tar"), fx::docker_archive_v25({a, b})));
  auto both = scan("docker-archive:" + dir.file("two.tar"));
  REQUIRE(both.images.size() == 2);
  CHECK(both.images[0].findings.size() == 3);
  CHECK(both.images[1].findings.size() == 1);
  CHECK(both.images[1].tags == std::vector<std::string>{"example/b:2"});
  auto one = scan("docker-archive:" + dir.file("two.tar") + ":example/b:2");
  REQUIRE(one.images.size() == 1);
  CHECK(one.images[0].findings.size() == 1);
  auto none = scan("docker-archive:" + dir.file("two.tar") + ":example/c:3");
  CHECK_FALSE(none.complete());
}

TEST_CASE("two docker-archive entries with the same tag are two images, each with its own layers") {
  // A hand-made or hostile manifest.json: the first image has three layers, the second one, both tagged
  // alike. Each is scanned from its own layer files and named so that it can be selected again.
  TempDir dir;
  auto a = leaky_image(fx::Compression::gzip);
  a.repo_tags = {"example/same:1"};
  fx::ImageSpec b;
  b.repo_tags = {"example/same:1"};
  fx::LayerSpec layer;
  layer.layer.file("b.env", "SCW_SECRET_KEY=" + kSecret + "\n");
  b.layers = {layer};
  for (const auto& [name, bytes] : {std::pair{"legacy.tar", fx::docker_archive_legacy({a, b})},
                                    std::pair{"v25.tar", fx::docker_archive_v25({a, b})}}) {
    INFO(name);
    REQUIRE(fx::write_file(dir.file(name), bytes));
    const std::string archive = "docker-archive:" + dir.file(name);
    auto both = scan(archive, 2);
    REQUIRE(both.images.size() == 2);
    for (const auto& image : both.images) {
      for (const auto& e : image.errors) FAIL_CHECK(e.message);
    }
    CHECK(both.images[0].layers.size() == 3);
    CHECK(both.images[0].findings.size() == 3);
    CHECK(both.images[1].layers.size() == 1);
    CHECK(both.images[1].findings.size() == 1);
    CHECK(both.images[0].reference == archive + ":example/same:1");
    CHECK(both.images[1].reference == archive + ":@1");
    auto second = scan(both.images[1].reference, 1);
    REQUIRE(second.images.size() == 1);
    CHECK(second.images[0].complete);
    CHECK(second.images[0].findings.size() == 1);
  }
}

TEST_CASE("a multi-platform index scans linux/amd64 by default, another platform on request") {
  TempDir dir;
  auto amd = leaky_image(fx::Compression::gzip);
  fx::ImageSpec arm;
  arm.architecture = "arm64";
  arm.repo_tags = {"example/app:latest"};
  fx::LayerSpec layer;
  layer.layer.file("arm.env", "SCW_SECRET_KEY=" + kSecret + "\n");
  arm.layers = {layer};
  fx::ContainerOptions nested;
  nested.nested_index = true;
  REQUIRE(fx::write_file(dir.file("multi.tar"), fx::oci_archive({amd, arm}, nested)));
  auto result = scan(dir.file("multi.tar"));
  REQUIRE(result.images.size() == 1);
  CHECK(result.images[0].platform == "linux/amd64");
  pipeline::ScanOptions options;
  options.select.platform = oci::Platform{"linux", "arm64", ""};
  auto arm_result = pipeline::scan(dir.file("multi.tar"), layerleak::testing::builtin_detector(), options);
  REQUIRE(arm_result.images.size() == 1);
  CHECK(arm_result.images[0].platform == "linux/arm64");
  REQUIRE(arm_result.images[0].findings.size() == 1);
  CHECK(arm_result.images[0].findings[0].location.path == "/arm.env");
  options.select.all_platforms = true;
  CHECK(pipeline::scan(dir.file("multi.tar"), layerleak::testing::builtin_detector(), options).images.size() == 2);
  options.select.all_platforms = false;
  options.select.platform = oci::Platform{"linux", "s390x", ""};
  auto missing = pipeline::scan(dir.file("multi.tar"), layerleak::testing::builtin_detector(), options);
  CHECK_FALSE(missing.complete());
  REQUIRE(missing.images.size() == 1);
  CHECK(missing.images[0].errors[0].message.find("linux/arm64") != std::string::npos);
}

TEST_CASE("bad layers fail closed, name the image and layer, and keep the other layers' findings") {
  TempDir dir;
  struct Case {
    const char* name;
    fx::ContainerOptions options;
    std::size_t bad_layer;
    const char* expect;
  };
  std::vector<Case> cases;
  cases.push_back({"missing blob", {.drop_first_layer_blob = true}, 0, "missing"});
  cases.push_back({"corrupt blob", {.corrupt_last_layer_blob = true}, 2, ""});
  cases.push_back({"wrong diff_id", {.wrong_diff_id = true}, 2, "diffID"});
  cases.push_back({"truncated blob", {.truncate_last_layer_blob = true}, 2, ""});
  for (const auto& c : cases) {
    for (auto compression : {fx::Compression::gzip, fx::Compression::zstd, fx::Compression::none}) {
      INFO(c.name << " compression " << static_cast<int>(compression));
      auto spec = leaky_image(compression);
      const std::string path = dir.file(std::string(c.name) + std::to_string(static_cast<int>(compression)) + ".tar");
      REQUIRE(fx::write_file(path, fx::oci_archive({spec}, c.options)));
      auto result = scan("oci-archive:" + path);
      REQUIRE(result.images.size() == 1);
      const auto& image = result.images[0];
      CHECK_FALSE(image.complete);
      REQUIRE(image.errors.size() == 1);
      CHECK(image.errors[0].layer_index == std::optional<std::size_t>(c.bad_layer));
      CHECK(image.errors[0].message.find("layer " + std::to_string(c.bad_layer)) != std::string::npos);
      CHECK(image.errors[0].message.find("oci-archive:" + path) != std::string::npos);
      CHECK(image.errors[0].message.find(c.expect) != std::string::npos);
      CHECK_FALSE(image.layers[c.bad_layer].complete);
      if (c.bad_layer != 0) {
        CHECK(image.findings.size() == 3);  // layer 0 was read completely
      }
    }
  }
}

TEST_CASE("a path that is no image, or does not exist, is an error naming it") {
  TempDir dir;
  REQUIRE(fx::write_file(dir.file("notes.txt"), "just some text, not a tar\n"));
  auto text = scan(dir.file("notes.txt"));
  REQUIRE(text.images.size() == 1);
  CHECK_FALSE(text.complete());
  CHECK(text.images[0].errors[0].message.find("notes.txt") != std::string::npos);
  auto missing = scan(dir.file("nope.tar"));
  CHECK_FALSE(missing.complete());
  CHECK(missing.images[0].errors[0].code == "not_found");
  REQUIRE(fx::write_file(dir.file("plain.tar"), fx::tar_of({{"hello.txt", "hi"}})));
  auto plain = scan(dir.file("plain.tar"));
  CHECK_FALSE(plain.complete());
  CHECK(plain.images[0].errors[0].message.find("not a container image") != std::string::npos);
}

TEST_CASE("a layer that is not a tar is an error, not a pass") {
  TempDir dir;
  auto spec = leaky_image(fx::Compression::gzip);
  spec.layers[2].tar_override = std::string(2048, 'z');
  REQUIRE(fx::write_file(dir.file("notar.tar"), fx::oci_archive({spec})));
  auto result = scan(dir.file("notar.tar"));
  REQUIRE(result.images.size() == 1);
  CHECK_FALSE(result.images[0].complete);
  CHECK(result.images[0].findings.size() == 3);
}

TEST_CASE("dir: scans a plain root filesystem") {
  TempDir dir;
  std::filesystem::create_directories(dir.path / "root/home/app/.config/scw");
  REQUIRE(fx::write_file(dir.file("root/home/app/.env"), "SCW_SECRET_KEY=" + kSecret + "\n"));
  auto result = scan("dir:" + dir.file("root"));
  REQUIRE(result.images.size() == 1);
  REQUIRE(result.images[0].findings.size() == 1);
  CHECK(result.images[0].findings[0].location.path == "/home/app/.env");
  CHECK(result.images[0].findings[0].location.kind == "file");
  CHECK(result.complete());
}

TEST_CASE("output order does not depend on the number of workers") {
  TempDir dir;
  auto spec = leaky_image(fx::Compression::gzip);
  for (int i = 0; i < 6; ++i) {
    fx::LayerSpec extra;
    extra.layer.file("extra/" + std::to_string(i) + ".env", "SCW_SECRET_KEY=" + kSecret + "\n");
    spec.layers.push_back(extra);
  }
  spec.history.clear();
  REQUIRE(fx::write_file(dir.file("many.tar"), fx::oci_archive({spec})));
  auto one = scan(dir.file("many.tar"), 1);
  auto four = scan(dir.file("many.tar"), 4);
  REQUIRE(one.images.size() == 1);
  CHECK(rows(one.images[0]) == rows(four.images[0]));
  CHECK(one.images[0].findings.size() == 9);
}

TEST_CASE("the first layer opened while resolving is scanned as the scan would have opened it") {
  TempDir dir;
  auto spec = leaky_image(fx::Compression::gzip);
  spec.layers[2].layer.file("var/big.bin", std::string(3u << 20, 'x'));  // the largest layer: read first
  REQUIRE(fx::write_file(dir.file("image.tar"), fx::oci_archive({spec})));
  REQUIRE(fx::write_file(dir.file("truncated.tar"), fx::oci_archive({spec}, {.truncate_last_layer_blob = true})));
  const auto detector = layerleak::testing::builtin_detector();

  auto scan_resolved = [&](const std::string& reference, unsigned prefetch, bool opened) {
    pipeline::ScanOptions options;
    options.jobs = 2;
    options.select.prefetch_layers = prefetch;
    pipeline::Resolved resolved = pipeline::resolve(reference, options);
    CHECK((resolved.first_layer != nullptr) == opened);
    pipeline::Progress last;
    options.on_progress = [&](const pipeline::Progress& p) { last = p; };
    auto report = pipeline::scan(std::move(resolved), detector, options);
    // Every compressed byte is counted once, those read before the scan had its meter too.
    CHECK(last.bytes_done == last.bytes_total);
    CHECK(last.layers_done == 3);
    return report;
  };
  auto cold = scan_resolved("oci-archive:" + dir.file("image.tar"), 0, false);
  auto warm = scan_resolved("oci-archive:" + dir.file("image.tar"), 1, true);
  REQUIRE(warm.images.size() == 1);
  CHECK(warm.images[0].complete);
  CHECK(rows(warm.images[0]) == rows(cold.images[0]));
  CHECK(warm.images[0].findings.size() == 3);
  for (std::size_t l = 0; l < 3; ++l) {
    CHECK(warm.images[0].layers[l].diff_id == cold.images[0].layers[l].diff_id);
    CHECK(warm.images[0].layers[l].bytes_scanned == cold.images[0].layers[l].bytes_scanned);
  }

  // The layer opened first is the one whose blob is cut short: its error is reported, with its index.
  auto broken = scan_resolved("oci-archive:" + dir.file("truncated.tar"), 1, true);
  REQUIRE(broken.images.size() == 1);
  CHECK_FALSE(broken.images[0].complete);
  REQUIRE(broken.images[0].errors.size() == 1);
  CHECK(broken.images[0].errors[0].layer_index == std::optional<std::size_t>(2));
  CHECK(broken.images[0].findings.size() == 3);

  // Resolved and dropped unscanned (the rules failed to load): its reading threads stop.
  for (int i = 0; i < 3; ++i) {
    pipeline::ScanOptions options;
    options.select.prefetch_layers = 1;
    pipeline::Resolved resolved = pipeline::resolve("oci-archive:" + dir.file("image.tar"), options);
    CHECK(resolved.first_layer != nullptr);
  }
}
