#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "layerleak/core.h"

namespace layerleak {

// A ring of slots of kSlotBytes, counted by sequence numbers: the producer fills slot `produced`, the
// consumer takes slots in order and holds the one it reads until it asks for the next, the tap (if
// any) sees each slot in order on a thread of its own. A slot is refilled once both are done with it.
// Each side sleeps only when it must and is woken only when it is actually asleep (a futex wake costs
// ~20 µs on a virtual machine, as much as inflating 10 KB); the producer sleeps until half the ring is
// free, so a fast producer and a slow consumer do not trade one wake-up per buffer.
struct ReadAheadReader::State {
  // Why 512 KiB: hand-offs stay at ~2 per MB; at least 4 slots: one being filled, one read, two in
  // between to absorb the uneven pace of inflate and tar/matching.
  static constexpr std::size_t kSlotBytes = 512 * 1024;
  static constexpr std::size_t kMinSlots = 4;

  struct Slot {
    char* bytes = nullptr;  // in `memory`, never zeroed
    std::size_t size = 0;
  };


  // One side of the ring that may have to wait: its condition variable and whether it sleeps on it.
  struct Waiter {
    std::condition_variable wakeup;
    bool asleep = false;
    template <typename Ready>
    void wait(std::unique_lock<std::mutex>& lock, Ready ready) {
      if (ready()) return;
      asleep = true;
      wakeup.wait(lock, ready);
      asleep = false;
    }
    void wake() {
      if (asleep) wakeup.notify_one();
    }
  };

  State(ByteReader& source, Tap t, std::size_t capacity)
      : inner(source), tap(std::move(t)), kBuffers(std::max(kMinSlots, capacity / kSlotBytes)),
        memory(kBuffers * kSlotBytes), slots(kBuffers) {
    for (std::size_t i = 0; i < kBuffers; ++i) slots[i].bytes = memory.data() + i * kSlotBytes;
  }

  ByteReader& inner;
  Tap tap;
  const std::size_t kBuffers;  // slots in the ring
  PooledBlock memory;  // the slots' bytes, never zeroed
  std::mutex mutex;
  Waiter producer, consumer, tapper;
  std::vector<Slot> slots;
  std::uint64_t produced = 0;  // slots filled so far
  std::uint64_t taken = 0;     // slots the consumer took
  bool holding = false;        // the consumer still reads slot taken - 1
  std::uint64_t tapped = 0;    // slots the tap is done with
  bool ended = false;          // the producer saw the end of `inner` (or an error)
  std::optional<Error> error;  // delivered after every filled slot
  bool stopping = false;       // the consumer went away
  std::thread thread;
  std::thread tap_thread;

  // The consumer's view of the slot it holds.
  const char* current = nullptr;
  std::size_t current_size = 0;
  std::size_t current_pos = 0;

  std::size_t free_slots() const {
    std::uint64_t released = taken - (holding ? 1 : 0);
    if (tap) released = std::min(released, tapped);
    return kBuffers - static_cast<std::size_t>(produced - released);
  }

  void produce() {
    while (true) {
      {
        std::unique_lock lock(mutex);
        if (free_slots() == 0) producer.wait(lock, [&] { return stopping || free_slots() >= kBuffers / 2; });
        if (stopping) break;
      }
      Slot& slot = slots[produced % kBuffers];
      std::size_t have = 0;
      std::optional<Error> failure;
      bool at_end = false;
      // Fill the buffer completely unless the stream ends: fewer hand-offs for small inner reads.
      while (have < kSlotBytes) {
        auto n = inner.read(std::span<char>(slot.bytes + have, kSlotBytes - have));
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
      slot.size = have;
      std::lock_guard lock(mutex);
      if (have > 0) ++produced;
      if (failure || at_end) {
        error = std::move(failure);
        ended = true;
      }
      consumer.wake();
      tapper.wake();
      if (ended) return;
    }
    std::lock_guard lock(mutex);
    ended = true;  // stopped early: the tap ends after the slots already filled
    tapper.wake();
  }

  void run_tap() {
    std::unique_lock lock(mutex);
    while (true) {
      tapper.wait(lock, [&] { return tapped < produced || ended; });
      if (tapped == produced) return;  // ended, every slot seen
      const Slot& slot = slots[tapped % kBuffers];
      lock.unlock();
      tap(std::span<const char>(slot.bytes, slot.size));
      lock.lock();
      ++tapped;
      if (free_slots() >= kBuffers / 2) producer.wake();
    }
  }

  // Makes sure the consumer holds a slot with unread bytes. False at the end of the stream (with the
  // producer's error in `failure`, if it had one).
  bool next(std::optional<Error>& failure) {
    if (current_pos < current_size) return true;
    std::unique_lock lock(mutex);
    if (holding) {
      holding = false;
      if (free_slots() >= kBuffers / 2) producer.wake();
    }
    consumer.wait(lock, [&] { return taken < produced || ended; });
    if (taken == produced) {
      failure = error;
      return false;
    }
    const Slot& slot = slots[taken % kBuffers];
    ++taken;
    holding = true;
    current = slot.bytes;
    current_size = slot.size;
    current_pos = 0;
    return true;
  }
};

ReadAheadReader::ReadAheadReader(ByteReader& inner, Tap tap, Options options)
    : state_(std::make_unique<State>(inner, std::move(tap), options.buffer_bytes)) {
  State* s = state_.get();
  s->thread = std::thread([s] { s->produce(); });
  pthread_setname_np(s->thread.native_handle(), options.reader_name);
  if (s->tap) {
    s->tap_thread = std::thread([s] { s->run_tap(); });
    pthread_setname_np(s->tap_thread.native_handle(), options.tap_name);
  }
}

ReadAheadReader::~ReadAheadReader() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    state_->holding = false;
    state_->taken = state_->produced;  // the consumer releases everything: the tap alone decides now
  }
  state_->producer.wakeup.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
  if (state_->tap_thread.joinable()) state_->tap_thread.join();
}

Result<std::size_t> ReadAheadReader::read(std::span<char> out) {
  State& s = *state_;
  if (out.empty()) return std::size_t{0};
  std::optional<Error> failure;
  if (!s.next(failure)) {
    if (failure) return *failure;
    return std::size_t{0};
  }
  const std::size_t n = std::min(out.size(), s.current_size - s.current_pos);
  std::memcpy(out.data(), s.current + s.current_pos, n);
  s.current_pos += n;
  return n;
}

Result<std::span<const char>> ReadAheadReader::read_block() {
  State& s = *state_;
  std::optional<Error> failure;
  if (!s.next(failure)) {
    if (failure) return *failure;
    return std::span<const char>();
  }
  std::span<const char> block(s.current + s.current_pos, s.current_size - s.current_pos);
  s.current_pos = s.current_size;
  return block;
}

}  // namespace layerleak
