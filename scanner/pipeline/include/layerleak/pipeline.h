// layerleak pipeline: ties the parts together for one image reference.
//
// scan() opens the source, selects images, streams every layer (blob digest -> decompressor -> diffID
// -> tar entries -> detector) on `jobs` worker threads, each with its own DetectorSession, then
// labels each finding's visibility from the whiteouts and overwrites of later layers, and merges
// everything in a fixed order. Failures never abort the report: they mark the image incomplete and
// are listed with the image, layer and path they concern.
//
// Not responsible for: printing (report), suppression policy or exit statuses (cli).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "layerleak/detect.h"
#include "layerleak/oci.h"
#include "layerleak/report.h"

namespace layerleak::pipeline {

// Progress of a running scan, for people watching a long one. Sizes are compressed blob bytes.
struct Progress {
  std::size_t layers_total = 0;
  std::size_t layers_done = 0;
  std::uint64_t bytes_total = 0;  // 0 when the container does not declare sizes
  std::uint64_t bytes_done = 0;
};

struct ScanOptions {
  oci::SelectOptions select;
  unsigned jobs = 1;                                   // worker threads (>= 1)
  std::uint64_t max_file_size = 1ull << 30;            // larger files are skipped and reported; 0 = no limit
  // Archives and compressed files inside layers (zip/jar, tar, gzip, zstd, bzip2, xz), by content.
  unsigned max_archive_depth = 5;                      // nesting levels opened; 0 = do not open archives
  std::uint64_t max_ratio = 1000;                      // decompressed bytes per byte of the outer file
  std::uint64_t max_archive_bytes = 4ull << 30;        // decompressed bytes per outer file
  std::uint64_t max_archive_members = 100000;          // members per outer file
  std::uint64_t max_zip_buffer = 32ull << 20;          // zips up to this size are read from memory
  // When set and true, workers stop at the next file or block boundary; the layers they were reading
  // are reported as not completely read ("interrupted").
  const std::atomic<bool>* cancel = nullptr;
  // Called from worker threads, at most every 100 ms and once at the end; must be cheap and thread-safe.
  std::function<void(const Progress&)> on_progress;
};

// Scans every selected image of `reference`. Never throws; errors are inside the report.
report::ScanReport scan(const std::string& reference, std::shared_ptr<const detect::Detector> detector,
                        const ScanOptions& options);

// The version string compiled into the binary ("0.1.0").
std::string_view version() noexcept;

}  // namespace layerleak::pipeline
