#include "job_queue.h"

#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "layerleak/report.h"

namespace layerleak::serve {

namespace {

using Clock = std::chrono::steady_clock;

std::string new_job_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int half = 0; half < 2; ++half) {
    std::uint64_t bits = random();
    for (int i = 0; i < 16; ++i, bits >>= 4) id.push_back(kHex[bits & 0xf]);
  }
  return id;
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
  std::string report_json;
  std::vector<wire::ImageVerdict> verdicts;
  std::string error;
  bool from_cache = false;
  std::atomic<bool> cancel{false};
  std::atomic<bool> timed_out{false};  // set by the watchdog, read by the worker
  Clock::time_point deadline{};
};

JobQueue::JobQueue(const ServeOptions& options, std::shared_ptr<const detect::Detector> detector,
                   cache::ScanCache& cache, Metrics& metrics)
    : options_(options), detector_(std::move(detector)), cache_(cache), metrics_(metrics),
      profile_(pipeline::cache_profile(detector_->rules().digest, options.scan)) {
  for (unsigned i = 0; i < std::max(1u, options_.workers); ++i) workers_.emplace_back([this] { work(); });
  watchdog_ = std::thread([this] { watch(); });
}

JobQueue::~JobQueue() { stop(); }

std::string JobQueue::dedup_key(const JobSpec& spec) {
  // Credentials are part of the key: a request must not ride on a scan made with someone else's access.
  return spec.reference + '\n' + spec.source.registry.creds + '\n' + spec.source.registry.authfile + '\n' +
         spec.source.registry.bearer_token + '\n' + (spec.source.registry.tls_verify ? "1" : "0");
}

JobQueue::Submitted JobQueue::submit(JobSpec spec) {
  if (stopping_) return {Outcome::stopping, ""};
  // A digest scanned before: answer from the stored report, no queue slot needed.
  std::optional<std::string> stored;
  if (auto digest = wire::reference_digest(spec.reference)) stored = cache_.get_report(*digest, profile_);
  auto job = std::make_shared<Job>();
  job->id = new_job_id();
  job->key = dedup_key(spec);
  job->spec = std::move(spec);
  if (stored) {
    auto verdicts = wire::verdicts_from_report(*stored, options_.fail_on);
    if (verdicts) {
      job->state = JobState::done;
      job->from_cache = true;
      job->report_json = std::move(*stored);
      job->verdicts = std::move(verdicts).value();
      ++metrics_.verdict_cache_answers;
      std::lock_guard lock(mutex_);
      jobs_[job->id] = job;
      finished_.push_back(job->id);
      while (finished_.size() > options_.jobs_kept) {
        jobs_.erase(finished_.front());
        finished_.pop_front();
      }
      return {Outcome::accepted, job->id};
    }
  }
  std::lock_guard lock(mutex_);
  if (stopping_) return {Outcome::stopping, ""};
  if (auto it = active_.find(job->key); it != active_.end()) return {Outcome::existing, it->second};
  if (queue_.size() >= options_.queue_size) {
    ++metrics_.rejected;
    return {Outcome::full, ""};
  }
  jobs_[job->id] = job;
  active_[job->key] = job->id;
  queue_.push_back(job);
  work_ready_.notify_one();
  return {Outcome::accepted, job->id};
}

std::optional<JobView> JobQueue::get(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  const Job& job = *it->second;
  return JobView{job.id, job.spec, job.state, job.report_json, job.verdicts, job.error, job.from_cache};
}

bool JobQueue::wait(const std::string& id, Clock::time_point deadline) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] {
    auto it = jobs_.find(id);
    return it == jobs_.end() || it->second->state == JobState::done || it->second->state == JobState::failed;
  }) && jobs_.count(id) > 0;
}

std::optional<std::string> JobQueue::stored_report(const std::string& manifest_digest) {
  return cache_.get_report(manifest_digest, profile_);
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
      result = ScanResult{"", {}, std::string("internal error: ") + e.what()};
    } catch (...) {
      result = ScanResult{"", {}, "internal error"};
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
JobQueue::ScanResult JobQueue::run(Job& job) {
  const auto started = Clock::now();
  pipeline::ScanOptions options = options_.scan;
  options.source = job.spec.source;
  options.cancel = &job.cancel;
  options.layer_cache = &cache_;
  options.on_progress = nullptr;
  report::ScanReport result = pipeline::scan(job.spec.reference, detector_, options);
  if (job.timed_out) {
    for (report::ImageReport& image : result.images) {
      image.errors.push_back({"limit", "scan time limit of " + std::to_string(options_.scan_timeout_seconds) + " s exceeded", std::nullopt});
      image.complete = false;
    }
  }
  ScanResult out_result;
  std::ostringstream out;
  report::ReportOptions report_options;  // secrets redacted: reports leave this process
  if (auto st = report::write_report(result, report::Format::json, report_options, out); !st) {
    out_result.error = st.error().message;
    return out_result;
  }
  out_result.report_json = out.str();
  auto verdicts = wire::verdicts_from_report(out_result.report_json, options_.fail_on);
  if (!verdicts) {
    out_result.error = verdicts.error().message;
    return out_result;
  }
  out_result.verdicts = std::move(verdicts).value();
  store(wire::reference_digest(job.spec.reference).value_or(""), out_result.report_json, out_result.verdicts);

  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  metrics_.duration_ms_sum += static_cast<std::uint64_t>(elapsed.count());
  const double seconds = static_cast<double>(elapsed.count()) / 1000.0;
  for (std::size_t i = 0; i < std::size(Metrics::kBuckets); ++i) {
    if (seconds <= Metrics::kBuckets[i]) ++metrics_.duration_buckets[i];
  }
  if (job.timed_out) ++metrics_.scans_timed_out;
  std::size_t findings = 0;
  for (const report::ImageReport& image : result.images) findings += image.findings.size();
  metrics_.findings += findings;
  wire::Verdict overall = wire::Verdict::allow;
  for (const wire::ImageVerdict& v : out_result.verdicts) {
    if (v.verdict == wire::Verdict::unknown) overall = wire::Verdict::unknown;
    else if (v.verdict == wire::Verdict::deny && overall == wire::Verdict::allow) overall = wire::Verdict::deny;
  }
  if (out_result.verdicts.empty()) overall = wire::Verdict::unknown;
  (overall == wire::Verdict::allow ? metrics_.scans_allow : overall == wire::Verdict::deny ? metrics_.scans_deny : metrics_.scans_unknown)++;
  std::cerr << "layerleak serve: scan " << job.id << " " << job.spec.reference << ": " << wire::verdict_name(overall) << ", "
            << findings << " finding(s), " << elapsed.count() << " ms\n";
  return out_result;
}

void JobQueue::finish(const std::shared_ptr<Job>& job, ScanResult result) {
  {
    std::lock_guard lock(mutex_);
    job->report_json = std::move(result.report_json);
    job->verdicts = std::move(result.verdicts);
    job->error = std::move(result.error);
    job->state = job->error.empty() ? JobState::done : JobState::failed;
    --running_;
    active_.erase(job->key);
    finished_.push_back(job->id);
    while (finished_.size() > options_.jobs_kept) {
      jobs_.erase(finished_.front());
      finished_.pop_front();
    }
  }
  changed_.notify_all();
}

// Stores the report of every complete image under its manifest digest, and the whole report under the
// digest the reference named when that is not one of them (an index: its selected platform's image).
void JobQueue::store(const std::string& requested_digest, const std::string& report_json,
                     const std::vector<wire::ImageVerdict>& verdicts) {
  using nlohmann::ordered_json;
  ordered_json doc = ordered_json::parse(report_json, nullptr, false);
  if (doc.is_discarded() || !doc.contains("images")) return;
  bool all_complete = !verdicts.empty();
  bool requested_is_image = false;
  for (const ordered_json& image : doc["images"]) {
    const bool complete = image.contains("complete") && image["complete"].is_boolean() && image["complete"].get<bool>();
    all_complete = all_complete && complete;
    const std::string digest =
        image.contains("manifest_digest") && image["manifest_digest"].is_string() ? image["manifest_digest"].get<std::string>() : "";
    if (digest == requested_digest) requested_is_image = true;
    if (!complete || digest.empty()) continue;  // never cache an incomplete scan
    ordered_json single = doc;
    single["images"] = ordered_json::array({image});
    single["complete"] = true;
    (void)cache_.put_report(digest, profile_, single.dump());
  }
  if (!requested_digest.empty() && !requested_is_image && all_complete) (void)cache_.put_report(requested_digest, profile_, report_json);
}

}  // namespace layerleak::serve
