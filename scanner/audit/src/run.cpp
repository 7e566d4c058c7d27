// Running an audit plan through a store's work queue: claim, scan, complete, until no item is left, then
// the report of every completed item. Several workers (processes, machines) sharing a store cooperate on
// one run; a layer another worker is reading right now is waited for (a claim on the layer), not read twice.
// A worker keeps --images-in-flight images going at once; an image whose complete report an earlier audit
// stored (same manifest digest, same profile) is taken from the store without reading the registry.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
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

// Keeps a claim alive while its work runs (a scan, a plan, may outlast one lease): `renew` every third of it.
class LeaseKeeper {
 public:
  LeaseKeeper(std::chrono::milliseconds lease, std::function<void()> renew)
      : thread_([this, lease, renew = std::move(renew)] {
          std::unique_lock lock(mutex_);
          const auto every = std::max(std::chrono::milliseconds(100), lease / 3);
          while (!stop_) {
            if (cv_.wait_for(lock, every, [this] { return stop_; })) break;
            renew();
          }
        }) {}
  LeaseKeeper(cache::Store& store, const RunOptions& options, std::string key)
      : LeaseKeeper(options.lease, [&store, &options, key = std::move(key)] {
          (void)store.renew(options.run, key, options.worker, options.lease);
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

// The profile under which complete image reports are stored for later audits: apart from serve's (which
// stores its own report shape under the bare profile).
std::string stored_image_profile(const std::string& profile) { return "audit-image " + profile; }

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

namespace {

constexpr const char* kPlanScope = "audit-plan";
constexpr const char* kPlanProfile = "audit-plan 1";

std::string encode_plan(const Plan& plan) {
  json images = json::array();
  for (const PlannedImage& image : plan.images) images.push_back(json::parse(encode_item(image)));
  json skipped = json::array();
  for (const report::AuditSkip& s : plan.skipped) skipped.push_back({s.tag, s.reason});
  json errors = json::array();
  for (const report::ErrorEntry& e : plan.errors) errors.push_back({e.code, e.message});
  return json{{"registry", plan.registry}, {"repositories", plan.repositories}, {"images", images},
              {"skipped", skipped}, {"errors", errors}}
      .dump();
}

std::optional<Plan> decode_plan(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  auto pairs = [&](const char* key) {
    if (!j.contains(key) || !j[key].is_array()) return false;
    for (const json& p : j[key]) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_string()) return false;
    }
    return true;
  };
  if (!j.is_object() || !j.contains("registry") || !j["registry"].is_string() || !j.contains("repositories") ||
      !j["repositories"].is_number_unsigned() || !j.contains("images") || !j["images"].is_array() || !pairs("skipped") ||
      !pairs("errors")) {
    return std::nullopt;
  }
  Plan plan;
  plan.registry = j["registry"].get<std::string>();
  plan.repositories = j["repositories"].get<std::size_t>();
  for (const json& i : j["images"]) {
    auto image = decode_item(i.dump());
    if (!image) return std::nullopt;
    plan.images.push_back(std::move(image).value());
  }
  for (const json& p : j["skipped"]) plan.skipped.push_back({p[0].get<std::string>(), p[1].get<std::string>()});
  for (const json& p : j["errors"]) plan.errors.push_back({p[0].get<std::string>(), p[1].get<std::string>(), std::nullopt});
  return plan;
}

}  // namespace

Plan plan_once(cache::Store& store, const RunOptions& options, const std::function<Plan()>& make) {
  for (;;) {
    if (auto text = store.get_report(options.run, kPlanProfile)) {
      if (auto plan = decode_plan(*text)) return std::move(*plan);
    }
    auto claimed = store.try_claim(kPlanScope, options.run, options.worker, options.lease);
    // A store that cannot take claims must not stop the audit: plan here (at worst twice).
    if (!claimed || *claimed || cancelled(options)) {
      Plan plan;
      {
        LeaseKeeper keeper(options.lease, [&] { (void)store.try_claim(kPlanScope, options.run, options.worker, options.lease); });
        plan = make();
      }
      // A cancelled plan is partial: never given to the other workers.
      if (!cancelled(options)) (void)store.put_report(options.run, kPlanProfile, encode_plan(plan));
      if (claimed && *claimed) (void)store.release(kPlanScope, options.run, options.worker);
      return plan;
    }
    std::this_thread::sleep_for(options.poll);  // another worker is planning this run: wait for its plan
  }
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
  const std::string image_profile = stored_image_profile(pipeline::cache_profile(detector->rules().digest, options.scan));
  // Shared by the images in flight: errors, the full reports scanned here, progress; `stop` ends every loop.
  std::mutex mutex;
  std::atomic<bool> stop{false};
  std::map<std::string, report::ScanReport> own;  // full (unredacted) reports of the images scanned here
  RunProgress progress;
  auto report_progress = [&](const RunProgress& p) {  // called with `mutex` held
    if (options.on_progress) options.on_progress(p);
  };
  auto fail_with = [&](report::ErrorEntry e) {
    std::lock_guard lock(mutex);
    out.errors.push_back(std::move(e));
    stop = true;
  };
  // Counts of the whole run (every worker), for progress only: a failed look keeps the last ones.
  auto refresh_counts = [&] {
    if (!options.on_progress) return;
    auto counts = store.pending(options.run);
    std::lock_guard lock(mutex);
    if (counts) {
      progress.images_total = counts->total;
      progress.images_done = counts->done;
    }
    report_progress(progress);
  };
  refresh_counts();

  // One loop per image in flight: claim, scan (or take the stored report of an image scanned before with
  // the same profile), complete. Why several: most of an image's time is waiting on the registry and the
  // store; the layer threads (-j) of the images in flight share the cores.
  auto work = [&] {
    while (!stop) {
      if (cancelled(options)) {
        std::lock_guard lock(mutex);
        if (!stop.exchange(true)) out.errors.push_back({"cancelled", "interrupted before every image was scanned", std::nullopt});
        return;
      }
      auto claimed = store.claim_next(options.run, options.worker, options.lease);
      if (!claimed) {
        fail_with(error_entry(claimed.error(), "claiming an image to scan from " + store.describe()));
        return;
      }
      if (!*claimed) {
        auto counts = store.pending(options.run);
        if (!counts) {
          fail_with(error_entry(counts.error(), "reading the audit's progress from " + store.describe()));
          return;
        }
        {
          std::lock_guard lock(mutex);
          progress.images_total = counts->total;
          progress.images_done = counts->done;
          report_progress(progress);
        }
        if (counts->done >= counts->total) return;
        std::this_thread::sleep_for(options.poll);  // the rest is held by other workers: wait for them (or their leases)
        continue;
      }
      const cache::WorkItem& item = **claimed;
      auto planned = decode_item(item.payload);
      if (!planned) {
        {
          std::lock_guard lock(mutex);
          out.errors.push_back(error_entry(planned.error(), "work item " + item.key));
        }
        (void)store.complete(options.run, item.key, "{}");
        continue;
      }
      report::ScanReport scan;
      std::set<std::string> read;
      bool reused = false;
      if (auto stored = store.get_report(item.key, image_profile)) {
        // A manifest digest names every byte the scan reads: the stored report of an earlier run (same
        // rules and limits) is this image's, only the reference and tags are this run's.
        if (auto parsed = report::read_json(*stored); parsed && parsed->images.size() == 1) {
          scan = std::move(parsed).value();
          scan.images[0].reference = planned->reference(plan.registry);
          scan.images[0].index_digest.clear();  // this run's index (adopt), as a scan by digest leaves it
          reused = true;
        }
      }
      if (!reused) {
        ClaimingCache layer_cache(store, options);
        pipeline::ScanOptions scan_options = options.scan;
        scan_options.layer_cache = &layer_cache;
        scan_options.select.all_platforms = true;  // the digest names one manifest: it is the image
        scan_options.on_progress = [&](const pipeline::Progress& p) {
          if (!options.on_progress) return;
          std::lock_guard lock(mutex);
          RunProgress now = progress;
          now.current = p;
          options.on_progress(now);
        };
        {
          LeaseKeeper keeper(store, options, item.key);
          scan = pipeline::scan(planned->reference(plan.registry), detector, scan_options);
        }
        layer_cache.release_all();
        read = layer_cache.read();
      }
      adopt(scan, *planned, plan.registry);
      if (cancelled(options)) continue;  // unfinished: the lease expires and another worker (or a rerun) takes it
      if (!reused && scan.images.size() == 1 && scan.images[0].complete && scan.images[0].errors.empty() &&
          scan.images[0].manifest_digest == item.key) {
        report::ReportOptions full;
        full.show_secrets = true;
        std::ostringstream text;
        (void)report::write_report(scan, report::Format::json, full, text);
        (void)store.put_report(item.key, image_profile, text.str());  // an optimisation: a failure only costs a rescan
      }
      if (options.verify) options.verify(scan);  // after put_report: a stored report carries no verification
      const std::string result = encode_result(scan, read, redactor);
      auto completed = store.complete(options.run, item.key, result);
      if (!completed) {
        fail_with(error_entry(completed.error(), "storing the result of " + planned->reference(plan.registry)));
        return;
      }
      {
        std::lock_guard lock(mutex);
        own.emplace(item.key, std::move(scan));
      }
      refresh_counts();
    }
  };
  {
    std::vector<std::thread> loops;
    for (unsigned i = 1; i < std::max(1u, options.images_in_flight); ++i) loops.emplace_back(work);
    work();
    for (std::thread& t : loops) t.join();
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
        // Stored results are redacted; the full report stored for the image, else the layer results (full
        // secrets) rebuild it as scan --cache does.
        const report::ScanReport stored = std::move(scan);
        std::optional<report::ScanReport> full;
        if (auto text = store.get_report(completed.key, image_profile)) {
          if (auto parsed = report::read_json(*text); parsed && parsed->images.size() == 1) {
            full = std::move(parsed).value();
            full->images[0].reference = planned->reference(plan.registry);
            full->images[0].index_digest.clear();
          }
        }
        if (!full) {
          pipeline::ScanOptions again = options.scan;
          again.layer_cache = &store;
          again.select.all_platforms = true;
          full = pipeline::scan(planned->reference(plan.registry), detector, again);
        }
        scan = std::move(*full);
        adopt(scan, *planned, plan.registry);
        if (options.verify) options.verify(scan);  // the answers the scanning worker stored (within the TTL)
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
