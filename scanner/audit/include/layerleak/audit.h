// layerleak audit: every image of a registry, each distinct manifest scanned once, each distinct layer read
// once (through a store's layer cache), one report.
//
// Plan: repositories (the catalog, or a given list) -> tags -> the digest each tag names -> the image
// manifests that digest selects (an index expands to its platforms as `scan` selects them) -> distinct
// manifests, each with every "repo:tag" naming it. Run: the plan's manifests become work items of a store's
// queue under a run name; every worker (this process, or several sharing a PostgreSQL store) claims items
// until none is left, scans each with pipeline::scan (layer results through the store), completes it with
// the image's redacted JSON report, and when the whole run is done builds the report from the store.
//
// Not responsible for: the registry protocol (oci), storage (cache), formats (report), options (cli).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "layerleak/core.h"
#include "layerleak/detect.h"
#include "layerleak/oci.h"
#include "layerleak/pipeline.h"
#include "layerleak/report.h"
#include "layerleak/store.h"

namespace layerleak::audit {

// ---- Seams: what the plan asks a registry (tests give fakes) ------------------------------------------

class Catalog {
 public:
  virtual ~Catalog() = default;
  virtual Result<std::vector<std::string>> repositories() = 0;              // sorted
  virtual Result<std::vector<std::string>> tags(const std::string& repository) = 0;  // sorted
  virtual Result<std::string> resolve(const std::string& repository, const std::string& tag) = 0;  // "sha256:…"
};

// One image manifest a tag's digest selects: the digest itself for a manifest, each selected platform's for
// an index.
struct SelectedImage {
  std::string manifest_digest;
  std::string platform;      // "" when unknown
  std::string index_digest;  // "" when the tag names a manifest
};

class Expander {
 public:
  virtual ~Expander() = default;
  // Every image manifest of `digest` in `repository` (an index: every platform it lists; a manifest: itself).
  virtual Result<std::vector<SelectedImage>> expand(const std::string& repository, const std::string& digest) = 0;
};

// Over oci::RegistryCatalog and oci::open_source (registry_adapters.cpp).
Result<std::unique_ptr<Catalog>> open_registry_catalog(const oci::RegistryTarget& target, const oci::SourceOptions& source);
std::unique_ptr<Expander> registry_expander(const std::string& registry, const oci::SourceOptions& source);
// `inner` with its answers kept in `store` (by digest: an index's platforms, a manifest's own platform never
// change), so a re-audit reads no manifest or configuration to plan. Thread-safe when `inner` is.
std::unique_ptr<Expander> stored_expander(Expander& inner, cache::Store& store);

// ---- Plan ---------------------------------------------------------------------------------------------

struct PlannedImage {
  std::string repository;       // the first repository (byte order) holding it: where it is read from
  std::string manifest_digest;  // work item key
  std::string platform;
  std::string index_digest;
  std::vector<std::string> tags;  // every "repo:tag" naming it, sorted

  std::string reference(const std::string& registry) const;  // docker://REGISTRY/REPOSITORY@DIGEST
};

struct Plan {
  std::string registry;  // HOST[:PORT]
  std::size_t repositories = 0;
  std::vector<PlannedImage> images;  // by (repository, manifest digest)
  std::vector<report::AuditSkip> skipped;
  std::vector<report::ErrorEntry> errors;
};

struct PlanProgress {
  std::size_t repositories_total = 0;
  std::size_t repositories_done = 0;
  std::size_t images = 0;
};

struct PlanOptions {
  std::string registry;                          // HOST[:PORT]
  std::optional<std::vector<std::string>> repositories;  // given list (--repositories-from); else the catalog
  oci::SelectOptions select;                     // platforms, as scan
  std::function<void(const PlanProgress&)> on_progress;  // from any thread, one call at a time
  const std::atomic<bool>* cancel = nullptr;
  // Catalog and expander calls in flight at once (tags of several repositories, several tags resolved at
  // once); above 1 the catalog and expander must be thread-safe. The plan is the same for every value.
  unsigned concurrency = 1;
};

// Never fails as a whole: a repository or tag that cannot be listed, resolved or read is an error entry
// (the audit is then incomplete); a tag with no image for the selected platform is a skip.
Plan make_plan(Catalog& catalog, Expander& expander, const PlanOptions& options);

// "--repositories-from FILE": one repository a line, '#' comments and blank lines skipped, blanks trimmed;
// a bounded regular file (16 MiB), no NUL byte; names must be repository names (lowercase path components).
Result<std::vector<std::string>> read_repository_list(const std::string& path);

// ---- Run ----------------------------------------------------------------------------------------------

struct RunProgress {
  std::size_t images_total = 0;
  std::size_t images_done = 0;  // whole run, every worker (as last seen)
  pipeline::Progress current;   // the image this worker is scanning
};

struct RunOptions {
  pipeline::ScanOptions scan;  // select, source, jobs, limits, cancel (layer_cache and on_progress are set here)
  std::string run;             // queue run name (run_name())
  std::string worker;          // unique per worker process
  std::chrono::milliseconds lease{std::chrono::minutes(2)};
  std::chrono::milliseconds poll{std::chrono::milliseconds(250)};  // waiting for other workers' items
  std::function<void(const RunProgress&)> on_progress;
  // Images other workers scanned are stored redacted; with show_secrets they are rebuilt from the store's
  // layer results (no blob is read when every layer is there), so the report can carry full values.
  bool show_secrets = false;
  // Images this worker scans at once (--images-in-flight), each with scan.jobs layer threads.
  unsigned images_in_flight = 1;
  // --verify: called with each image's full (unredacted) report after its scan, before the result is
  // stored in the queue (and again on a --show-secrets rebuild of an image another worker scanned); fills in
  // finding.verification (cli: verify::verify_report with the store's verification cache). Unset: nothing.
  std::function<void(report::ScanReport&)> verify;
};

// The queue run name: sha256 of the registry target, the scan profile and `name` (--run-id); workers given
// the same three cooperate. Without a name a fresh random one is used: the run is this process's alone.
std::string run_name(const std::string& target, const std::string& profile, const std::string& name);

// A work item's payload (the planned image) and result (its scan), as stored in the queue.
std::string encode_item(const PlannedImage& image);
Result<PlannedImage> decode_item(std::string_view payload);

// Enqueues the plan, works until no item is left, waits for items other workers hold, then builds the
// report from every completed item. `store` gives the queue and the layer cache. Failures of the store
// are audit errors (the report says incomplete), never a silently partial report.
report::AuditReport run_audit(const Plan& plan, cache::Store& store, std::shared_ptr<const detect::Detector> detector,
                              const RunOptions& options);

// The plan of a run, made once for all its workers: the first worker to come runs `make` (holding a claim on
// the run, renewed while it plans) and stores the plan in `store`; the others wait for it and use it, so a
// registry is listed and resolved once however many workers share the run. A worker whose store cannot
// claim, or whose planner vanished (the claim expired), plans itself. The stored plan is the run's: a
// worker joining the run later uses it too.
Plan plan_once(cache::Store& store, const RunOptions& options, const std::function<Plan()>& make);

// summary.images_with_findings from the images' active findings (again after suppressions).
void count_findings(report::AuditReport& report);

// A private store for a run without --store/--cache: layer results, queue and claims in memory.
std::unique_ptr<cache::Store> memory_store();

}  // namespace layerleak::audit
