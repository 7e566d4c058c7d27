// Scanning one layer (or one directory tree) into detections and filesystem changes. Internal to the
// pipeline library.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
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

// Where a layer's reader counts the compressed bytes it pulls: into the scan's ProgressMeter once
// attached, kept until then (a layer opened while the image was resolved is read before the scan has a
// meter). Thread-safe: the reading thread adds, the scanning thread attaches.
class ProgressLink {
 public:
  void add(std::uint64_t n);
  void attach(ProgressMeter& meter);

 private:
  std::mutex mutex_;
  ProgressMeter* meter_ = nullptr;
  std::uint64_t pending_ = 0;
};

// One layer opened for scanning: its entries (a dir: layer), or its blob with the threads that read,
// inflate and hash it ahead (blob digest -> decompressor -> diffID). Opening starts those threads, so a
// layer opened before the detector is ready is already on its way when its scan begins: the scan's first
// layer is opened as its image is resolved, while the rules load (pipeline::Resolved::first_layer).
// Destroying an unscanned layer stops its threads. A failure to open is kept and returned by scan().
class OpenedLayer {
 public:
  static std::unique_ptr<OpenedLayer> open(oci::ImageSource& source, const oci::Image& image, std::size_t image_index,
                                           std::size_t layer_index);
  ~OpenedLayer();
  OpenedLayer(const OpenedLayer&) = delete;
  OpenedLayer& operator=(const OpenedLayer&) = delete;

  std::size_t image_index() const { return image_index_; }
  std::size_t layer_index() const { return layer_index_; }
  // The compressed bytes read so far, and from now on, count in `progress`.
  void attach(ProgressMeter& progress) { progress_.attach(progress); }
  // Tar entries through the detector, then the digests checked against the declared ones; once. `side`
  // (may be null) takes over small nested archives (side_scanner.h).
  LayerResult scan(detect::DetectorSession& session, SideScanner* side, const ScanOptions& options);

 private:
  struct Streams;
  OpenedLayer(std::size_t image_index, std::size_t layer_index, const oci::Layer& layer);

  std::size_t image_index_;
  std::size_t layer_index_;
  oci::Layer declared_;
  ProgressLink progress_;
  std::optional<Error> error_;
  std::string compression_;
  bool scanned_ = false;
  std::unique_ptr<archive::EntryReader> direct_;
  std::unique_ptr<Streams> streams_;  // after progress_: its reader counts into it
};

// Feeds every regular file of `entries` to the detector, recording changes; stops at the first error.
void scan_entries(archive::EntryReader& entries, detect::DetectorSession& session, const ScanOptions& options,
                  LayerResult& result, SideScanner* side);

std::string default_media_type(const std::string& compression);

}  // namespace layerleak::pipeline
