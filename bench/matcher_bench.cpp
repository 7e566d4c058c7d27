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

// Text cut into files, as the matcher sees it in a layer.
struct Corpus {
  std::string bytes;
  std::vector<std::size_t> file_sizes;
};

// Ordinary text: the C/C++ headers under /usr/include (always present where layerleak builds),
// repeated up to `bytes`, file by file. Real source text, no Scaleway literal in it.
Corpus clean_text(std::size_t bytes, const std::string& root) {
  Corpus corpus;
  std::string& out = corpus.bytes;
  out.reserve(bytes + 65536);
  std::error_code ec;
  while (out.size() < bytes) {
    const std::size_t before = out.size();
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         it != std::filesystem::recursive_directory_iterator() && out.size() < bytes; it.increment(ec)) {
      if (ec || !it->is_regular_file(ec)) continue;
      std::ifstream in(it->path(), std::ios::binary);
      const std::size_t start = out.size();
      out.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (out.size() > start) corpus.file_sizes.push_back(out.size() - start);
    }
    if (out.size() == before) break;
  }
  if (out.size() > bytes) {
    corpus.file_sizes.back() -= out.size() - bytes;
    out.resize(bytes);
  }
  return corpus;
}

// Lines dense with UUIDs under ID names (the shape of secret keys, but not secrets), in 64 KiB files.
Corpus uuid_text(std::size_t bytes, std::mt19937_64& rng) {
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
  Corpus corpus{std::move(out), {}};
  for (std::size_t left = corpus.bytes.size(); left > 0; left -= std::min<std::size_t>(left, 65536)) {
    corpus.file_sizes.push_back(std::min<std::size_t>(left, 65536));
  }
  return corpus;
}

// Every file of the corpus through begin/feed (256 KiB chunks)/finish under `path`; MB/s.
double measure(detect::DetectorSession& session, const Corpus& corpus, const char* path, std::size_t& findings) {
  constexpr std::size_t kChunk = 256 * 1024;
  findings = 0;
  const auto start = std::chrono::steady_clock::now();
  std::size_t offset = 0;
  for (std::size_t size : corpus.file_sizes) {
    session.begin(path);
    for (std::size_t i = 0; i < size; i += kChunk) {
      const std::size_t n = std::min(kChunk, size - i);
      if (!session.feed(std::span<const char>(corpus.bytes.data() + offset + i, n))) std::exit(2);
    }
    auto found = session.finish();
    if (!found) std::exit(2);
    findings += found->size();
    offset += size;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(corpus.bytes.size()) / 1e6 / seconds;
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
  const Corpus clean = clean_text(mib << 20, root);
  const Corpus dense = uuid_text(mib << 20, rng);
  // Under an ordinary path the prefilter gate decides which files reach the full matcher; under a
  // Scaleway CLI config path (a path anchor) every file does, which is the full matcher's own speed.
  std::printf("%-22s %8s %7s  %16s  %16s\n", "text", "MiB", "files", "gated MB/s", "full matcher MB/s");
  for (const auto& [name, corpus] : {std::pair{root.c_str(), &clean}, std::pair{"UUID-dense text", &dense}}) {
    double gated = 0, full = 0;
    std::size_t gated_findings = 0, full_findings = 0;
    for (int run = 0; run < 3; ++run) {
      gated = std::max(gated, measure(**session, *corpus, "/bench/file.txt", gated_findings));
      full = std::max(full, measure(**session, *corpus, "/root/.scwrc", full_findings));
    }
    std::printf("%-22s %8zu %7zu  %16.0f  %16.0f   (best of 3; findings %zu / %zu)\n", name, corpus->bytes.size() >> 20,
                corpus->file_sizes.size(), gated, full, gated_findings, full_findings);
  }
  return 0;
}
