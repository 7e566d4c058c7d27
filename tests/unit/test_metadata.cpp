// Image metadata scanned as pseudo-files, and hardlinks: findings in config.Env, Labels, Cmd,
// Entrypoint, history created_by (BuildKit build args) and annotations; aliases and their visibility.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "fixture_builder.h"
#include "test_support.h"
#include "layerleak/pipeline.h"

using namespace layerleak;
namespace fx = layerleak::testing;

namespace {

report::ImageReport scan_image(const fx::ImageSpec& spec, const std::string& name) {
  const auto path = std::filesystem::temp_directory_path() / ("layerleak-metadata-" + name + ".tar");
  REQUIRE(fx::write_file(path.string(), fx::oci_archive({spec})));
  pipeline::ScanOptions options;
  auto result = pipeline::scan(path.string(), layerleak::testing::builtin_detector(), options);
  std::filesystem::remove(path);
  REQUIRE(result.images.size() == 1);
  for (const auto& e : result.images[0].errors) FAIL_CHECK(e.message);
  return result.images[0];
}

const report::Finding* find_field(const report::ImageReport& image, const std::string& field) {
  for (const auto& f : image.findings) {
    if (f.location.field == field) return &f;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("secrets in the image configuration and annotations are found with their field") {
  fx::ImageSpec spec;
  spec.env = {"PATH=/usr/bin", "SCW_SECRET_KEY=7d3e2a1b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"};
  spec.labels = {{"maintainer", "ops"}, {"scaleway.token", "8e4f3b2c-5d6e-4f7a-9b0c-1d2e3f4a5b6c"}};
  spec.cmd = {"/bin/sh", "-c", "curl -H 'X-Auth-Token: 9f5a4c3d-6e7f-4a8b-9c0d-1e2f3a4b5c6d' https://api.scaleway.com"};
  spec.entrypoint = {"/app/run", "--scw-secret-key", "0a6b5d4e-7f8a-4b9c-8d1e-2f3a4b5c6d7e"};
  spec.annotations = {{"org.example.deploy", "SCW_TOKEN=1b7c6e5f-8a9b-4c0d-9e2f-3a4b5c6d7e8f"}};
  spec.history = {{"RUN |1 SCW_SECRET_KEY=2c8d7f6a-9b0c-4d1e-8f3a-4b5c6d7e8f90 /bin/sh -c make", false, ""},
                  {"ENV X=1", true, ""}};
  fx::LayerSpec layer;
  layer.layer.file("app/run", "#!/bin/sh\n");
  spec.layers = {layer};
  auto image = scan_image(spec, "config");

  struct Expect {
    std::string field, kind, secret;
    std::uint64_t column;
  };
  for (const Expect& e : std::vector<Expect>{
           {"config.Env[1]", "config", "7d3e2a1b-4c5d-4e6f-8a9b-0c1d2e3f4a5b", 16},
           {"config.Labels.scaleway.token", "config", "8e4f3b2c-5d6e-4f7a-9b0c-1d2e3f4a5b6c", 16},
           {"config.Cmd", "config", "9f5a4c3d-6e7f-4a8b-9c0d-1e2f3a4b5c6d", 35},
           {"config.Entrypoint", "config", "0a6b5d4e-7f8a-4b9c-8d1e-2f3a4b5c6d7e", 27},
           {"manifest.annotations.org.example.deploy", "manifest", "1b7c6e5f-8a9b-4c0d-9e2f-3a4b5c6d7e8f", 30},
           {"history[0].created_by", "config", "2c8d7f6a-9b0c-4d1e-8f3a-4b5c6d7e8f90", 23},
       }) {
    INFO(e.field);
    const report::Finding* f = find_field(image, e.field);
    REQUIRE(f != nullptr);
    CHECK(f->rule_id == "scaleway.secret-key");
    CHECK(f->secret == e.secret);
    CHECK(f->location.kind == e.kind);
    CHECK(f->location.line == 1);
    CHECK(f->location.column == e.column);
    CHECK(f->visibility == "config");
    CHECK_FALSE(f->location.layer_index.has_value());
  }
  CHECK(image.findings.size() == 6);
  CHECK(image.labels.at("maintainer") == "ops");
  CHECK(image.annotations.count("org.example.deploy") == 1);
}

TEST_CASE("a hardlinked secret is reported once, on the target, with its aliases") {
  const std::string key = "SCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c\n";
  fx::ImageSpec spec;
  fx::LayerSpec base;
  base.layer.file("app/.env", key).hardlink("app/copy.env", "app/.env").hardlink("backup/.env", "app/.env");
  spec.layers = {base};

  SECTION("every name still there: runtime") {
    auto image = scan_image(spec, "hardlink-runtime");
    REQUIRE(image.findings.size() == 1);
    CHECK(image.findings[0].location.path == "/app/.env");
    CHECK(image.findings[0].aliases == std::vector<std::string>{"/app/copy.env", "/backup/.env"});
    CHECK(image.findings[0].visibility == "runtime");
  }
  SECTION("the target deleted but an alias left: still readable at runtime") {
    fx::LayerSpec remove;
    remove.layer.whiteout("app/.env").whiteout("app/copy.env");
    spec.layers.push_back(remove);
    auto image = scan_image(spec, "hardlink-alias-left");
    REQUIRE(image.findings.size() == 1);
    CHECK(image.findings[0].visibility == "runtime");
  }
  SECTION("every name deleted, one by an opaque directory: deleted") {
    fx::LayerSpec remove;
    remove.layer.whiteout("app/.env").whiteout("app/copy.env");
    fx::LayerSpec opaque;
    opaque.layer.opaque("backup").file("backup/new.txt", "new\n");
    spec.layers.push_back(remove);
    spec.layers.push_back(opaque);
    auto image = scan_image(spec, "hardlink-deleted");
    REQUIRE(image.findings.size() == 1);
    CHECK(image.findings[0].visibility == "deleted");
    CHECK(image.findings[0].hidden_by_layer == std::optional<std::size_t>(2));
  }
}
