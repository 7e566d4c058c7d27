// Decoders: views of a file's bytes in which a key hidden by an encoding reads as plain text.
// Internal to detect; pure functions and small streaming state, no Hyperscan.
//
// Each decoded view is scanned by a child FileScanner (see file_scanner.h); a finding made through a
// decoder says so in its `encoding` and points back into the original bytes. Every decoder is bounded.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace layerleak::detect {

// Where decoded bytes came from: sorted checkpoints (decoded offset, source offset); between two
// checkpoints (and after the last) one decoded byte is one source byte.
class OffsetMap {
 public:
  void clear() { points_.clear(); }
  void add(std::uint32_t decoded, std::uint32_t source) { points_.emplace_back(decoded, source); }
  std::uint32_t source(std::uint32_t decoded) const;

 private:
  std::vector<std::pair<std::uint32_t, std::uint32_t>> points_;
};

// %XX escapes (any case), and '+' as a space (form bodies). False when `in` holds no valid escape.
bool decode_percent(std::string_view in, std::string& out, OffsetMap& map);
// JSON string escapes: \" \\ \/ \b \f \n \r \t and \uXXXX (UTF-8 out; surrogate pairs joined, lone
// surrogates as '?'). False when `in` holds no escape.
bool decode_json_escapes(std::string_view in, std::string& out, OffsetMap& map);

// UTF-16 text (Windows .env files, PowerShell Out-File, .reg exports).
enum class Utf16 { none, le, be };
// Decides from a file's first bytes: a byte-order mark, or text whose every other byte is NUL.
// `bom` is set to the mark's length (0 or 2).
Utf16 sniff_utf16(std::string_view head, std::size_t& bom);
// One byte per UTF-16 code unit: ASCII as it is, anything else '?' (so decoded offset d is source
// offset bom + 2d, exactly). Streaming: an odd byte waits for the next chunk.
class Utf16Narrower {
 public:
  explicit Utf16Narrower(Utf16 order) : order_(order) {}
  void feed(std::span<const char> in, std::string& out);

 private:
  Utf16 order_;
  bool pending_ = false;
  unsigned char first_ = 0;
};

}  // namespace layerleak::detect
