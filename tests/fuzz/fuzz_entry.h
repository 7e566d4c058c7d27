// Shared by every fuzz target: how its entry point is named, and small helpers.
//
// Built as a libFuzzer target, each fuzz_<name>.cpp defines LLVMFuzzerTestOneInput. Built into the
// replay executable (LAYERLEAK_FUZZ_REPLAY defined), the same body is named layerleak_fuzz_<name>, so
// all targets link into one normal program that replays the corpora and regressions (replay.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "layerleak/core.h"

#ifdef LAYERLEAK_FUZZ_REPLAY
#define LAYERLEAK_FUZZ_TARGET(name) extern "C" int layerleak_fuzz_##name(const std::uint8_t* data, std::size_t size)
#else
#define LAYERLEAK_FUZZ_TARGET(name) extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#endif

namespace layerleak::fuzz {

// Reads `reader` until its end, an error, or `budget` bytes (decremented) are used up. Returns false
// when the budget ran out. Errors are fine: the point is that nothing crashes, hangs or leaks.
inline bool drain_bounded(ByteReader& reader, std::size_t& budget) {
  static char buffer[64 * 1024];
  while (budget > 0) {
    std::size_t want = budget < sizeof(buffer) ? budget : sizeof(buffer);
    auto n = reader.read(std::span<char>(buffer, want));
    if (!n || *n == 0) return true;
    if (*n > want) __builtin_trap();  // a reader must never claim more than it was given room for
    budget -= *n;
  }
  return false;
}

}  // namespace layerleak::fuzz
