// The scan jobs of `serve`: a bounded queue in front of a fixed pool of workers, one time limit per
// scan, deduplication of identical requests in flight, and the verdict store (results of complete
// scans, by manifest digest, in the ScanCache). Internal to the serve library.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "layerleak/store.h"
#include "layerleak/report.h"
#include "layerleak/serve.h"

namespace layerleak::serve {

// Counters for /metrics. Everything is atomic; read without locks.
struct Metrics {
  static constexpr double kBuckets[] = {0.1, 0.5, 1, 5, 10, 30, 60, 300};
  std::atomic<std::uint64_t> scans_allow{0}, scans_deny{0}, scans_unknown{0}, scans_timed_out{0};
  std::atomic<std::uint64_t> findings{0};
  std::atomic<std::uint64_t> duration_ms_sum{0};
  std::atomic<std::uint64_t> duration_buckets[std::size(kBuckets)] = {};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> verdict_cache_answers{0};  // jobs answered from stored reports
  std::atomic<std::uint64_t> replica_answers{0};  // scans answered by the report another replica wrote meanwhile
  std::atomic<std::uint64_t> claim_waits{0};      // scans that found their digest claimed by another replica
  std::atomic<std::uint64_t> registry_manifests{0};
  std::atomic<std::uint64_t> admission_allowed{0}, admission_denied{0};
  std::atomic<std::uint64_t> unauthorized{0};
};

enum class JobState { queued, running, done, failed };
std::string_view job_state_name(JobState s) noexcept;

struct JobSpec {
  std::string reference;
  oci::SourceOptions source;
  std::optional<wire::HarborScanRequest> harbor;  // set for Harbor scan requests (report mapping)
};

// A consistent copy of a job, for answering requests.
struct JobView {
  std::string id;
  JobSpec spec;
  JobState state = JobState::queued;
  std::shared_ptr<const report::ScanReport> report;  // done: the report, every secret in it redacted
  std::vector<wire::ImageVerdict> verdicts;          // done: one per image
  std::string error;                                 // failed: why
  bool from_cache = false;
};

class JobQueue {
 public:
  // `shared`: the store may be shared with other serve processes (--cache or --store, not the in-memory
  // cache): a scan of a digest then first claims it there, and waits for the report when another holds it.
  JobQueue(const ServeOptions& options, std::shared_ptr<const detect::Detector> detector, cache::Store& cache,
           Metrics& metrics, bool shared = false);
  ~JobQueue();
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  enum class Outcome { accepted, existing, full, stopping, refused };
  struct Submitted {
    Outcome outcome;
    std::string id;   // accepted/existing
    std::string why;  // refused: why serve may not read this reference (local source, registry not allowed)
  };
  // Queues a scan, or returns the job already queued or running for the same reference (and
  // credentials), or a finished job made at once from a stored report when the reference names a digest
  // scanned before. `full` when the queue holds queue_size jobs; `refused` (before anything is read or
  // any request made) for local sources without --allow-local-images and registries not allowed.
  Submitted submit(JobSpec spec);
  // Why serve may not read `reference` ("" when it may). Cheap; no I/O.
  std::string refusal(const std::string& reference) const;

  std::optional<JobView> get(const std::string& id) const;
  // Waits until the job is done or failed, or `deadline`; false on timeout (or unknown id).
  bool wait(const std::string& id, std::chrono::steady_clock::time_point deadline) const;
  // The verdicts of the stored report for `digest` (a manifest, or an index: then one per platform), if a
  // complete scan of exactly that digest produced one.
  std::optional<std::vector<wire::ImageVerdict>> stored_verdicts(const std::string& digest);
  // Whether a queued or running job's reference names `manifest_digest`.
  bool pending(const std::string& manifest_digest) const;

  std::size_t queued() const;
  std::size_t running() const;
  bool accepting() const { return !stopping_.load(); }
  // Stops taking jobs, cancels running scans, fails queued ones, joins the workers. Idempotent.
  void stop();

 private:
  struct Job;
  // What a scan produced; moved into its Job under the lock by finish().
  struct ScanResult {
    std::shared_ptr<const report::ScanReport> report;
    std::vector<wire::ImageVerdict> verdicts;
    std::string error;
    bool from_store = false;  // answered by a report another replica stored while this one waited
  };
  void work();
  // For a scan of `digest` in a shared store: claims `key` (profile, digest and registry), or waits (with
  // back-off, until the job is cancelled or times out) for the report of the replica that holds it.
  // nullopt: go on and scan (claimed, or the store failed: scanning twice is better than not answering).
  std::optional<ScanResult> claim_or_wait(Job& job, const std::string& digest, const std::string& key,
                                          const std::string& owner);
  void watch();
  ScanResult run(Job& job);
  void finish(const std::shared_ptr<Job>& job, ScanResult outcome);
  void store(const report::ScanReport& report);
  void write_stored(const std::string& digest, const report::ScanReport& report);
  std::string redact(const std::string& text) const;
  std::shared_ptr<const report::ScanReport> stored_report(const std::string& digest);
  void keep_finished_locked(const std::string& id);
  static std::string dedup_key(const JobSpec& spec);

  const ServeOptions& options_;
  std::shared_ptr<const detect::Detector> detector_;
  cache::Store& cache_;
  Metrics& metrics_;
  std::string profile_;
  bool shared_ = false;
  std::string replica_id_;  // this process, in claims (random)

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;  // a job changed state, or stop
  std::condition_variable work_ready_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  std::map<std::string, std::string> active_;  // dedup key -> job id (queued or running)
  std::deque<std::shared_ptr<Job>> queue_;
  std::deque<std::string> finished_;  // ids, oldest first, for eviction
  std::size_t running_ = 0;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
  std::thread watchdog_;
};

}  // namespace layerleak::serve
