// layerleak_fuzz_replay: runs the fuzz corpora and kept crash inputs through the fuzz targets, without
// libFuzzer, so any compiler and any preset can check them (CTest: fuzz.replay).
//
//   layerleak_fuzz_replay FUZZ_DIR                 every file of FUZZ_DIR/{corpus,regressions}/<target>/
//   layerleak_fuzz_replay FUZZ_DIR TARGET FILE...  just these files through one target
//
// A crash, sanitizer report or abort() fails the test; the line printed before it names the input.
// Exit 0 when all inputs ran, 2 on usage errors or when a target has no seeds (nothing skips silently).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int layerleak_fuzz_image_json(const std::uint8_t* data, std::size_t size);
extern "C" int layerleak_fuzz_image_source(const std::uint8_t* data, std::size_t size);
extern "C" int layerleak_fuzz_layer_stream(const std::uint8_t* data, std::size_t size);
extern "C" int layerleak_fuzz_rules_loader(const std::uint8_t* data, std::size_t size);
extern "C" int layerleak_fuzz_detector(const std::uint8_t* data, std::size_t size);
extern "C" int layerleak_fuzz_registry(const std::uint8_t* data, std::size_t size);
extern "C" int layerleak_fuzz_serve_wire(const std::uint8_t* data, std::size_t size);
extern "C" int layerleak_fuzz_layer_codec(const std::uint8_t* data, std::size_t size);
extern "C" int layerleak_fuzz_git_pack(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

struct Target {
  const char* name;
  int (*run)(const std::uint8_t*, std::size_t);
};

constexpr Target kTargets[] = {
    {"image_json", layerleak_fuzz_image_json},   {"image_source", layerleak_fuzz_image_source},
    {"layer_stream", layerleak_fuzz_layer_stream}, {"rules_loader", layerleak_fuzz_rules_loader},
    {"detector", layerleak_fuzz_detector},       {"registry", layerleak_fuzz_registry},
    {"serve_wire", layerleak_fuzz_serve_wire},   {"layer_codec", layerleak_fuzz_layer_codec},
    {"git_pack", layerleak_fuzz_git_pack},
};

bool run_file(const Target& target, const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "layerleak_fuzz_replay: cannot read %s\n", file.c_str());
    return false;
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::printf("fuzz_%s %s (%zu bytes)\n", target.name, file.c_str(), bytes.size());
  std::fflush(stdout);
  // A copy of exactly `size` bytes, so ASan sees reads past the end as libFuzzer would.
  std::vector<std::uint8_t> exact(bytes.begin(), bytes.end());
  target.run(exact.empty() ? nullptr : exact.data(), exact.size());
  return true;
}

// Regular files of `dir`, sorted; README files and dotfiles are documentation, not inputs.
std::vector<fs::path> inputs_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.empty() || name[0] == '.' || name.rfind("README", 0) == 0) continue;
    out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: layerleak_fuzz_replay FUZZ_DIR [TARGET FILE...]\n");
    return 2;
  }
  const fs::path root = argv[1];
  if (argc >= 3) {
    const Target* target = nullptr;
    for (const auto& t : kTargets) {
      if (std::strcmp(argv[2], t.name) == 0 || ("fuzz_" + std::string(t.name)) == argv[2]) target = &t;
    }
    if (target == nullptr) {
      std::fprintf(stderr, "layerleak_fuzz_replay: unknown target %s\n", argv[2]);
      return 2;
    }
    for (int i = 3; i < argc; ++i) {
      if (!run_file(*target, argv[i])) return 2;
    }
    return 0;
  }
  std::size_t total = 0;
  int status = 0;
  for (const auto& target : kTargets) {
    const auto seeds = inputs_in(root / "corpus" / target.name);
    const auto crashes = inputs_in(root / "regressions" / target.name);
    if (seeds.empty()) {
      std::fprintf(stderr, "layerleak_fuzz_replay: no seeds in %s\n", (root / "corpus" / target.name).c_str());
      status = 2;
    }
    for (const auto& file : seeds) status = run_file(target, file) ? status : 2;
    for (const auto& file : crashes) status = run_file(target, file) ? status : 2;
    total += seeds.size() + crashes.size();
  }
  std::printf("layerleak_fuzz_replay: %zu inputs replayed\n", total);
  return status;
}
