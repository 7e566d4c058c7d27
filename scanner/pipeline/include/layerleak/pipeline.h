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
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// One layer's scan result as plain values, for a LayerCache: everything the report takes from a layer's
// content (detections, skipped files, counts) and what later layers' visibility needs (its changes),
// so that a cached layer gives the same report as a scanned one.
struct CachedDetection {
  std::string path;     // as reported ("/opt/app.jar!/BOOT-INF/a.yml")
  std::string file;     // the layer entry that holds it ("/opt/app.jar"): decides visibility
  std::string rule_id;  // resolved against the detector's rules when read back
  std::string secret;   // the full secret: a cache holds secrets and must be private to its user
  std::uint64_t offset = 0;
  std::uint64_t line = 0;
  std::uint64_t column = 0;
  rules::Severity severity = rules::Severity::medium;
  rules::Confidence confidence = rules::Confidence::medium;
  std::string encoding = "plain";
  std::string paired_access_key;
};

struct CachedLayer {
  std::vector<CachedDetection> detections;  // in entry order
  oci::LayerChanges changes;
  std::map<std::string, std::vector<std::string>> hardlinks;  // target path -> its other names
  std::vector<report::Skipped> skipped;                       // layer_index unset
  std::uint64_t entries = 0;
  std::uint64_t bytes_scanned = 0;
  std::uint64_t compressed_bytes = 0;
  std::string compression;  // "gzip", "zstd", "none": a property of the blob, not of the content
};

// What a cached layer result depends on: the content (diffID), the blob it came from (compression and
// size are reported too) and the scan profile (tool version, rules digest and limits; cache_profile()).
struct LayerKey {
  Digest diff_id;
  Digest blob_digest;
  std::string profile;
};

// Per-layer results shared across scans. Only complete layers are ever put; a layer is looked up by
// the diffID its (verified) config names, before its blob is opened, and a hit never opens the blob.
// Implementations must be thread-safe (called from the workers of a scan). A failing cache must not
// change a result: a failed get is a miss, a failed put is dropped.
class LayerCache {
 public:
  virtual ~LayerCache() = default;
  virtual std::optional<CachedLayer> get(const LayerKey& key) = 0;
  virtual void put(const LayerKey& key, const CachedLayer& layer) = 0;
};

struct ScanOptions {
  oci::SelectOptions select;
  oci::SourceOptions source;                           // registry credentials and transport
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
  // When set, complete layers are read from and written to this cache (layers named by a blob digest
  // and a diffID only). Not owned; must outlive the scan.
  LayerCache* layer_cache = nullptr;
};

// "sha256:..." naming everything besides the content that decides a layer's or an image's result:
// the tool version, the rules digest and the limits of `options`. Cache keys include it.
std::string cache_profile(std::string_view rules_digest, const ScanOptions& options);

// Scans every selected image of `reference`. Never throws; errors are inside the report.
report::ScanReport scan(const std::string& reference, std::shared_ptr<const detect::Detector> detector,
                        const ScanOptions& options);

class OpenedLayer;  // internal: one layer's blob opened, its reading and inflating threads running

// A reference opened and its images selected (manifests and configs read and verified): the first step
// of scan(), on its own so that a caller can take it while it does something else. Opening a registry
// image is round trips and loading libcurl, work that needs little CPU: the scan command resolves the
// first image while the rules load, and the next image while one is scanned.
struct Resolved {
  std::string reference;
  std::int64_t started_at_ms = 0;                       // Unix time resolving began
  std::chrono::steady_clock::duration took{};           // resolving; counted in the images' duration_ms
  std::unique_ptr<oci::ImageSource> source;             // null when `error` is set
  std::vector<oci::Image> images;
  std::optional<Error> error;                           // the reference could not be opened or read
  // The layer scan() reads first, already opened (its blob being read, inflated and hashed ahead) when
  // resolved with options.select.prefetch_layers > 0 from a file read in place (an archive, a layout, a
  // directory); scan() takes it up. Null otherwise.
  std::shared_ptr<OpenedLayer> first_layer;
};

// Uses options.select, options.source and options.cancel only; never throws. With
// options.select.prefetch_layers > 0 (the scan follows at once, without a layer cache), the first layer
// in scan order of a local, random-access source is opened too, so that its reading and inflating run
// while the caller gets ready (the scan command loads the rules meanwhile).
Resolved resolve(const std::string& reference, const ScanOptions& options);
// For options.select.prefetch_layers when the scan follows the resolving at once: one layer per worker
// (`jobs`), none when the scan uses a layer cache (a cached layer is never opened, and its request would
// hold a transfer slot).
unsigned layers_to_prefetch(unsigned jobs, bool layer_cache);
// scan(reference, ...) is scan(resolve(reference, options), ...); `options` must be those resolved with.
report::ScanReport scan(Resolved resolved, std::shared_ptr<const detect::Detector> detector,
                        const ScanOptions& options);

// For report::ReportOptions::redact_text: a callable that masks every secret `detector` finds in a
// string (detect::redact_text). Thread-safe (calls are serialised on one session, made on first use) and
// fails closed: a string the detector could not check is replaced by a fixed "[withheld: …]" text.
std::function<std::string(std::string_view)> text_redactor(std::shared_ptr<const detect::Detector> detector);

// The version string compiled into the binary ("0.1.0").
std::string_view version() noexcept;

}  // namespace layerleak::pipeline
