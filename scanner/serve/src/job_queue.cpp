#include "job_queue.h"

#include <sys/random.h>

#include <algorithm>
#include <iostream>
#include <sstream>

#include "layerleak/report.h"
#include "layerleak/verify.h"

namespace layerleak::serve {

namespace {

using Clock = std::chrono::steady_clock;

// 128 bits from the kernel's CSPRNG: a job id is a capability (it reads the report), so it must not be
// predictable from earlier ids as a Mersenne Twister's are.
std::string new_job_id() {
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
    else if (errno != EINTR) std::abort();  // Why abort: no safe fallback for ids that guard reports
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 0xf]);
  }
  return id;
}

bool same_registry(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The claim on scanning `digest` from the registry `reference` names. Why the registry in it: the scan's
// outcome depends on the registry it reads from (one that answers slowly forever holds its claim until the
// time limit), so a request naming a digest on a registry of the requester's choosing must not make
// requests for that digest on other registries wait. The report stays stored by digest alone (it is
// verified content), so whichever scan finishes first answers every registry.
std::string claim_key(const std::string& profile, const std::string& reference, const std::string& digest) {
  std::string registry;
  if (auto parsed = oci::parse_registry_reference(std::string_view(reference).substr(9))) registry = parsed->registry;
  std::transform(registry.begin(), registry.end(), registry.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return profile + ' ' + digest + ' ' + registry;
}

// The report with one image only, as stored under that image's manifest digest.
report::ScanReport single_image(const report::ScanReport& report, const report::ImageReport& image) {
  report::ScanReport out;
  out.tool_version = report.tool_version;
  out.rules_digest = report.rules_digest;
  out.images.push_back(image);
  return out;
}

}  // namespace

std::string_view job_state_name(JobState s) noexcept {
  switch (s) {
    case JobState::queued: return "queued";
    case JobState::running: return "running";
    case JobState::done: return "done";
    case JobState::failed: return "failed";
  }
  return "unknown";
}

struct JobQueue::Job {
  std::string id;
  std::string key;
  JobSpec spec;
  JobState state = JobState::queued;
  std::shared_ptr<const report::ScanReport> report;
  std::vector<wire::ImageVerdict> verdicts;
  std::string error;
  bool from_cache = false;
  std::atomic<bool> cancel{false};
  std::atomic<bool> timed_out{false};  // set by the watchdog, read by the worker
  Clock::time_point deadline{};
};

JobQueue::JobQueue(const ServeOptions& options, std::shared_ptr<const detect::Detector> detector,
                   cache::Store& cache, Metrics& metrics, bool shared)
    : options_(options), detector_(std::move(detector)), cache_(cache), metrics_(metrics),
      profile_(pipeline::cache_profile(detector_->rules().digest, options.scan)), shared_(shared),
      replica_id_(new_job_id()) {
  for (unsigned i = 0; i < std::max(1u, options_.workers); ++i) workers_.emplace_back([this] { work(); });
  watchdog_ = std::thread([this] { watch(); });
}

JobQueue::~JobQueue() { stop(); }

std::string JobQueue::dedup_key(const JobSpec& spec) {
  // Credentials are part of the key: a request must not ride on a scan made with someone else's access.
  return spec.reference + '\n' + spec.source.registry.creds + '\n' + spec.source.registry.authfile + '\n' +
         spec.source.registry.bearer_token + '\n' + (spec.source.registry.tls_verify ? "1" : "0");
}

std::string JobQueue::refusal(const std::string& reference) const {
  // Never, whatever the options: standard input is serve's own (a request must not make it read or wait on
  // it), and the Docker daemon would export any image it holds to whoever holds serve's token.
  if (oci::reads_standard_input(reference)) return "serve never reads an image from its standard input";
  if (oci::transport_of(reference) == "docker-daemon") {
    return "serve never reads images from a Docker daemon (docker-daemon: references are for `layerleak scan`)";
  }
  if (!reference.starts_with("docker://")) {
    return options_.allow_local_images ? "" : "local image sources are not read by serve (only docker:// references; "
                                              "start it with --allow-local-images to allow them)";
  }
  auto parsed = oci::parse_registry_reference(std::string_view(reference).substr(9));
  if (!parsed) return parsed.error().message;
  if (options_.allowed_registries.empty()) return "";
  for (const std::string& allowed : options_.allowed_registries) {
    if (same_registry(allowed, parsed->registry)) return "";
  }
  return "registry " + parsed->registry + " is not in serve's --allow-registry list; it is not contacted";
}

JobQueue::Submitted JobQueue::submit(JobSpec spec) {
  if (stopping_) return {Outcome::stopping, "", ""};
  if (std::string why = refusal(spec.reference); !why.empty()) return {Outcome::refused, "", std::move(why)};
  auto job = std::make_shared<Job>();
  job->id = new_job_id();
  job->key = dedup_key(spec);
  job->spec = std::move(spec);
  // A digest scanned before: answer from the stored report, no queue slot needed.
  if (auto digest = wire::reference_digest(job->spec.reference)) {
    if (auto stored = stored_report(*digest)) {
      job->state = JobState::done;
      job->from_cache = true;
      job->verdicts = wire::verdicts_from_report(*stored, options_.fail_on, options_.verify.only_live);
      job->report = std::move(stored);
      ++metrics_.verdict_cache_answers;
      std::lock_guard lock(mutex_);
      jobs_[job->id] = job;
      keep_finished_locked(job->id);
      return {Outcome::accepted, job->id, ""};
    }
  }
  std::lock_guard lock(mutex_);
  if (stopping_) return {Outcome::stopping, "", ""};
  if (auto it = active_.find(job->key); it != active_.end()) return {Outcome::existing, it->second, ""};
  if (queue_.size() >= options_.queue_size) {
    ++metrics_.rejected;
    return {Outcome::full, "", ""};
  }
  jobs_[job->id] = job;
  active_[job->key] = job->id;
  queue_.push_back(job);
  work_ready_.notify_one();
  return {Outcome::accepted, job->id, ""};
}

void JobQueue::keep_finished_locked(const std::string& id) {
  finished_.push_back(id);
  while (finished_.size() > options_.jobs_kept) {
    jobs_.erase(finished_.front());
    finished_.pop_front();
  }
}

std::optional<JobView> JobQueue::get(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  const Job& job = *it->second;
  return JobView{job.id, job.spec, job.state, job.report, job.verdicts, job.error, job.from_cache};
}

bool JobQueue::wait(const std::string& id, Clock::time_point deadline) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] {
    auto it = jobs_.find(id);
    return it == jobs_.end() || it->second->state == JobState::done || it->second->state == JobState::failed;
  }) && jobs_.count(id) > 0;
}

std::shared_ptr<const report::ScanReport> JobQueue::stored_report(const std::string& digest) {
  auto text = cache_.get_report(digest, profile_);
  if (!text) return nullptr;
  auto parsed = report::read_json(*text);
  if (!parsed) {
    std::cerr << "layerleak serve: the stored report for " << digest << " is unreadable (" << parsed.error().message
              << "); scanning again\n";
    return nullptr;
  }
  // Why check again what store() wrote: the cache file may be shared with other processes.
  for (const report::ImageReport& image : parsed->images) {
    if (!image.complete || image.transport != "docker" || (image.manifest_digest != digest && image.index_digest != digest)) return nullptr;
  }
  if (parsed->images.empty()) return nullptr;
  return std::make_shared<const report::ScanReport>(std::move(parsed).value());
}

std::optional<std::vector<wire::ImageVerdict>> JobQueue::stored_verdicts(const std::string& digest) {
  auto stored = stored_report(digest);
  if (!stored) return std::nullopt;
  return wire::verdicts_from_report(*stored, options_.fail_on, options_.verify.only_live);
}

bool JobQueue::pending(const std::string& manifest_digest) const {
  std::lock_guard lock(mutex_);
  for (const auto& [key, id] : active_) {
    auto it = jobs_.find(id);
    if (it != jobs_.end() && wire::reference_digest(it->second->spec.reference) == manifest_digest) return true;
  }
  return false;
}

std::size_t JobQueue::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

std::size_t JobQueue::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

void JobQueue::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_.exchange(true) && workers_.empty()) return;
    for (auto& [id, job] : jobs_) {
      if (job->state == JobState::running) job->cancel = true;
    }
    for (auto& job : queue_) {
      job->state = JobState::failed;
      job->error = "the server shut down before the scan started";
      active_.erase(job->key);
    }
    queue_.clear();
  }
  work_ready_.notify_all();
  changed_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
  if (watchdog_.joinable()) watchdog_.join();
}

void JobQueue::work() {
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = queue_.front();
      queue_.pop_front();
      job->state = JobState::running;
      job->deadline = Clock::now() + std::chrono::seconds(options_.scan_timeout_seconds);
      ++running_;
    }
    changed_.notify_all();
    ScanResult result;
    // Why catch here: an exception escaping a worker thread ends the process (std::terminate), and with
    // it every other scan and request. The job fails instead, and the worker goes on.
    try {
      result = run(*job);
    } catch (const std::exception& e) {
      result = ScanResult{nullptr, {}, std::string("internal error: ") + e.what()};
    } catch (...) {
      result = ScanResult{nullptr, {}, "internal error"};
    }
    finish(job, std::move(result));
  }
}

// Cancels scans past their time limit. Why a thread rather than a check in the pipeline: the pipeline
// only knows a cancel flag; the time limit is this service's policy.
void JobQueue::watch() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    changed_.wait_for(lock, std::chrono::milliseconds(200));
    const auto now = Clock::now();
    for (auto& [id, job] : jobs_) {
      if (job->state == JobState::running && now >= job->deadline && !job->cancel) {
        job->timed_out = true;
        job->cancel = true;
      }
    }
  }
}

// Runs without the lock: everything it writes is returned, and only finish() stores it in the job, which
// get() reads under the lock.
namespace {
constexpr const char* kScanClaimScope = "serve-scan";
}  // namespace

std::optional<JobQueue::ScanResult> JobQueue::claim_or_wait(Job& job, const std::string& digest, const std::string& key,
                                                            const std::string& owner) {
  // Why a lease past the time limit: the claim must outlive the scan (a slow scan is not a dead replica),
  // and a replica that crashed mid-scan frees the digest for the others after it.
  const auto lease = std::chrono::milliseconds((static_cast<std::uint64_t>(options_.scan_timeout_seconds) + 30) * 1000);
  auto backoff = std::chrono::milliseconds(50);
  bool counted = false;
  while (true) {
    auto claimed = cache_.try_claim(kScanClaimScope, key, owner, lease);
    if (!claimed) {
      std::cerr << "layerleak serve: cannot claim " << digest << " in the store (" << claimed.error().message << "); scanning\n";
      return std::nullopt;
    }
    // Claimed or not: a report may have been stored since submit() looked (the other replica just finished).
    if (auto stored = stored_report(digest)) {
      if (*claimed) (void)cache_.release(kScanClaimScope, key, owner);
      ++metrics_.replica_answers;
      ScanResult out;
      out.verdicts = wire::verdicts_from_report(*stored, options_.fail_on, options_.verify.only_live);
      out.report = std::move(stored);
      out.from_store = true;
      return out;
    }
    if (*claimed) return std::nullopt;
    if (!counted) {
      ++metrics_.claim_waits;
      counted = true;
    }
    // The watchdog cancels the job at its time limit: waiting is bounded as a scan would be.
    if (job.cancel) {
      return ScanResult{nullptr, {}, job.timed_out ? "timed out waiting for another replica's scan of " + digest
                                                   : "cancelled while waiting for another replica's scan of " + digest};
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

JobQueue::ScanResult JobQueue::run(Job& job) {
  const auto started = Clock::now();
  // Replicas sharing a store never scan one digest at once: the first claims it, the others wait for its
  // report. Tags are not claimed (their digest is known only once the manifest is read).
  std::optional<std::string> claimed_key;
  const std::string owner = replica_id_ + ':' + job.id;
  if (shared_ && job.spec.reference.starts_with("docker://")) {
    if (auto digest = wire::reference_digest(job.spec.reference)) {
      const std::string key = claim_key(profile_, job.spec.reference, *digest);
      if (auto answered = claim_or_wait(job, *digest, key, owner)) return std::move(answered).value();
      claimed_key = key;
    }
  }
  struct Release {
    cache::Store& store;
    const std::optional<std::string>& key;
    const std::string& owner;
    ~Release() {
      if (key) (void)store.release(kScanClaimScope, *key, owner);
    }
  } release{cache_, claimed_key, owner};
  pipeline::ScanOptions options = options_.scan;
  options.source = job.spec.source;
  options.cancel = &job.cancel;
  options.source.cancel = &job.cancel;
  options.layer_cache = &cache_;
  options.on_progress = nullptr;
  // Why every platform: a verdict stored under an index digest must hold for every node that pulls it.
  options.select.all_platforms = true;
  options.select.include_attestations = false;
  report::ScanReport result = pipeline::scan(job.spec.reference, detector_, options);
  if (job.timed_out) {
    for (report::ImageReport& image : result.images) {
      image.errors.push_back({"limit", "scan time limit of " + std::to_string(options_.scan_timeout_seconds) + " s exceeded", std::nullopt});
      image.complete = false;
    }
  }
  if (options_.verify.enabled && !job.cancel) {
    // --verify: before redaction (the secret is the credential checked) and before the verdict is stored.
    verify::Options check;
    check.endpoint = options_.verify.endpoint;
    check.budget = std::chrono::seconds(options_.verify.budget_seconds);
    check.cancel = &job.cancel;
    check.user_agent = "layerleak/" + std::string(pipeline::version());
    verify::StoreVerificationCache results(cache_, std::chrono::seconds(options_.verify.ttl_seconds), owner, check.budget,
                                           &job.cancel);
    const verify::ReportVerification counts = verify::verify_report(result, check, &results);
    if (counts.requests_sent + counts.from_cache > 0) {
      std::cerr << "layerleak serve: scan " << job.id << ": verified " << counts.requests_sent + counts.from_cache
                << " key(s): " << counts.requests_sent << " request(s), " << counts.from_cache << " from the store\n";
    }
  }
  // Secrets never leave this process from serve: everything kept from here on is redacted.
  report::ReportOptions redaction;
  redaction.redact_text = options_.redact_text;
  report::ScanReport safe = report::redact_report(result, redaction);
  for (report::ImageReport& image : safe.images) {
    for (auto* list : {&image.findings, &image.suppressed}) {
      for (report::Finding& f : *list) {
        f.secret = report::redact(f.secret);
        if (!f.paired_access_key.empty()) f.paired_access_key = report::redact(f.paired_access_key);
      }
    }
  }
  auto redacted = std::make_shared<const report::ScanReport>(std::move(safe));
  ScanResult out_result;
  out_result.verdicts = wire::verdicts_from_report(*redacted, options_.fail_on, options_.verify.only_live);
  out_result.report = redacted;
  store(*redacted);

  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  metrics_.duration_ms_sum += static_cast<std::uint64_t>(elapsed.count());
  const double seconds = static_cast<double>(elapsed.count()) / 1000.0;
  for (std::size_t i = 0; i < std::size(Metrics::kBuckets); ++i) {
    if (seconds <= Metrics::kBuckets[i]) ++metrics_.duration_buckets[i];
  }
  if (job.timed_out) ++metrics_.scans_timed_out;
  std::size_t findings = 0;
  for (const report::ImageReport& image : redacted->images) findings += image.findings.size();
  metrics_.findings += findings;
  const wire::Verdict overall = wire::combine_verdicts(out_result.verdicts, job.spec.reference).verdict;
  (overall == wire::Verdict::allow ? metrics_.scans_allow : overall == wire::Verdict::deny ? metrics_.scans_deny : metrics_.scans_unknown)++;
  std::cerr << "layerleak serve: scan " << job.id << " " << wire::escape_for_log(redact(job.spec.reference)) << ": "
            << wire::verdict_name(overall) << ", " << findings << " finding(s), " << elapsed.count() << " ms";
  for (const report::ImageReport& image : redacted->images) {
    for (const report::ErrorEntry& e : image.errors) std::cerr << " [" << e.code << ": " << wire::escape_for_log(e.message) << "]";
  }
  std::cerr << '\n';
  return out_result;
}

std::string JobQueue::redact(const std::string& text) const { return options_.redact_text ? options_.redact_text(text) : text; }

void JobQueue::finish(const std::shared_ptr<Job>& job, ScanResult result) {
  {
    std::lock_guard lock(mutex_);
    job->report = std::move(result.report);
    job->verdicts = std::move(result.verdicts);
    job->error = std::move(result.error);
    job->state = job->error.empty() ? JobState::done : JobState::failed;
    job->from_cache = result.from_store;
    --running_;
    active_.erase(job->key);
    keep_finished_locked(job->id);
  }
  changed_.notify_all();
}

// Stores what a scan verified, and nothing else: each complete registry image under the manifest digest
// computed from the manifest bytes it read, and the whole report under the index digest computed from the
// index bytes when every image of it was scanned completely (serve scans all platforms). Never a digest
// from the reference's text, never a local source (dir:, oci:, archives: --allow-local-images scans are
// answered but not remembered).
void JobQueue::store(const report::ScanReport& report) {
  bool whole_index = !report.images.empty();
  const std::string index = report.images.empty() ? "" : report.images.front().index_digest;
  for (const report::ImageReport& image : report.images) {
    const bool verified = image.transport == "docker" && image.manifest_digest.starts_with("sha256:");
    whole_index = whole_index && verified && image.complete && !index.empty() && image.index_digest == index;
    if (!verified || !image.complete) continue;
    write_stored(image.manifest_digest, single_image(report, image));
  }
  if (whole_index) write_stored(index, report);
}

void JobQueue::write_stored(const std::string& digest, const report::ScanReport& report) {
  std::ostringstream out;
  report::ReportOptions options;  // already redacted; written redacted again (no secret in full)
  if (!report::write_report(report, report::Format::json, options, out)) return;
  if (auto st = cache_.put_report(digest, profile_, out.str()); !st) {
    std::cerr << "layerleak serve: could not store the report for " << digest << ": " << st.error().message << '\n';
  }
}

}  // namespace layerleak::serve
