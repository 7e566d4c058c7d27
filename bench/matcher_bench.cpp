// Matcher throughput: the detector alone (no decompression, no tar) over generated text, in MB/s.
// Not a test: prints figures for the closing notes and bench/README.md.
//
//   build/release/bench/layerleak_matcher_bench [MiB per corpus, default 256] [rules.yaml instead of the built-ins]
//   LAYERLEAK_BENCH_TEXT=DIR: take the ordinary text from DIR instead of /usr/include
#include <chrono>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "layerleak/detect.h"

using namespace layerleak;

namespace {

std::string uuid(std::mt19937_64& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx";
  for (char& c : s) {
    if (c == 'x') c = kHex[rng() % 16];
  }
  return s;
}

// Ordinary text: the C/C++ headers under /usr/include (always present where layerleak builds),
// repeated up to `bytes`. Real source text, no Scaleway literal in it.
std::string clean_text(std::size_t bytes, const std::string& root) {
  std::string out;
  out.reserve(bytes + 65536);
  std::error_code ec;
  while (out.size() < bytes) {
    const std::size_t before = out.size();
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         it != std::filesystem::recursive_directory_iterator() && out.size() < bytes; it.increment(ec)) {
      if (ec || !it->is_regular_file(ec)) continue;
      std::ifstream in(it->path(), std::ios::binary);
      out.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    if (out.size() == before) break;
  }
  out.resize(std::min(out.size(), bytes));
  return out;
}

// Lines dense with UUIDs under ID names (the shape of secret keys, but not secrets).
std::string uuid_text(std::size_t bytes, std::mt19937_64& rng) {
  static const char* kKeys[] = {"id", "project_id", "organization_id", "instance", "volume_id", "uuid", "ref"};
  std::string out;
  out.reserve(bytes + 128);
  while (out.size() < bytes) {
    out += kKeys[rng() % (sizeof(kKeys) / sizeof(*kKeys))];
    out += ": ";
    out += uuid(rng);
    out += ", parent ";
    out += uuid(rng);
    out += '\n';
  }
  return out;
}

double measure(detect::DetectorSession& session, const std::string& text, std::size_t& findings) {
  constexpr std::size_t kChunk = 256 * 1024;
  const auto start = std::chrono::steady_clock::now();
  session.begin("/bench.txt");
  for (std::size_t i = 0; i < text.size(); i += kChunk) {
    const std::size_t n = std::min(kChunk, text.size() - i);
    if (!session.feed(std::span<const char>(text.data() + i, n))) std::exit(2);
  }
  auto found = session.finish();
  if (!found) std::exit(2);
  findings = found->size();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(text.size()) / (1024.0 * 1024.0) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256;
  auto rules = rules::builtin_rules();
  if (argc > 2) {
    std::FILE* f = std::fopen(argv[2], "rb");
    if (!f) return std::fprintf(stderr, "cannot read %s\n", argv[2]), 2;
    std::string text;
    char buffer[65536];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, f)) > 0;) text.append(buffer, n);
    std::fclose(f);
    rules = rules::parse_rules(text, argv[2]);
  }
  if (!rules) return std::fprintf(stderr, "%s\n", rules.error().message.c_str()), 2;
  auto detector = detect::Detector::compile(std::move(rules).value());
  if (!detector) return std::fprintf(stderr, "%s\n", detector.error().message.c_str()), 2;
  auto session = detect::DetectorSession::create(*detector);
  if (!session) return 2;
  std::mt19937_64 rng(42);
  const char* text_dir = std::getenv("LAYERLEAK_BENCH_TEXT");
  const std::string root = text_dir ? text_dir : "/usr/include";
  const std::string clean = clean_text(mib << 20, root);
  const std::string dense = uuid_text(mib << 20, rng);
  for (const auto& [name, text] : {std::pair{root.c_str(), &clean}, std::pair{"UUID-dense text", &dense}}) {
    double best = 0;
    std::size_t findings = 0;
    for (int run = 0; run < 3; ++run) best = std::max(best, measure(**session, *text, findings));
    std::printf("%-16s %6zu MiB  %8.0f MB/s (best of 3)  findings %zu\n", name, text->size() >> 20, best, findings);
  }
  return 0;
}
