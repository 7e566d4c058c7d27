#include "matcher.h"

#include <cstring>

namespace layerleak::detect {

Status Matcher::open(const Detector::Impl& d) {
  hs_scratch_t* scratch = nullptr;
  if (hs_clone_scratch(d.prototype_scratch.get(), &scratch) != HS_SUCCESS) {
    return make_error(Errc::internal, "Hyperscan could not clone scratch space");
  }
  scratch_.reset(scratch);
  hs_stream_t* stream = nullptr;
  if (hs_open_stream(d.database.get(), 0, &stream) != HS_SUCCESS) {
    return make_error(Errc::internal, "Hyperscan could not open a stream");
  }
  stream_.reset(stream);
  if (d.prefilter) {
    hs_stream_t* gate = nullptr;
    if (hs_open_stream(d.prefilter.get(), 0, &gate) != HS_SUCCESS) {
      return make_error(Errc::internal, "Hyperscan could not open a stream");
    }
    gate_stream_.reset(gate);
  }
  return Ok{};
}

void Matcher::begin(bool gated) {
  gated_ = gated && gate_stream_ != nullptr;
  gate_hit_ = false;
  gate_ended_ = false;
  fed_last_ = false;
  held_ = 0;
  hits_.clear();
  if (gated_) hs_reset_stream(gate_stream_.get(), 0, nullptr, nullptr, nullptr);
}

Status Matcher::feed(std::span<const char> chunk, const Sink& sink, bool last) {
  if (fed_last_) return make_error(Errc::internal, "bytes fed after the last chunk of " + where_);
  fed_last_ = last;
  if (!gated_) return scan(chunk, sink);
  if (!chunk.empty()) {
    hs_error_t rc = hs_scan_stream(gate_stream_.get(), chunk.data(), static_cast<unsigned>(chunk.size()), 0,
                                   scratch_.get(), &Matcher::on_gate, this);
    if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) return make_error(Errc::internal, "Hyperscan scan failed in " + where_);
  }
  if (!gate_hit_ && held_ + chunk.size() <= kGateBytes) {
    if (!last) {
      hold(chunk);
      return Ok{};
    }
    // Why decided here: the held bytes and this chunk are all of the file, and this chunk is still
    // readable; holding it only to drop it in finish() was a copy of every gated file.
    if (auto st = end_gate(); !st) return st;
    if (!gate_hit_) {
      gate_ended_ = true;
      held_ = 0;
      return Ok{};
    }
  }
  return open_gate(chunk, sink);
}

// The prefilter's matches decided only at end of data (a regex prefilter; plain literals never are).
Status Matcher::end_gate() {
  hs_error_t rc = hs_reset_stream(gate_stream_.get(), 0, scratch_.get(), &Matcher::on_gate, this);
  if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) return make_error(Errc::internal, "Hyperscan stream reset failed in " + where_);
  return Ok{};
}

Status Matcher::open_gate(std::span<const char> chunk, const Sink& sink) {
  gated_ = false;
  if (auto st = scan(held(), sink); !st) return st;
  held_ = 0;
  return scan(chunk, sink);
}

void Matcher::hold(std::span<const char> chunk) {
  if (chunk.empty()) return;
  if (!hold_) hold_ = PooledBlock(kGateBytes);
  std::memcpy(hold_.data() + held_, chunk.data(), chunk.size());
  held_ += chunk.size();
}

Status Matcher::scan(std::span<const char> chunk, const Sink& sink) {
  if (chunk.empty()) return Ok{};
  hs_error_t rc = hs_scan_stream(stream_.get(), chunk.data(), static_cast<unsigned>(chunk.size()), 0,
                                 scratch_.get(), &Matcher::on_match, this);
  if (rc != HS_SUCCESS) return make_error(Errc::internal, "Hyperscan scan failed in " + where_);
  std::vector<Hit> hits = std::move(hits_);
  hits_.clear();
  return sink(chunk, hits);
}

Status Matcher::finish(const Sink& sink, bool& opened) {
  opened = true;
  if (gated_) {
    if (!gate_hit_ && !gate_ended_) {
      if (auto st = end_gate(); !st) return st;
    }
    if (!gate_hit_) {
      gated_ = false;
      held_ = 0;
      opened = false;
      // The full matcher's stream saw nothing of this file: nothing to reset.
      return Ok{};
    }
    if (auto st = open_gate(std::span<const char>(), sink); !st) return st;
  }
  // Resetting with a scratch reports the matches that are only decided at end of data.
  hs_error_t rc = hs_reset_stream(stream_.get(), 0, scratch_.get(), &Matcher::on_match, this);
  if (rc != HS_SUCCESS) return make_error(Errc::internal, "Hyperscan stream reset failed in " + where_);
  std::vector<Hit> hits = std::move(hits_);
  hits_.clear();
  return sink(std::span<const char>(), hits);
}

int Matcher::on_gate(unsigned, unsigned long long, unsigned long long, unsigned, void* context) {
  static_cast<Matcher*>(context)->gate_hit_ = true;
  return 1;  // one hit is enough: stop the prefilter for this file
}

int Matcher::on_match(unsigned id, unsigned long long, unsigned long long to, unsigned, void* context) {
  static_cast<Matcher*>(context)->hits_.emplace_back(id, static_cast<std::uint64_t>(to));
  return 0;
}

}  // namespace layerleak::detect
