// fuzz_image_source: bytes -> a temporary file -> oci::open_source as docker-archive:, oci-archive:
// and auto-detected; images() with every platform and attestations; every layer blob read fully
// through open_blob (bounded), plus metadata_files. Image archives are plain tar, so seeds are small
// docker-archive/oci-archive tars made by layerleak_fixture_tool.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_entry.h"
#include "layerleak/oci.h"

namespace {

// One temp file per process, rewritten for every input. Its name never contains ':' (references are
// split at ':').
const std::string& temp_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = std::string(dir && *dir ? dir : "/tmp") + "/layerleak_fuzz_image_XXXXXX";
    int fd = ::mkstemp(pattern.data());
    if (fd < 0) std::abort();
    ::close(fd);
    std::atexit([] { ::unlink(temp_path().c_str()); });
    return pattern;
  }();
  return path;
}

void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

void exercise(const std::string& reference) {
  using namespace layerleak;
  auto source = oci::open_source(reference);
  if (!source) return;
  oci::SelectOptions options;
  options.all_platforms = true;
  options.include_attestations = true;
  auto images = (*source)->images(options);
  if (!images) return;
  // Why a budget: one blob may be named by many layers; reading is bounded per input, not per layer.
  std::size_t budget = 32 * 1024 * 1024;
  for (const auto& image : *images) {
    (void)oci::metadata_files(image);
    for (const auto& layer : image.layers) {
      auto blob = (*source)->open_blob(image, layer);
      if (!blob) continue;
      if (!fuzz::drain_bounded(**blob, budget)) return;
    }
  }
}

}  // namespace

LAYERLEAK_FUZZ_TARGET(image_source) {
  const std::string& path = temp_path();
  write_file(path, data, size);
  exercise("docker-archive:" + path);
  exercise("oci-archive:" + path);
  exercise(path);
  return 0;
}
