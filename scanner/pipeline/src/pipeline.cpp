#include <pthread.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <thread>

#include "layer_scan.h"
#include "side_scanner.h"
#include "layerleak/archive.h"
#include "layerleak/pipeline.h"

namespace layerleak::pipeline {

std::string_view version() noexcept { return LAYERLEAK_VERSION; }

std::string cache_profile(std::string_view rules_digest, const ScanOptions& options) {
  return Sha256::of("layerleak " + std::string(version()) + "\nrules " + std::string(rules_digest) +
                    "\nmax_file_size " + std::to_string(options.max_file_size) +
                    "\nmax_archive_depth " + std::to_string(options.max_archive_depth) +
                    "\nmax_ratio " + std::to_string(options.max_ratio) +
                    "\nmax_archive_bytes " + std::to_string(options.max_archive_bytes) +
                    "\nmax_archive_members " + std::to_string(options.max_archive_members) +
                    "\nmax_zip_buffer " + std::to_string(options.max_zip_buffer) + "\n")
      .str();
}

namespace {

report::ErrorEntry error_entry(const Error& e, std::optional<std::size_t> layer = std::nullopt) {
  return report::ErrorEntry{std::string(errc_name(e.code)), report::escape_invalid_utf8(e.message), layer};
}

report::Finding to_finding(const detect::Detection& d, const std::string& path) {
  report::Finding f;
  f.rule_id = d.rule->id;
  f.title = d.rule->title;
  f.remediation = d.rule->remediation;
  f.severity = d.severity;
  f.confidence = d.confidence;
  f.secret = d.secret;
  f.fingerprint = report::fingerprint(d.rule->id, d.secret);
  f.paired_access_key = d.paired_access_key;
  f.encoding = d.encoding;
  f.location.path = report::escape_invalid_utf8(path);
  f.location.line = d.line;
  f.location.column = d.column;
  f.location.offset = d.offset;
  return f;
}

struct Task {
  std::size_t image;
  std::size_t layer;
};

CachedLayer to_cached(const LayerResult& result) {
  CachedLayer out;
  for (const FoundSecret& found : result.detections) {
    const detect::Detection& d = found.detection;
    out.detections.push_back(CachedDetection{found.path, found.file, d.rule->id, d.secret, d.offset, d.line, d.column,
                                             d.severity, d.confidence, d.encoding, d.paired_access_key});
  }
  out.changes = result.changes;
  out.hardlinks = result.hardlinks;
  out.skipped = result.skipped;
  out.entries = result.entries;
  out.bytes_scanned = result.bytes_scanned;
  out.compressed_bytes = result.compressed_bytes;
  out.compression = result.compression;
  return out;
}

// A cached layer as if it had just been scanned; nullopt when a rule it names is not loaded.
std::optional<LayerResult> from_cached(CachedLayer cached, const rules::RuleSet& rules, const oci::Layer& layer) {
  LayerResult out;
  for (CachedDetection& c : cached.detections) {
    const rules::Rule* rule = rules.find(c.rule_id);
    if (!rule) return std::nullopt;
    detect::Detection d;
    d.rule = rule;
    d.secret = std::move(c.secret);
    d.offset = c.offset;
    d.line = c.line;
    d.column = c.column;
    d.severity = c.severity;
    d.confidence = c.confidence;
    d.encoding = std::move(c.encoding);
    d.paired_access_key = std::move(c.paired_access_key);
    out.detections.push_back(FoundSecret{std::move(c.path), std::move(c.file), std::move(d)});
  }
  out.changes = std::move(cached.changes);
  out.hardlinks = std::move(cached.hardlinks);
  out.skipped = std::move(cached.skipped);
  out.entries = cached.entries;
  out.bytes_scanned = cached.bytes_scanned;
  out.compressed_bytes = cached.compressed_bytes;
  out.compression = std::move(cached.compression);
  out.blob_digest = layer.blob.digest;
  out.diff_id = layer.diff_id;
  return out;
}

// What one scanning thread works with: its detector session, and its side scanner for small nested
// archives.
struct Worker {
  std::unique_ptr<detect::DetectorSession> session;
  std::unique_ptr<SideScanner> side;
};

// Runs `work(task, worker)` for every task on up to `jobs` threads, one Worker each.
// Returns the first session-creation error, if any (then nothing ran).
Status run_parallel(const std::vector<Task>& tasks, unsigned jobs, const std::shared_ptr<const detect::Detector>& detector,
                    const ScanOptions& options, const std::function<void(const Task&, Worker&)>& work) {
  const std::size_t workers = std::max<std::size_t>(1, std::min<std::size_t>(jobs, tasks.size()));
  std::vector<Worker> pool(workers);
  for (Worker& w : pool) {
    auto s = detect::DetectorSession::create(detector);
    if (!s) return std::move(s).error();
    w.session = std::move(s).value();
    w.side = std::make_unique<SideScanner>(detector, options);
  }
  std::atomic<std::size_t> next{0};
  auto loop = [&](Worker& worker) {
    for (std::size_t i = next++; i < tasks.size(); i = next++) work(tasks[i], worker);
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers; ++i) {
    threads.emplace_back(loop, std::ref(pool[i]));
    pthread_setname_np(threads.back().native_handle(), "ll-scan");  // tar and matching, as top -H shows it
  }
  loop(pool[0]);
  for (std::thread& t : threads) t.join();
  return Ok{};
}

// The image configuration and annotations, scanned as small pseudo-files.
Status scan_metadata(const oci::Image& image, detect::DetectorSession& session, report::ImageReport& out) {
  for (const oci::MetadataFile& file : oci::metadata_files(image)) {
    auto found = session.scan(file.field, file.content);
    if (!found) return std::move(found).error();
    for (const detect::Detection& d : *found) {
      report::Finding f = to_finding(d, "");
      f.location.kind = file.kind;
      f.location.field = report::escape_invalid_utf8(file.field);
      f.visibility = "config";
      out.findings.push_back(std::move(f));
    }
  }
  return Ok{};
}

// A root filesystem (dir:): its one pseudo-layer's files are reported as files, with no layer.
void add_filesystem(const oci::Image& image, std::vector<LayerResult>& layers, report::ImageReport& out) {
  std::uint64_t files = 0;
  bool read_completely = true;
  for (LayerResult& result : layers) {
    out.entries += result.entries;
    out.bytes_scanned += result.bytes_scanned;
    files += result.files;
    for (auto& found : result.detections) {
      report::Finding f = to_finding(found.detection, found.path);
      f.location.kind = "file";
      out.findings.push_back(std::move(f));
    }
    for (report::Skipped& skipped : result.skipped) {
      skipped.path = report::escape_invalid_utf8(skipped.path);
      out.skipped.push_back(std::move(skipped));
    }
    if (result.error) {
      out.errors.push_back(error_entry(*result.error));
      out.complete = false;
      read_completely = false;
    }
  }
  // Why an error: a gate run on an empty build output (a failed COPY, a wrong path) must not pass.
  if (read_completely && files == 0) {
    out.errors.push_back(error_entry(Error{Errc::not_found, image.reference + " contains no regular file"}));
    out.complete = false;
  }
}

// The order the layers are read in: a source read front to back (standard input, the Docker daemon)
// gives its layers in container order; any other is read largest layer first (oci::layers_largest_first),
// image by image.
std::vector<Task> scan_order(const oci::ImageSource& source, const std::vector<oci::Image>& images) {
  std::vector<Task> tasks;
  const bool random_access = !source.spooled_bytes().has_value();
  for (std::size_t i = 0; i < images.size(); ++i) {
    if (random_access) {
      for (std::size_t l : oci::layers_largest_first(images[i])) tasks.push_back({i, l});
    } else {
      for (std::size_t l = 0; l < images[i].layers.size(); ++l) tasks.push_back({i, l});
    }
  }
  return tasks;
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Resolved resolve(const std::string& reference, const ScanOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  Resolved resolved;
  resolved.reference = reference;
  resolved.started_at_ms = unix_ms();
  oci::SourceOptions source_options = options.source;
  if (!source_options.cancel) source_options.cancel = options.cancel;  // registry requests stop on cancel too
  auto source = oci::open_source(reference, source_options);
  if (!source) {
    resolved.error = std::move(source).error();
  } else if (auto images = (*source)->images(options.select); !images) {
    resolved.error = std::move(images).error();
  } else {
    resolved.source = std::move(source).value();
    resolved.images = std::move(images).value();
    // Why here: the first layer's reading, inflating and hashing need no rules; started now, they use
    // the core the loading of the rules leaves idle. Why only from a file read in place: opening a layer
    // reads its first bytes, and resolving must not wait on a registry, the daemon or a pipe for them
    // (the next image's resolving waits for this one).
    oci::ImageSource& opened = *resolved.source;
    if (options.select.prefetch_layers > 0 && !opened.remote() && !opened.spooled_bytes().has_value()) {
      if (const std::vector<Task> order = scan_order(opened, resolved.images); !order.empty()) {
        const Task& t = order.front();
        // Why caught: resolve() never throws; without a thread or memory to be had now, the scan opens
        // the layer itself (and reports what fails then).
        try {
          resolved.first_layer = OpenedLayer::open(opened, resolved.images[t.image], t.image, t.layer);
        } catch (const std::exception&) {
          resolved.first_layer.reset();
        }
      }
    }
  }
  resolved.took = std::chrono::steady_clock::now() - started;
  return resolved;
}

unsigned layers_to_prefetch(unsigned jobs, bool layer_cache) { return layer_cache ? 0 : std::max(1u, jobs); }

report::ScanReport scan(const std::string& reference, std::shared_ptr<const detect::Detector> detector,
                        const ScanOptions& options) {
  ScanOptions resolving = options;
  resolving.select.prefetch_layers = layers_to_prefetch(options.jobs, options.layer_cache != nullptr);
  return scan(resolve(reference, resolving), std::move(detector), options);
}

// Why one function of ~180 lines: the steps share the per-image and per-layer result tables; split,
// each part would take most of them as parameters.
report::ScanReport scan(Resolved resolved, std::shared_ptr<const detect::Detector> detector, const ScanOptions& options) {
  // The images' duration counts resolving and scanning, not a wait between the two.
  const auto started = std::chrono::steady_clock::now() - resolved.took;
  const std::string& reference = resolved.reference;
  report::ScanReport scan_report;
  scan_report.started_at_ms = resolved.started_at_ms;
  scan_report.tool_version = std::string(version());
  scan_report.rules_digest = detector->rules().digest;

  auto fail_whole = [&](const Error& e) {
    report::ImageReport image;
    image.reference = reference;
    image.transport = oci::transport_of(reference);
    image.errors.push_back(error_entry(e));
    image.complete = false;
    scan_report.images.push_back(std::move(image));
    scan_report.finished_at_ms = unix_ms();
    return scan_report;
  };

  if (resolved.error) return fail_whole(*resolved.error);
  oci::ImageSource* const source = resolved.source.get();
  const std::vector<oci::Image>* const images = &resolved.images;

  std::vector<report::ImageReport> reports(images->size());
  std::vector<std::vector<LayerResult>> results(images->size());
  const std::vector<Task> tasks = scan_order(*source, *images);
  for (std::size_t i = 0; i < images->size(); ++i) {
    const oci::Image& image = (*images)[i];
    report::ImageReport& r = reports[i];
    r.reference = image.reference;
    r.transport = image.transport;
    r.manifest_digest = image.manifest_digest ? image.manifest_digest->str() : "";
    r.index_digest = image.index_digest ? image.index_digest->str() : "";
    r.config_digest = image.config_digest ? image.config_digest->str() : "";
    r.platform = image.platform ? image.platform->str() : "";
    r.tags = image.tags;
    r.labels = image.labels;
    r.annotations = image.annotations;
    for (const auto& [key, value] : image.index_annotations) r.annotations.emplace(key, value);
    results[i].resize(image.layers.size());
  }

  std::uint64_t total_bytes = 0;
  for (const Task& t : tasks) total_bytes += static_cast<std::uint64_t>(std::max<std::int64_t>(0, (*images)[t.image].layers[t.layer].blob.size));
  ProgressMeter progress(options, tasks.size(), total_bytes);
  const std::string profile = options.layer_cache ? cache_profile(scan_report.rules_digest, options) : std::string();
  // Only the worker whose task it is touches `first` (tasks are taken once each).
  std::shared_ptr<OpenedLayer> first = std::move(resolved.first_layer);
  const Task first_task = first ? Task{first->image_index(), first->layer_index()} : Task{images->size(), 0};
  Status ran = run_parallel(tasks, options.jobs, detector, options, [&](const Task& t, Worker& worker) {
    const oci::Image& image = (*images)[t.image];
    const oci::Layer& layer = image.layers[t.layer];
    LayerResult& result = results[t.image][t.layer];
    std::shared_ptr<OpenedLayer> opened;
    if (t.image == first_task.image && t.layer == first_task.layer) opened = std::move(first);
    // Why only layers with both digests declared: the key must name the content before it is read.
    std::optional<LayerKey> key;
    if (options.layer_cache && !layer.diff_id.empty() && !layer.blob.digest.empty()) {
      key = LayerKey{layer.diff_id, layer.blob.digest, profile};
    }
    if (key) {
      if (auto hit = options.layer_cache->get(*key)) {
        if (auto restored = from_cached(std::move(*hit), detector->rules(), layer)) {
          result = std::move(*restored);
          progress.add_bytes(result.compressed_bytes);
          progress.layer_done();
          return;
        }
      }
    }
    // Why check here too: opening a blob may wait on the network; a cancelled scan opens no more.
    if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
      result.error = make_error(Errc::io, "interrupted before the layer was read");
      progress.layer_done();
      return;
    }
    if (!opened) opened = OpenedLayer::open(*source, image, t.image, t.layer);
    opened->attach(progress);
    result = opened->scan(*worker.session, worker.side.get(), options);
    opened.reset();  // its threads are joined before the layer counts as done
    if (key && !result.error) options.layer_cache->put(*key, to_cached(result));
    progress.layer_done();
  });
  progress.finish();
  if (!ran) return fail_whole(ran.error());
  {
    auto session = detect::DetectorSession::create(detector);
    if (!session) return fail_whole(session.error());
    for (std::size_t i = 0; i < images->size(); ++i) {
      if (auto st = scan_metadata((*images)[i], **session, reports[i]); !st) {
        reports[i].errors.push_back(error_entry(st.error()));
        reports[i].complete = false;
      }
    }
  }

  const std::optional<std::uint64_t> spooled = source->spooled_bytes();
  for (std::size_t i = 0; i < images->size(); ++i) {
    const oci::Image& image = (*images)[i];
    report::ImageReport& r = reports[i];
    r.spooled_bytes = spooled;
    std::vector<oci::LayerChanges> changes;
    for (std::size_t l = 0; l < image.layers.size(); ++l) changes.push_back(std::move(results[i][l].changes));
    oci::FilesystemView view(std::move(changes));
    if (image.filesystem) {
      add_filesystem(image, results[i], r);
      report::sort_findings(r.findings);
      continue;
    }
    for (std::size_t l = 0; l < image.layers.size(); ++l) {
      const oci::Layer& layer = image.layers[l];
      LayerResult& lr = results[i][l];
      report::LayerSummary summary;
      summary.index = l;
      // The declared digests name the layer; computed ones fill in what the container does not declare
      // (and a mismatch between the two is reported as an error).
      summary.digest = !layer.blob.digest.empty() ? layer.blob.digest.str() : lr.blob_digest ? lr.blob_digest->str() : "";
      summary.diff_id = !layer.diff_id.empty() ? layer.diff_id.str() : lr.diff_id ? lr.diff_id->str() : "";
      summary.compression = lr.compression;
      summary.media_type = layer.blob.media_type.empty() ? default_media_type(lr.compression) : layer.blob.media_type;
      summary.created_by = layer.created_by;
      summary.history_index = layer.history_index;
      summary.compressed_size = layer.blob.size >= 0 ? layer.blob.size : static_cast<std::int64_t>(lr.compressed_bytes);
      summary.entries = lr.entries;
      summary.bytes_scanned = lr.bytes_scanned;
      summary.complete = !lr.error.has_value();
      r.entries += lr.entries;
      r.bytes_scanned += lr.bytes_scanned;
      for (auto& found : lr.detections) {
        report::Finding f = to_finding(found.detection, found.path);
        f.location.kind = "layer";
        f.location.layer_index = l;
        f.location.layer_digest = summary.digest;
        f.location.diff_id = summary.diff_id;
        f.location.created_by = layer.created_by;
        // A hardlinked file stays readable while any of its names does: the most visible name wins.
        // A member of a nested archive lives and dies with the archive file that holds it.
        const std::string& file_path = found.file;
        oci::VisibilityResult v = view.visibility(l, file_path);
        if (auto links = lr.hardlinks.find(file_path); links != lr.hardlinks.end()) {
          for (const std::string& alias : links->second) f.aliases.push_back(report::escape_invalid_utf8(alias));
          for (const std::string& alias : links->second) {
            oci::VisibilityResult va = view.visibility(l, alias);
            if (va.visibility == oci::Visibility::runtime ||
                (v.visibility != oci::Visibility::runtime && va.hidden_by_layer > v.hidden_by_layer)) {
              v = va;
            }
          }
        }
        f.visibility = std::string(oci::visibility_name(v.visibility));
        f.hidden_by_layer = v.hidden_by_layer;
        r.findings.push_back(std::move(f));
      }
      for (auto& s : lr.skipped) {
        s.layer_index = l;
        s.path = report::escape_invalid_utf8(s.path);
        s.reason = report::escape_invalid_utf8(s.reason);
        r.skipped.push_back(std::move(s));
      }
      if (lr.error) {
        const std::string layer_name = "layer " + std::to_string(l) + (summary.digest.empty() ? "" : " (" + summary.digest + ")");
        r.errors.push_back(error_entry(lr.error->with_context(image.reference + ": " + layer_name), l));
        r.complete = false;
      }
      r.layers.push_back(std::move(summary));
    }
    report::sort_findings(r.findings);
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  for (report::ImageReport& r : reports) {
    r.duration_ms = static_cast<std::uint64_t>(elapsed.count());
    scan_report.images.push_back(std::move(r));
  }
  scan_report.finished_at_ms = unix_ms();
  return scan_report;
}

std::function<std::string(std::string_view)> text_redactor(std::shared_ptr<const detect::Detector> detector) {
  // Why one session behind a mutex rather than one per call: a session holds Hyperscan scratch and
  // streams, costly to make for every label; reports are written from one thread, so the lock is free.
  struct State {
    std::shared_ptr<const detect::Detector> detector;
    std::mutex mutex;
    std::unique_ptr<detect::DetectorSession> session;
  };
  auto state = std::make_shared<State>();
  state->detector = std::move(detector);
  return [state](std::string_view text) -> std::string {
    constexpr const char* kWithheld = "[withheld: the text could not be checked for secrets]";
    std::lock_guard<std::mutex> lock(state->mutex);
    if (!state->session) {
      auto created = detect::DetectorSession::create(state->detector);
      if (!created) return kWithheld;
      state->session = std::move(created).value();
    }
    auto redacted = detect::redact_text(*state->session, text);
    if (!redacted) {
      // Fail closed: a text that could not be checked may hold a secret. A fresh session next time.
      state->session.reset();
      return kWithheld;
    }
    return std::move(redacted).value();
  };
}

}  // namespace layerleak::pipeline
