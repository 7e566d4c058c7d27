#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "layerleak/core.h"

namespace layerleak {

namespace {

// The blocks of memory PooledBlocks give back, kept by size for the next block of that size. At most
// kKeptBytes are kept (the rings of a few layers read at once and the sessions' holds); the rest are
// freed.
class BlockPool {
 public:
  static constexpr std::size_t kAlign = 2u << 20;
  static constexpr std::size_t kKeptBytes = 96u << 20;

  static BlockPool& instance() {
    static BlockPool pool;
    return pool;
  }
  char* acquire(std::size_t bytes) {
    {
      std::lock_guard lock(mutex_);
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->first != bytes) continue;
        char* block = it->second;
        free_.erase(it);
        kept_ -= bytes;
        return block;
      }
    }
    // Why the whole rounded size is advised: the kernel backs a range with a huge page only when the
    // advice covers all of its aligned 2 MiB.
    const std::size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    void* block = std::aligned_alloc(kAlign, rounded);
    if (block == nullptr) throw std::bad_alloc();
    madvise(block, rounded, MADV_HUGEPAGE);  // advice only: without huge pages the block still works
    return static_cast<char*>(block);
  }
  void release(char* block, std::size_t bytes) {
    std::lock_guard lock(mutex_);
    if (kept_ + bytes <= kKeptBytes) {
      free_.emplace_back(bytes, block);
      kept_ += bytes;
    } else {
      std::free(block);
    }
  }
  ~BlockPool() {
    for (auto& [bytes, block] : free_) std::free(block);
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<std::size_t, char*>> free_;
  std::size_t kept_ = 0;
};

}  // namespace

PooledBlock::PooledBlock(std::size_t bytes) : data_(BlockPool::instance().acquire(bytes)), size_(bytes) {}

PooledBlock::~PooledBlock() {
  if (data_ != nullptr) BlockPool::instance().release(data_, size_);
}

PooledBlock::PooledBlock(PooledBlock&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

PooledBlock& PooledBlock::operator=(PooledBlock&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) BlockPool::instance().release(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

}  // namespace layerleak
