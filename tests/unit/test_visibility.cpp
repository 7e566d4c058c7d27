// Visibility model tests: whiteouts, opaque directories, overwrites, and same-layer rules.
#include <catch2/catch.hpp>

#include "layerleak/oci.h"

using namespace layerleak::oci;

namespace {
LayerChanges layer(std::initializer_list<std::pair<const char*, bool>> entries) {
  LayerChanges c;
  for (const auto& [path, dir] : entries) c.record(path, dir);
  return c;
}
}  // namespace

TEST_CASE("a whiteout in a later layer deletes the file") {
  FilesystemView view({layer({{"/app", true}, {"/app/.env", false}}), layer({{"/app/.wh..env", false}})});
  auto v = view.visibility(0, "/app/.env");
  CHECK(v.visibility == Visibility::deleted);
  CHECK(v.hidden_by_layer == 1u);
}

TEST_CASE("whiting out a directory deletes everything below it") {
  FilesystemView view({layer({{"/app/sub/.env", false}}), layer({}), layer({{"/.wh.app", false}})});
  auto v = view.visibility(0, "/app/sub/.env");
  CHECK(v.visibility == Visibility::deleted);
  CHECK(v.hidden_by_layer == 2u);
}

TEST_CASE("an opaque directory hides lower contents but not its own layer's") {
  FilesystemView view({layer({{"/app/.env", false}}), layer({{"/app/.wh..wh..opq", false}, {"/app/new", false}})});
  CHECK(view.visibility(0, "/app/.env").visibility == Visibility::deleted);
  CHECK(view.visibility(1, "/app/new").visibility == Visibility::runtime);
}

TEST_CASE("rewriting the path in a later layer overwrites it, even after a whiteout") {
  FilesystemView view({layer({{"/etc/conf", false}}), layer({{"/etc/.wh.conf", false}, {"/etc/conf", false}})});
  auto v = view.visibility(0, "/etc/conf");
  CHECK(v.visibility == Visibility::overwritten);
  CHECK(v.hidden_by_layer == 1u);
  CHECK(view.visibility(1, "/etc/conf").visibility == Visibility::runtime);
}

TEST_CASE("replacing a parent directory with a file deletes the files below") {
  FilesystemView view({layer({{"/opt/app", true}, {"/opt/app/key", false}}), layer({{"/opt/app", false}})});
  CHECK(view.visibility(0, "/opt/app/key").visibility == Visibility::deleted);
}

TEST_CASE("the first later layer that hides a file is the one reported") {
  FilesystemView view({layer({{"/k", false}}), layer({{"/k", false}}), layer({{"/.wh.k", false}})});
  auto v = view.visibility(0, "/k");
  CHECK(v.visibility == Visibility::overwritten);
  CHECK(v.hidden_by_layer == 1u);
  auto w = view.visibility(1, "/k");
  CHECK(w.visibility == Visibility::deleted);
  CHECK(w.hidden_by_layer == 2u);
}

TEST_CASE("whiteout markers themselves are recognised and a bare .wh. deletes nothing") {
  CHECK(is_whiteout("/app/.wh..env"));
  CHECK(is_whiteout("/app/.wh..wh..opq"));
  CHECK_FALSE(is_whiteout("/app/.env"));
  FilesystemView view({layer({{"/app/x", false}}), layer({{"/app/.wh.", false}})});
  CHECK(view.visibility(0, "/app/x").visibility == Visibility::runtime);
}

TEST_CASE("platforms parse and match") {
  auto p = Platform::parse("linux/arm64/v8");
  REQUIRE(p);
  CHECK(p->str() == "linux/arm64/v8");
  CHECK(Platform{"linux", "arm64", "v8"}.matches(Platform{"linux", "arm64", ""}));
  CHECK_FALSE(Platform{"linux", "amd64", ""}.matches(Platform{"linux", "arm64", ""}));
  CHECK_FALSE(Platform::parse("linux"));
}
