// Running an audit plan through a store's work queue: claim, scan, complete, until no item is left, then
// the report of every completed item. Several workers (processes, machines) sharing a store cooperate on
// one run; a layer another worker is reading right now is waited for (a claim on the layer), not read twice.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "layerleak/audit.h"

namespace layerleak::audit {

namespace {

using nlohmann::json;

constexpr const char* kLayerScope = "audit-layer";

std::string layer_id(const std::string& diff_id, const std::string& blob_digest) { return diff_id + " " + blob_digest; }

bool cancelled(const RunOptions& options) { return options.scan.cancel && options.scan.cancel->load(std::memory_order_relaxed); }

// The store's layer cache, with two additions: which layers this scan read from their blobs (misses), and
// a claim on each layer being read so that another worker wanting it waits for its result instead of
// reading it too. The claim goes when the result is put (or when the scan ends, for a layer that failed).
class ClaimingCache final : public pipeline::LayerCache {
 public:
  ClaimingCache(cache::Store& store, const RunOptions& options) : store_(store), options_(options) {}
  ~ClaimingCache() override { release_all(); }

  std::optional<pipeline::CachedLayer> get(const pipeline::LayerKey& key) override {
    const std::string claim = claim_key(key);
    for (;;) {
      if (auto hit = store_.get(key)) return hit;
      auto claimed = store_.try_claim(kLayerScope, claim, options_.worker, options_.lease);
      // A store that cannot take claims must not stop the audit: read the layer (at worst twice).
      if (!claimed || *claimed) {
        std::lock_guard lock(mutex_);
        if (claimed) held_.insert(claim);
        read_.insert(layer_id(key.diff_id.str(), key.blob_digest.str()));
        return std::nullopt;
      }
      if (cancelled(options_)) return std::nullopt;
      std::this_thread::sleep_for(options_.poll);
    }
  }

  void put(const pipeline::LayerKey& key, const pipeline::CachedLayer& layer) override {
    store_.put(key, layer);
    const std::string claim = claim_key(key);
    std::lock_guard lock(mutex_);
    if (held_.erase(claim) > 0) (void)store_.release(kLayerScope, claim, options_.worker);
  }

  void release_all() {
    std::lock_guard lock(mutex_);
    for (const std::string& claim : held_) (void)store_.release(kLayerScope, claim, options_.worker);
    held_.clear();
  }

  std::set<std::string> read() const {
    std::lock_guard lock(mutex_);
    return read_;
  }

 private:
  static std::string claim_key(const pipeline::LayerKey& key) {
    return Sha256::of(key.diff_id.str() + "\n" + key.blob_digest.str() + "\n" + key.profile).str();
  }

  cache::Store& store_;
  const RunOptions& options_;
  mutable std::mutex mutex_;
  std::set<std::string> held_;
  std::set<std::string> read_;
};

// Keeps a claimed item's lease alive while its image is scanned (a scan may outlast one lease).
class LeaseKeeper {
 public:
  LeaseKeeper(cache::Store& store, const RunOptions& options, std::string key)
      : thread_([this, &store, &options, key = std::move(key)] {
          std::unique_lock lock(mutex_);
          const auto every = std::max(std::chrono::milliseconds(100), options.lease / 3);
          while (!stop_) {
            if (cv_.wait_for(lock, every, [this] { return stop_; })) break;
            (void)store.renew(options.run, key, options.worker, options.lease);
          }
        }) {}
  ~LeaseKeeper() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

report::ErrorEntry error_entry(const Error& e, const std::string& what) {
  return report::ErrorEntry{std::string(errc_name(e.code)), what + ": " + e.message, std::nullopt};
}

// The image's scan, completed where the pipeline could not say (an image that failed before its manifest
// was read), with the plan's tags.
void adopt(report::ScanReport& scan, const PlannedImage& planned, const std::string& registry) {
  if (scan.images.empty()) {
    report::ImageReport image;
    image.reference = planned.reference(registry);
    image.transport = "docker";
    image.errors.push_back({"internal", "the scan returned no image", std::nullopt});
    image.complete = false;
    scan.images.push_back(std::move(image));
  }
  for (report::ImageReport& image : scan.images) {
    image.tags = planned.tags;
    if (image.manifest_digest.empty()) image.manifest_digest = planned.manifest_digest;
    if (image.platform.empty()) image.platform = planned.platform;
    if (image.index_digest.empty()) image.index_digest = planned.index_digest;
  }
}

struct Done {
  report::ScanReport scan;
  std::set<std::string> read;
};

std::string encode_result(const report::ScanReport& scan, const std::set<std::string>& read,
                          const std::function<std::string(std::string_view)>& redactor) {
  report::ReportOptions options;
  options.redact_text = redactor;
  std::ostringstream text;
  (void)report::write_report(scan, report::Format::json, options, text);  // a string stream does not fail
  json result;
  result["report"] = text.str();
  result["layers_read"] = json::array();
  for (const std::string& id : read) result["layers_read"].push_back(id);
  return result.dump();
}

Result<Done> decode_result(std::string_view text) {
  json result = json::parse(text, nullptr, false);
  if (result.is_discarded() || !result.is_object() || !result.contains("report") || !result["report"].is_string() ||
      !result.contains("layers_read") || !result["layers_read"].is_array()) {
    return make_error(Errc::malformed, "a stored audit result is not what this layerleak writes");
  }
  auto scan = report::read_json(result["report"].get<std::string>());
  if (!scan) return std::move(scan).error();
  Done done{std::move(scan).value(), {}};
  for (const json& id : result["layers_read"]) {
    if (!id.is_string()) return make_error(Errc::malformed, "a stored audit result lists a layer that is not a string");
    done.read.insert(id.get<std::string>());
  }
  return done;
}

}  // namespace

std::string run_name(const std::string& target, const std::string& profile, const std::string& name) {
  std::string nonce = name;
  if (nonce.empty()) {
    std::random_device random;
    for (int i = 0; i < 4; ++i) nonce += std::to_string(random()) + ".";
  }
  return "audit:" + Sha256::of(target + "\n" + profile + "\n" + (name.empty() ? "private:" : "named:") + nonce).hex.substr(0, 32);
}

std::string encode_item(const PlannedImage& image) {
  json j{{"repository", image.repository},
         {"manifest_digest", image.manifest_digest},
         {"platform", image.platform},
         {"index_digest", image.index_digest},
         {"tags", image.tags}};
  return j.dump();
}

Result<PlannedImage> decode_item(std::string_view payload) {
  json j = json::parse(payload, nullptr, false);
  auto text = [&](const char* key) -> const json* {
    return j.is_object() && j.contains(key) && j[key].is_string() ? &j[key] : nullptr;
  };
  if (!text("repository") || !text("manifest_digest") || !text("platform") || !text("index_digest") ||
      !j.contains("tags") || !j["tags"].is_array()) {
    return make_error(Errc::malformed, "a queued audit item is not what this layerleak writes");
  }
  PlannedImage image{j["repository"], j["manifest_digest"], j["platform"], j["index_digest"], {}};
  for (const json& t : j["tags"]) {
    if (!t.is_string()) return make_error(Errc::malformed, "a queued audit item has a tag that is not a string");
    image.tags.push_back(t.get<std::string>());
  }
  if (!image.manifest_digest.starts_with("sha256:") || image.repository.empty()) {
    return make_error(Errc::malformed, "a queued audit item names no repository or digest");
  }
  return image;
}

report::AuditReport run_audit(const Plan& plan, cache::Store& store, std::shared_ptr<const detect::Detector> detector,
                              const RunOptions& options) {
  report::AuditReport out;
  out.registry = plan.registry;
  out.skipped = plan.skipped;
  out.errors = plan.errors;
  out.summary.repositories = plan.repositories;

  std::vector<cache::WorkItem> items;
  for (const PlannedImage& image : plan.images) items.push_back({options.run, image.manifest_digest, encode_item(image)});
  if (auto added = store.enqueue(options.run, items); !added) {
    out.errors.push_back(error_entry(added.error(), "queueing the audit's images in " + store.describe()));
    return out;
  }

  const auto redactor = pipeline::text_redactor(detector);
  std::map<std::string, report::ScanReport> own;  // full (unredacted) reports of the images scanned here
  RunProgress progress;
  auto report_progress = [&] {
    if (options.on_progress) options.on_progress(progress);
  };
  // Counts of the whole run (every worker), for progress only: a failed look keeps the last ones.
  auto refresh_counts = [&] {
    if (!options.on_progress) return;
    if (auto counts = store.pending(options.run)) {
      progress.images_total = counts->total;
      progress.images_done = counts->done;
    }
  };
  refresh_counts();
  report_progress();
  for (;;) {
    if (cancelled(options)) {
      out.errors.push_back({"cancelled", "interrupted before every image was scanned", std::nullopt});
      break;
    }
    auto claimed = store.claim_next(options.run, options.worker, options.lease);
    if (!claimed) {
      out.errors.push_back(error_entry(claimed.error(), "claiming an image to scan from " + store.describe()));
      break;
    }
    if (!*claimed) {
      auto counts = store.pending(options.run);
      if (!counts) {
        out.errors.push_back(error_entry(counts.error(), "reading the audit's progress from " + store.describe()));
        break;
      }
      progress.images_total = counts->total;
      progress.images_done = counts->done;
      report_progress();
      if (counts->done >= counts->total) break;
      std::this_thread::sleep_for(options.poll);  // the rest is held by other workers: wait for them (or their leases)
      continue;
    }
    const cache::WorkItem& item = **claimed;
    auto planned = decode_item(item.payload);
    if (!planned) {
      out.errors.push_back(error_entry(planned.error(), "work item " + item.key));
      (void)store.complete(options.run, item.key, "{}");
      continue;
    }
    ClaimingCache layer_cache(store, options);
    pipeline::ScanOptions scan_options = options.scan;
    scan_options.layer_cache = &layer_cache;
    scan_options.select.all_platforms = true;  // the digest names one manifest: it is the image
    scan_options.on_progress = [&](const pipeline::Progress& p) {
      if (!options.on_progress) return;
      RunProgress now = progress;
      now.current = p;
      options.on_progress(now);
    };
    report::ScanReport scan;
    {
      LeaseKeeper keeper(store, options, item.key);
      scan = pipeline::scan(planned->reference(plan.registry), detector, scan_options);
    }
    layer_cache.release_all();
    adopt(scan, *planned, plan.registry);
    if (cancelled(options)) continue;  // unfinished: the lease expires and another worker (or a rerun) takes it
    const std::string result = encode_result(scan, layer_cache.read(), redactor);
    auto completed = store.complete(options.run, item.key, result);
    if (!completed) {
      out.errors.push_back(error_entry(completed.error(), "storing the result of " + planned->reference(plan.registry)));
      break;
    }
    own.emplace(item.key, std::move(scan));
    refresh_counts();
    report_progress();
  }

  auto results = store.results(options.run);
  if (!results) {
    out.errors.push_back(error_entry(results.error(), "reading the audit's results from " + store.describe()));
    return out;
  }
  std::set<std::string> read;
  std::set<std::string> planned_keys;
  for (const PlannedImage& image : plan.images) planned_keys.insert(image.manifest_digest);
  struct Entry {
    std::string repository;
    std::string digest;
    report::ImageReport image;
  };
  std::vector<Entry> entries;
  for (const cache::CompletedItem& completed : *results) {
    planned_keys.erase(completed.key);
    auto planned = decode_item(completed.payload);
    auto done = decode_result(completed.result);
    if (!planned || !done) {
      out.errors.push_back(error_entry(!planned ? planned.error() : done.error(), "the stored result of " + completed.key));
      continue;
    }
    read.insert(done->read.begin(), done->read.end());
    report::ScanReport scan = std::move(done->scan);
    if (options.show_secrets) {
      if (auto it = own.find(completed.key); it != own.end()) {
        scan = it->second;
      } else {
        // Stored results are redacted; the layer results (full secrets) rebuild the image as scan --cache does.
        pipeline::ScanOptions again = options.scan;
        again.layer_cache = &store;
        again.select.all_platforms = true;
        const report::ScanReport stored = std::move(scan);
        scan = pipeline::scan(planned->reference(plan.registry), detector, again);
        adopt(scan, *planned, plan.registry);
        // The scan's own duration, not the rebuild's: every worker prints the same report.
        for (std::size_t i = 0; i < scan.images.size() && i < stored.images.size(); ++i) {
          scan.images[i].duration_ms = stored.images[i].duration_ms;
        }
      }
    }
    if (out.scan.tool_version.empty()) {
      out.scan.tool_version = scan.tool_version;
      out.scan.rules_digest = scan.rules_digest;
    }
    for (report::ImageReport& image : scan.images) entries.push_back({planned->repository, completed.key, std::move(image)});
  }
  for (const std::string& missing : planned_keys) {
    if (!cancelled(options) && out.errors.empty()) {
      out.errors.push_back({"internal", "the run finished without a result for " + missing, std::nullopt});
    }
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.repository != b.repository ? a.repository < b.repository : a.digest < b.digest;
  });
  std::set<std::string> layers;
  for (Entry& e : entries) {
    for (const report::LayerSummary& l : e.image.layers) layers.insert(layer_id(l.diff_id, l.digest));
    out.scan.images.push_back(std::move(e.image));
  }
  if (out.scan.tool_version.empty()) {
    out.scan.tool_version = std::string(pipeline::version());
    out.scan.rules_digest = detector->rules().digest;
  }
  std::size_t scanned = 0;
  for (const std::string& id : read) scanned += layers.contains(id) ? 1 : 0;
  out.summary.images = out.scan.images.size();
  out.summary.layers_total = layers.size();
  out.summary.layers_scanned = scanned;
  out.summary.layers_reused = layers.size() - scanned;
  count_findings(out);
  return out;
}

void count_findings(report::AuditReport& report) {
  report.summary.images_with_findings = static_cast<std::size_t>(std::count_if(
      report.scan.images.begin(), report.scan.images.end(), [](const report::ImageReport& i) { return !i.findings.empty(); }));
}

}  // namespace layerleak::audit
