// Confirmation stage: turns a raw Hyperscan hit (rule, end offset) into a checked secret candidate,
// using only the bytes of a bounded window. Internal to the detect library.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "layerleak/detect.h"

namespace layerleak::detect {

// The bytes around the current chunk: `tail` holds the bytes just before `chunk`, which starts at
// absolute offset `chunk_start`. at(offset) is valid for offsets in [chunk_start - tail.size(),
// chunk_start + chunk.size()).
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
};

struct Candidate {
  const rules::Rule* rule = nullptr;
  std::string secret;
  std::uint64_t offset = 0;
  std::uint64_t line = 0;
  std::uint64_t column = 0;
};

// Extracts the secret that ends at `end` and checks its shape, its left boundary and placeholders.
// The right boundary (the byte at `end`) is checked separately by right_boundary_ok.
std::optional<Candidate> extract_candidate(const rules::Rule& rule, const Window& window, std::uint64_t end);

// True when `next` (the byte after the secret) ends it cleanly for this shape.
bool right_boundary_ok(rules::SecretShape shape, char next);

// Per-file post-processing: removes duplicates, pairs secret keys with access keys, sorts by offset
// then rule id.
void finalize_file(std::vector<Detection>& detections);

bool is_placeholder_uuid(std::string_view uuid);
bool is_placeholder_access_key(std::string_view key);

}  // namespace layerleak::detect
