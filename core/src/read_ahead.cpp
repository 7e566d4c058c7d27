#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "layerleak/core.h"

namespace layerleak {

struct ReadAheadReader::State {
  // Why 4 x 256 KiB: enough to keep both threads busy across the uneven block sizes of inflate and
  // tar, small enough that memory stays flat per layer being read.
  static constexpr std::size_t kBuffers = 4;
  static constexpr std::size_t kBufferBytes = 256 * 1024;

  explicit State(ByteReader& source) : inner(source) {}

  ByteReader& inner;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::vector<char>> filled;  // in order, waiting for the consumer
  std::vector<std::vector<char>> spare;
  std::size_t in_use = 0;       // buffers being filled or waiting in `filled`
  bool ended = false;           // the producer saw the end of `inner` (or an error)
  std::optional<Error> error;   // delivered after every filled buffer
  bool stopping = false;        // the consumer went away
  std::vector<char> current;    // the buffer the consumer is reading from
  std::size_t current_pos = 0;
  std::thread thread;

  void produce() {
    while (true) {
      std::vector<char> buffer;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return stopping || in_use < kBuffers; });
        if (stopping) return;
        ++in_use;
        if (!spare.empty()) {
          buffer = std::move(spare.back());
          spare.pop_back();
        }
      }
      buffer.resize(kBufferBytes);
      std::size_t have = 0;
      std::optional<Error> failure;
      bool at_end = false;
      // Fill the buffer completely unless the stream ends: fewer hand-offs for small inner reads.
      while (have < buffer.size()) {
        auto n = inner.read(std::span<char>(buffer.data() + have, buffer.size() - have));
        if (!n) {
          failure = std::move(n).error();
          break;
        }
        if (*n == 0) {
          at_end = true;
          break;
        }
        have += *n;
      }
      buffer.resize(have);
      std::lock_guard lock(mutex);
      if (have > 0) {
        filled.push_back(std::move(buffer));
      } else {
        --in_use;
      }
      if (failure || at_end) {
        error = std::move(failure);
        ended = true;
        changed.notify_all();
        return;
      }
      changed.notify_all();
    }
  }
};

ReadAheadReader::ReadAheadReader(ByteReader& inner) : state_(std::make_unique<State>(inner)) {
  state_->thread = std::thread([s = state_.get()] { s->produce(); });
}

ReadAheadReader::~ReadAheadReader() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->changed.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

Result<std::size_t> ReadAheadReader::read(std::span<char> out) {
  State& s = *state_;
  if (out.empty()) return std::size_t{0};
  if (s.current_pos >= s.current.size()) {
    std::unique_lock lock(s.mutex);
    if (!s.current.empty() || s.current.capacity() > 0) {
      s.spare.push_back(std::move(s.current));
      --s.in_use;
      s.current = {};
      s.changed.notify_all();
    }
    s.changed.wait(lock, [&] { return !s.filled.empty() || s.ended; });
    if (s.filled.empty()) {
      if (s.error) return *s.error;
      return std::size_t{0};
    }
    s.current = std::move(s.filled.front());
    s.filled.pop_front();
    s.current_pos = 0;
  }
  const std::size_t n = std::min(out.size(), s.current.size() - s.current_pos);
  std::memcpy(out.data(), s.current.data() + s.current_pos, n);
  s.current_pos += n;
  return n;
}

}  // namespace layerleak
