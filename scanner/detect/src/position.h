// Where the stream is: the bounded look-back window and the line count. Internal to detect.
//
// Hyperscan reports where a match ends; the confirmation stage needs the bytes before it (the secret,
// its key name, the structure above it) and the line and column of the secret. The tracker keeps the
// last kWindow bytes before the current chunk and counts newlines once, so memory never grows with
// the file and results never depend on chunk sizes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace layerleak::detect {

// Why 16 KiB: the longest fixed secret plus its key name fits many times over, and so do a Serverless
// JWT, a base64-encoded env file and the structure above a value (kBackScan); copying it per chunk is
// noise next to decompression.
constexpr std::size_t kWindow = 16 * 1024;
// How far back anything is read from a match end. Why less than kWindow: the window always holds this
// much before any match, whatever the chunk sizes, so results never depend on them.
constexpr std::size_t kBackScan = 8 * 1024;
constexpr std::uint64_t kNoNewline = ~std::uint64_t{0};

// The bytes around the current chunk: `tail` holds the bytes just before `chunk`, which starts at
// absolute offset `chunk_start`. at(offset) is valid for offsets in [begin(), end()).
struct Window {
  const std::string& tail;
  std::span<const char> chunk;
  std::uint64_t chunk_start;

  std::uint64_t begin() const { return chunk_start - tail.size(); }
  std::uint64_t end() const { return chunk_start + chunk.size(); }
  char at(std::uint64_t offset) const {
    return offset >= chunk_start ? chunk[static_cast<std::size_t>(offset - chunk_start)]
                                 : tail[static_cast<std::size_t>(offset - begin())];
  }
  // The bytes [from, to) (clamped to the window) as a string.
  std::string slice(std::uint64_t from, std::uint64_t to) const;
  // The same bytes without a copy when they lie in one piece (tail or chunk); else copied into `buffer`.
  std::string_view view(std::uint64_t from, std::uint64_t to, std::string& buffer) const;
};

class PositionTracker {
 public:
  void reset();
  std::uint64_t position() const { return position_; }  // bytes of the file before the current chunk
  Window window(std::span<const char> chunk) const { return Window{tail_, chunk, position_}; }

  // A forward-only line counter over one chunk's hits (Hyperscan reports them in end order).
  struct Cursor {
    std::uint64_t at;            // bytes before `at` are counted
    std::uint64_t lines;         // newlines in [0, at)
    std::uint64_t last_newline;  // offset of the last newline before `at`, or kNoNewline
  };
  Cursor cursor() const { return Cursor{position_, newlines_, last_newline_}; }
  // 1-based line and byte column of `offset` (in the window); moves the cursor forward when it can.
  void locate(std::uint64_t offset, const Window& window, Cursor& cursor, std::uint64_t& line,
              std::uint64_t& column) const;
  // Counts the chunk's newlines and slides the window past it.
  void advance(std::span<const char> chunk);

 private:
  std::string tail_;
  std::uint64_t position_ = 0;
  std::uint64_t newlines_ = 0;
  std::uint64_t last_newline_ = kNoNewline;
  std::uint64_t oldest_newline_before_window_ = kNoNewline;
};

}  // namespace layerleak::detect
