// Scanning one layer (or one directory tree) into detections and filesystem changes. Internal to the
// pipeline library.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "layerleak/archive.h"
#include "layerleak/detect.h"
#include "layerleak/oci.h"
#include "layerleak/pipeline.h"
#include "layerleak/report.h"

namespace layerleak::pipeline {

class SideScanner;

// One detection and where it is: `path` is what reports show ("/opt/app.jar!/a.yml" for a member of a
// nested archive), `file` the layer entry that holds it ("/opt/app.jar"), which decides visibility.
struct FoundSecret {
  std::string path;
  std::string file;
  detect::Detection detection;
};

struct LayerResult {
  std::vector<FoundSecret> detections;  // in entry order
  oci::LayerChanges changes;
  std::map<std::string, std::vector<std::string>> hardlinks;  // target path -> its other names, this layer
  std::vector<report::Skipped> skipped;
  std::uint64_t entries = 0;
  std::uint64_t files = 0;  // regular files among the entries (whiteouts excluded)
  std::uint64_t bytes_scanned = 0;
  std::uint64_t compressed_bytes = 0;
  std::optional<Digest> blob_digest;  // computed
  std::optional<Digest> diff_id;      // computed
  std::string compression;
  std::optional<Error> error;         // the layer was not read completely
};

// Shared by the workers of one scan: bytes read so far, and throttled reporting.
class ProgressMeter {
 public:
  ProgressMeter(const ScanOptions& options, std::size_t layers, std::uint64_t bytes);
  void add_bytes(std::uint64_t n);
  void layer_done();
  void finish();

 private:
  void maybe_report(bool force);
  const ScanOptions& options_;
  Progress totals_;
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::size_t> layers_{0};
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_{};
};

// Streams one layer blob through digest checks, decompression, tar and the detector; or, for a layer the
// source reads as entries (dir:), those entries through the detector. `side` (may be null) takes over
// small nested archives (side_scanner.h).
LayerResult scan_layer(oci::ImageSource& source, const oci::Image& image, const oci::Layer& layer,
                       detect::DetectorSession& session, SideScanner* side, const ScanOptions& options,
                       ProgressMeter& progress);

// Feeds every regular file of `entries` to the detector, recording changes; stops at the first error.
void scan_entries(archive::EntryReader& entries, detect::DetectorSession& session, const ScanOptions& options,
                  LayerResult& result, SideScanner* side);

std::string default_media_type(const std::string& compression);

}  // namespace layerleak::pipeline
