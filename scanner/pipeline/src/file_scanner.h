// Scanning one file of a layer: plain bytes through the detector, archives inside it member by member
// (within --max-archive-depth and the size and ratio limits). Internal to the pipeline library.
#pragma once

#include <cstdint>
#include <string>

#include "layer_scan.h"

namespace layerleak::pipeline {

class SideScanner;

// Scans the current entry of `entries` (a file of `size` bytes; `exact_size`: the reader delivers
// exactly that many, see archive::Entry) as `path` into `result`. With `side`, a small nested archive may
// be handed over to it instead (its results reach `result` at SideScanner::finish). Returns false when
// the layer itself failed (result.error).
bool scan_file(archive::EntryReader& entries, const std::string& path, std::uint64_t size, bool exact_size,
               detect::DetectorSession& session, const ScanOptions& options, LayerResult& result, SideScanner* side);

}  // namespace layerleak::pipeline
