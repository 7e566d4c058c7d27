// fuzz_layer_stream: bytes -> a layer blob: open_decompressor (gzip/zstd/none by magic) -> open_tar ->
// every entry and all its data; then the same bytes as a file found inside a layer: sniff_nested,
// open_nested_memory (zip needs memory) and open_nested over a stream.
//
// Bounds: decompressed bytes and entries per input are capped here, because a few bytes of zstd or
// gzip legitimately expand to gigabytes (the pipeline's ratio limit lives above this library).
#include <string>
#include <string_view>

#include "fuzz_entry.h"
#include "layerleak/archive.h"

namespace {

using namespace layerleak;

constexpr std::size_t kMaxBytes = 64 * 1024 * 1024;
constexpr std::size_t kMaxEntries = 100000;

void walk(archive::EntryReader& reader) {
  std::size_t bytes = 0;
  for (std::size_t entries = 0; entries < kMaxEntries; ++entries) {
    auto entry = reader.next_entry();
    if (!entry || !*entry) return;
    const archive::Entry& e = **entry;
    // Names are data, but normalised: always absolute, never with a ".." component.
    if (e.path.empty() || e.path[0] != '/') __builtin_trap();
    if (e.path.find("/../") != std::string::npos || e.path.ends_with("/..")) __builtin_trap();
    (void)archive::normalize_path(e.link);
    for (;;) {
      auto block = reader.read_block();
      if (!block || block->empty()) break;
      bytes += block->size();
      if (bytes > kMaxBytes) return;
    }
  }
}

}  // namespace

LAYERLEAK_FUZZ_TARGET(layer_stream) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  {  // As a layer blob.
    MemoryReader compressed(input);
    archive::Compression detected = archive::Compression::none;
    auto stream = archive::open_decompressor(compressed, detected);
    if (stream) {
      auto tar = archive::open_tar(**stream);
      if (tar) walk(**tar);
    }
  }
  {  // The decompressor alone, drained (what digest verification of a layer does).
    MemoryReader compressed(input);
    archive::Compression detected = archive::Compression::none;
    auto stream = archive::open_decompressor(compressed, detected);
    std::size_t budget = kMaxBytes;
    if (stream) (void)fuzz::drain_bounded(**stream, budget);
  }
  // As a file inside a layer.
  (void)archive::sniff_nested(std::span<const char>(input.data(), input.size() < 512 ? input.size() : 512));
  (void)archive::normalize_path(input);
  {
    auto nested = archive::open_nested_memory(input, "/layer/file.bin");
    if (nested) walk(**nested);
  }
  {
    MemoryReader stream(input);
    auto nested = archive::open_nested(stream, "/layer/file.bin");
    if (nested) walk(**nested);
  }
  return 0;
}
