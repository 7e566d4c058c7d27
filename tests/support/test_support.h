// Small helpers shared by the Catch2 unit tests: the compiled built-in rules, temporary directories, and
// reading and scanning corpus files in chunks.
// Not responsible for building images (fixture_builder.h does that).
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

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

// A distinct, well-formed Scaleway secret key per index, so that every finding can be traced to the file
// that holds it.
inline std::string numbered_secret_key(unsigned i) {
  char tail[16];
  std::snprintf(tail, sizeof tail, "%04x", i & 0xffffu);
  return std::string("6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d") + tail;
}

// Deterministic bytes that no compressor shrinks much (xorshift32 from `seed`).
inline std::string incompressible_bytes(std::size_t n, std::uint32_t seed = 12345) {
  std::string out(n, '\0');
  std::uint32_t x = seed;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return out;
}

// A file's bytes, whole.
inline std::string read_file_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// `bytes` scanned as the file `path`, fed in pieces of `chunk` bytes (0: whole).
// `mark_last`: the final piece is fed as the file's last (DetectorSession::feed), as the pipeline does.
inline std::vector<detect::Detection> scan_in_chunks(detect::DetectorSession& session, const std::string& path,
                                                     std::string_view bytes, std::size_t chunk, bool mark_last = false) {
  session.begin(path);
  const std::size_t step = chunk == 0 ? std::max<std::size_t>(bytes.size(), 1) : chunk;
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    const std::string_view piece = bytes.substr(at, step);
    auto fed = session.feed(std::span<const char>(piece.data(), piece.size()), mark_last && at + step >= bytes.size());
    REQUIRE(fed);
  }
  auto found = session.finish();
  REQUIRE(found);
  return std::move(found).value();
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
  // Writes `content` (any bytes) to a file of the directory; returns its path.
  std::string write(const std::string& name, std::string_view content) const {
    const std::string target = file(name);
    std::FILE* f = std::fopen(target.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(content.data(), 1, content.size(), f) == content.size());
    std::fclose(f);
    return target;
  }
};

}  // namespace layerleak::testing
