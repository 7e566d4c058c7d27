// Small helpers shared by the Catch2 unit tests: the compiled built-in rules and temporary directories.
// Not responsible for building images (fixture_builder.h does that).
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "layerleak/detect.h"

namespace layerleak::testing {

// The built-in rules, compiled once per test binary.
inline std::shared_ptr<const detect::Detector> builtin_detector() {
  static std::shared_ptr<const detect::Detector> compiled = [] {
    auto rules = rules::builtin_rules();
    REQUIRE(rules);
    auto d = detect::Detector::compile(std::move(rules).value());
    REQUIRE(d);
    return std::move(d).value();
  }();
  return compiled;
}

// A fresh directory under the system temp dir, removed with everything in it when destroyed.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "layerleak-test-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace layerleak::testing
