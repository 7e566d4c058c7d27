#include "position.h"

#include <algorithm>
#include <cstring>

namespace layerleak::detect {

namespace {

// Why blocks of 255 with a byte counter: GCC turns the inner loop into byte compares and byte
// subtractions (16 bytes per instruction); std::count widens every match to 64 bits and ran at a third
// of Hyperscan's speed.
std::uint64_t count_newlines(std::span<const char> bytes) {
  std::uint64_t total = 0;
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  while (n > 0) {
    const std::size_t block = std::min<std::size_t>(n, 255);
    unsigned char count = 0;
    for (std::size_t i = 0; i < block; ++i) count = static_cast<unsigned char>(count + (p[i] == '\n'));
    total += count;
    p += block;
    n -= block;
  }
  return total;
}

}  // namespace

std::string Window::slice(std::uint64_t from, std::uint64_t to) const {
  std::string out;
  out.assign(view(from, to, out));
  return out;
}

std::string_view Window::view(std::uint64_t from, std::uint64_t to, std::string& buffer) const {
  from = std::max(from, begin());
  to = std::min(to, end());
  if (from >= to) return {};
  if (from >= chunk_start) return {chunk.data() + (from - chunk_start), static_cast<std::size_t>(to - from)};
  const std::size_t tail_from = static_cast<std::size_t>(from - begin());
  if (to <= chunk_start) return {tail.data() + tail_from, static_cast<std::size_t>(to - from)};
  buffer.assign(tail, tail_from, std::string::npos);
  buffer.append(chunk.data(), static_cast<std::size_t>(to - chunk_start));
  return buffer;
}

void PositionTracker::reset() {
  tail_.clear();
  tail_.reserve(kWindow * 2);
  position_ = 0;
  newlines_ = 0;
  last_newline_ = kNoNewline;
  oldest_newline_before_window_ = kNoNewline;
}

void PositionTracker::locate(std::uint64_t offset, const Window& window, Cursor& cursor, std::uint64_t& line,
                             std::uint64_t& column) const {
  if (offset >= cursor.at) {
    std::uint64_t at = cursor.at;
    for (; at < offset && at < window.chunk_start; ++at) {
      if (window.at(at) == '\n') {
        ++cursor.lines;
        cursor.last_newline = at;
      }
    }
    if (at < offset) {
      // Why not byte by byte: hits in a large file put the cursor across most of its bytes (the walk
      // was 8% of a layer scan's matching thread); the chunk part is one span.
      const char* from = window.chunk.data() + (at - window.chunk_start);
      const std::size_t n = static_cast<std::size_t>(offset - at);
      const std::uint64_t lines = count_newlines(std::span<const char>(from, n));
      if (lines > 0) {
        cursor.lines += lines;
        cursor.last_newline = at + static_cast<std::uint64_t>(static_cast<const char*>(memrchr(from, '\n', n)) - from);
      }
    }
    cursor.at = offset;
    line = cursor.lines + 1;
    column = cursor.last_newline == kNoNewline ? offset + 1 : offset - cursor.last_newline;
    return;
  }
  // A start before the cursor (a hit that ends later but starts earlier): count back instead.
  std::uint64_t lines = cursor.lines;
  for (std::uint64_t at = cursor.at; at > offset; --at) {
    if (window.at(at - 1) == '\n') --lines;
  }
  std::uint64_t newline_before = oldest_newline_before_window_;
  for (std::uint64_t at = offset; at > window.begin(); --at) {
    if (window.at(at - 1) == '\n') {
      newline_before = at - 1;
      break;
    }
  }
  line = lines + 1;
  column = newline_before == kNoNewline ? offset + 1 : offset - newline_before;
}

void PositionTracker::advance(std::span<const char> chunk) {
  if (chunk.empty()) return;  // (and memrchr must not see a null pointer)
  // Slide the window: bytes that fall out of it may hold the newest newline before it.
  const std::uint64_t new_position = position_ + chunk.size();
  const std::uint64_t new_window_start = new_position - std::min<std::uint64_t>(new_position, kWindow);
  const std::uint64_t old_window_start = position_ - tail_.size();
  const Window w = window(chunk);
  for (std::uint64_t at = new_window_start; at > old_window_start; --at) {
    if (w.at(at - 1) == '\n') {
      oldest_newline_before_window_ = at - 1;
      break;
    }
  }
  newlines_ += count_newlines(chunk);
  if (const void* nl = memrchr(chunk.data(), '\n', chunk.size())) {
    last_newline_ = position_ + static_cast<std::uint64_t>(static_cast<const char*>(nl) - chunk.data());
  }
  if (chunk.size() >= kWindow) {
    tail_.assign(chunk.data() + chunk.size() - kWindow, kWindow);
  } else {
    const std::size_t keep = std::min(tail_.size(), kWindow - chunk.size());
    tail_.erase(0, tail_.size() - keep);
    tail_.append(chunk.data(), chunk.size());
  }
  position_ = new_position;
}

}  // namespace layerleak::detect
