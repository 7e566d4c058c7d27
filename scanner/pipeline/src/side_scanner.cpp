#include "side_scanner.h"

#include <pthread.h>

#include <utility>

#include "file_scanner.h"

namespace layerleak::pipeline {

namespace {

// A file held in memory, read as the one entry of an EntryReader.
class WholeFile final : public archive::EntryReader {
 public:
  explicit WholeFile(std::string_view bytes) : bytes_(bytes) {}
  Result<std::optional<archive::Entry>> next_entry() override { return std::optional<archive::Entry>(); }
  Result<std::span<const char>> read_block() override {
    auto block = std::span<const char>(bytes_.data(), bytes_.size());
    bytes_ = {};
    return block;
  }

 private:
  std::string_view bytes_;
};

}  // namespace

struct SideScanner::Job {
  std::string path;
  std::string content;
  std::size_t detections_at = 0;  // where the results go among the worker's
  std::size_t skipped_at = 0;
  LayerResult result;
};

SideScanner::SideScanner(std::shared_ptr<const detect::Detector> detector, const ScanOptions& options)
    : options_(options) {
  if (std::thread::hardware_concurrency() < 2) return;
  // Without a session of its own the worker scans everything itself, as before: nothing is lost.
  if (auto session = detect::DetectorSession::create(std::move(detector))) session_ = std::move(session).value();
}

SideScanner::~SideScanner() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  work_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool SideScanner::accepts(std::uint64_t size) {
  if (!session_ || size > kMaxFileBytes) return false;
  std::lock_guard lock(mutex_);
  return queued_bytes_ == 0 || queued_bytes_ + size <= kMaxQueuedBytes;
}

void SideScanner::submit(std::string path, std::string content, const LayerResult& result) {
  auto job = std::make_unique<Job>();
  job->path = std::move(path);
  job->content = std::move(content);
  job->detections_at = result.detections.size();
  job->skipped_at = result.skipped.size();
  {
    std::lock_guard lock(mutex_);
    queued_bytes_ += job->content.size();
    jobs_.push_back(std::move(job));
    if (!thread_.joinable()) {
      thread_ = std::thread([this] { run(); });
      pthread_setname_np(thread_.native_handle(), "ll-nested");
    }
  }
  work_.notify_one();
}

void SideScanner::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_.wait(lock, [this] { return stop_ || next_ < jobs_.size(); });
    if (next_ == jobs_.size()) return;  // stopping, nothing left
    Job& job = *jobs_[next_];  // stays put: jobs_ holds pointers, and finish() waits for this one
    lock.unlock();
    WholeFile file(job.content);
    scan_file(file, job.path, job.content.size(), true, *session_, options_, job.result, nullptr);
    const std::size_t size = job.content.size();
    std::string().swap(job.content);
    lock.lock();
    queued_bytes_ -= size;
    ++next_;
    ++files_scanned_;
    done_.notify_all();
  }
}

void SideScanner::finish(LayerResult& result) {
  std::vector<std::unique_ptr<Job>> jobs;
  {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return next_ == jobs_.size(); });
    jobs.swap(jobs_);
    next_ = 0;
  }
  if (jobs.empty()) return;
  // One pass over the worker's results, each job's inserted at its mark (marks never decrease).
  std::vector<FoundSecret> detections;
  std::vector<report::Skipped> skipped;
  std::size_t d = 0;
  std::size_t s = 0;
  for (auto& job : jobs) {
    for (; d < job->detections_at; ++d) detections.push_back(std::move(result.detections[d]));
    for (; s < job->skipped_at; ++s) skipped.push_back(std::move(result.skipped[s]));
    for (auto& found : job->result.detections) detections.push_back(std::move(found));
    for (auto& skip : job->result.skipped) skipped.push_back(std::move(skip));
    result.bytes_scanned += job->result.bytes_scanned;
    // Only the detector itself can fail on bytes in memory; the layer is then not scanned completely.
    if (job->result.error && !result.error) result.error = std::move(job->result.error);
  }
  for (; d < result.detections.size(); ++d) detections.push_back(std::move(result.detections[d]));
  for (; s < result.skipped.size(); ++s) skipped.push_back(std::move(result.skipped[s]));
  result.detections = std::move(detections);
  result.skipped = std::move(skipped);
}

}  // namespace layerleak::pipeline
