// fuzz_detector: the built-in rules over arbitrary file contents, fed whole and in chunks. The
// detector promises that chunking never changes the result; any difference abort()s.
//
// Input layout: byte 0 picks the file path (path-based anchors such as ~/.config/scw/config.yaml);
// byte 1 is the number n (1..8) of chunk sizes that follow; bytes 2..2+n are the sizes (b*b/4+1, so
// 1..16257 bytes, cycled); the rest is the file content.
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_entry.h"
#include "layerleak/detect.h"
#include "layerleak/rules.h"

namespace {

using namespace layerleak;

struct Sessions {
  std::unique_ptr<detect::DetectorSession> whole;
  std::unique_ptr<detect::DetectorSession> chunked;
};

Sessions& sessions() {
  static Sessions s = [] {
    auto rules = rules::builtin_rules();
    if (!rules) {
      std::fprintf(stderr, "builtin rules: %s\n", rules.error().message.c_str());
      std::abort();
    }
    auto detector = detect::Detector::compile(std::move(rules).value());
    if (!detector) {
      std::fprintf(stderr, "compile: %s\n", detector.error().message.c_str());
      std::abort();
    }
    Sessions out;
    auto a = detect::DetectorSession::create(*detector);
    auto b = detect::DetectorSession::create(*detector);
    if (!a || !b) std::abort();
    out.whole = std::move(a).value();
    out.chunked = std::move(b).value();
    return out;
  }();
  return s;
}

std::string describe(const std::vector<detect::Detection>& found) {
  std::string out;
  for (const auto& d : found) {
    out += (d.rule ? d.rule->id : std::string("<null rule>")) + " offset=" + std::to_string(d.offset) +
           " line=" + std::to_string(d.line) + " col=" + std::to_string(d.column) +
           " severity=" + std::string(rules::severity_name(d.severity)) +
           " confidence=" + std::string(rules::confidence_name(d.confidence)) + " encoding=" + d.encoding +
           " secret=" + d.secret + " paired=" + d.paired_access_key + "\n";
  }
  return out;
}

constexpr const char* kPaths[] = {
    "/example",           "/root/.config/scw/config.yaml", "/app/.env", "/home/u/.kube/config",
    "/etc/scw/config.yaml", "/root/.scwrc",                 "/srv/node_modules/scaleway-sdk/test/recording.json",
    "/app/config.json",
};

}  // namespace

LAYERLEAK_FUZZ_TARGET(detector) {
  if (size < 3) return -1;
  const std::string path = kPaths[data[0] % (sizeof(kPaths) / sizeof(kPaths[0]))];
  const std::size_t count = 1 + data[1] % 8;
  if (size < 2 + count) return -1;
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < count; ++i) sizes.push_back(static_cast<std::size_t>(data[2 + i]) * data[2 + i] / 4 + 1);
  const std::string_view content(reinterpret_cast<const char*>(data) + 2 + count, size - 2 - count);

  Sessions& s = sessions();
  auto whole = s.whole->scan(path, content);
  if (!whole) std::abort();  // only a Hyperscan failure may fail, and it must not

  s.chunked->begin(path);
  std::size_t at = 0;
  for (std::size_t i = 0; at < content.size(); ++i) {
    const std::size_t n = std::min(sizes[i % sizes.size()], content.size() - at);
    if (!s.chunked->feed(std::span<const char>(content.data() + at, n))) std::abort();
    at += n;
  }
  auto chunked = s.chunked->finish();
  if (!chunked) std::abort();

  const std::string a = describe(*whole);
  const std::string b = describe(*chunked);
  if (a != b) {
    std::fprintf(stderr, "fuzz_detector: chunking changed the findings for %s\n--- whole:\n%s--- chunked:\n%s", path.c_str(),
                 a.c_str(), b.c_str());
    std::abort();
  }
  for (const auto& d : *whole) {
    if (d.offset > content.size() || d.line == 0 || d.column == 0) std::abort();
  }
  return 0;
}
