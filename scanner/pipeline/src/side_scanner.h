// A helper thread per scanning worker for small nested archives. Internal to the pipeline library.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "layer_scan.h"

namespace layerleak::pipeline {

// Scans small nested archives handed over whole (a Debian image holds ~1,250 gzipped man pages and
// changelogs, most of them at the end of /usr) on a second thread, so that inflating and matching them
// overlaps the worker's tar parsing instead of holding up the layer's stream while the other core has
// nothing left to do. The worker copies such a file and moves on; finish() puts the results into the
// layer's result where the worker would have put them, so a report is the same as when every file is
// scanned in order. A file over kMaxFileBytes, or one that would take the queued bytes over
// kMaxQueuedBytes while others wait, is scanned by the worker itself, which therefore never waits here
// before finish(). Why a short queue: when the side thread falls behind, both threads take archives;
// the backlog it is left with when the layer's last byte is read is what the worker waits for at
// finish() (with 4 MiB, up to 20 ms at the end of the Debian image's /usr).
class SideScanner {
 public:
  static constexpr std::uint64_t kMaxFileBytes = 1u << 20;
  static constexpr std::uint64_t kMaxQueuedBytes = 512u << 10;

  // Accepts nothing on a single core, or when no detector session can be made for it. `options` must
  // outlive it.
  SideScanner(std::shared_ptr<const detect::Detector> detector, const ScanOptions& options);
  ~SideScanner();
  SideScanner(const SideScanner&) = delete;
  SideScanner& operator=(const SideScanner&) = delete;

  // Whether a file of `size` bytes may be submitted now.
  bool accepts(std::uint64_t size);
  // Queues `content`, the whole of the layer file `path` (after accepts()); its detections and skips go
  // where `result`'s end now.
  void submit(std::string path, std::string content, const LayerResult& result);
  // Waits for the files submitted since the last finish() and merges their results into `result`.
  void finish(LayerResult& result);
  // Files scanned on its thread so far (tests check that it took some).
  std::uint64_t files_scanned() const { return files_scanned_.load(); }

 private:
  struct Job;
  void run();

  const ScanOptions& options_;
  std::unique_ptr<detect::DetectorSession> session_;  // null: disabled
  std::mutex mutex_;
  std::condition_variable work_;  // a job was queued, or stop
  std::condition_variable done_;  // a job was finished
  std::vector<std::unique_ptr<Job>> jobs_;  // this layer's, in submission order
  std::size_t next_ = 0;                    // the first job not yet scanned
  std::uint64_t queued_bytes_ = 0;
  bool stop_ = false;
  std::atomic<std::uint64_t> files_scanned_{0};
  std::thread thread_;  // started by the first submit()
};

}  // namespace layerleak::pipeline
