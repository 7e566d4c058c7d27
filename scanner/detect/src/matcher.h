// The matcher: the prefilter gate and the Hyperscan stream over one file. Internal to detect.
//
// While a file is gated, its bytes only go through the prefilter and are held (up to kGateBytes); the
// first prefilter hit sends everything held, then the rest, through the full matcher. A file that ends
// without a prefilter hit never reaches the full matcher: that is what keeps ordinary text at
// memory-scan speed. The full matcher gives the same result for any chunking, so holding bytes back
// never changes findings. A chunk fed as the file's last is not held: the gate is decided on it at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine.h"

namespace layerleak::detect {

// Files are held back (copied) up to this size while the prefilter has not matched. Larger files go
// through the full matcher from there on.
constexpr std::size_t kGateBytes = 1 << 20;

using Hit = std::pair<unsigned, std::uint64_t>;  // Hyperscan id, offset of the match end

class Matcher {
 public:
  // Called for every piece of bytes the full matcher has scanned, with the hits that ended in it (in
  // end order), in stream order.
  using Sink = std::function<Status(std::span<const char> bytes, std::vector<Hit>& hits)>;

  Status open(const Detector::Impl& detector);
  void begin(bool gated);
  // `last`: no byte of the file follows (finish() comes next); more bytes after it are an internal error.
  Status feed(std::span<const char> chunk, const Sink& sink, bool last = false);
  // Ends the file: matches decided only at end of data go to `sink` with an empty piece. `opened`
  // tells whether the full matcher saw the file at all.
  Status finish(const Sink& sink, bool& opened);
  const std::string& where() const { return where_; }
  void set_where(std::string where) { where_ = std::move(where); }

 private:
  Status open_gate(std::span<const char> chunk, const Sink& sink);
  Status end_gate();
  Status scan(std::span<const char> chunk, const Sink& sink);
  void hold(std::span<const char> chunk);
  std::span<const char> held() const { return {hold_.data(), held_}; }
  static int on_gate(unsigned, unsigned long long, unsigned long long, unsigned, void* context);
  static int on_match(unsigned id, unsigned long long, unsigned long long to, unsigned, void* context);

  std::unique_ptr<hs_scratch_t, ScratchDeleter> scratch_;
  std::unique_ptr<hs_stream_t, StreamDeleter> stream_;
  std::unique_ptr<hs_stream_t, StreamDeleter> gate_stream_;  // null without a prefilter
  bool gated_ = false;
  bool gate_hit_ = false;
  bool gate_ended_ = false;  // the gate saw the end of the file (a last chunk) without a hit
  bool fed_last_ = false;
  // The bytes held while the gate is closed: at most kGateBytes, in a pooled block taken on the first
  // hold (a fresh 1 MiB faulted in 4 KiB at a time was ~2.7 ms of CPU per session).
  PooledBlock hold_;
  std::size_t held_ = 0;
  std::vector<Hit> hits_;
  std::string where_;  // the file's path, for error messages
};

}  // namespace layerleak::detect
