// A raw Hyperscan hit on its way to becoming a secret: its bytes, boundaries and shape checks.
// Internal to detect; pure functions over the window, no Hyperscan.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "context.h"
#include "engine.h"
#include "layerleak/detect.h"
#include "position.h"

namespace layerleak::detect {

// The longest open-shape token (JWT, docker auth) followed past the match end, and for base64 blobs.
constexpr std::size_t kMaxToken = 4096;
constexpr std::size_t kMaxBlob = 64 * 1024;

struct Candidate {
  const rules::Rule* rule = nullptr;
  const rules::Pattern* pattern = nullptr;
  std::uint64_t start = 0;   // offset of the secret's (or token's) first byte
  std::string token;         // bytes from `start` on; grows while an open shape continues
  std::string line_before;   // up to kLineBefore bytes of the same line before `start`
  std::uint64_t line = 0, column = 0;
  bool binary = false;         // a NUL byte shortly before: strings packed in a binary, looser boundaries
  bool need_boundary = false;  // fixed shape waiting for the byte after the secret
  bool need_host = false;      // waiting for the host name after the match (Pattern::host_after)
  std::string host;
  bool truncated_start = false;  // open shape whose start lies beyond kBackScan
  NameVerdict verdict = NameVerdict::none;  // check_key_name: what the names above the secret say
  bool named = false;                       // check_key_name: a name above it has a named_context word
  bool type_ok = true;                      // resource_types: the resource type above is one of them
  std::size_t unless_anchor = ~std::size_t{0};  // a framework's own secret name: dropped in its files
  bool need_line_after = false;             // line_after: waiting for the rest of the line
  std::string line_after;
  bool rejected = false;         // the secret runs on past its shape: not this secret
};

// The candidate for a hit of `ref` ending at `end`, or nullopt when its shape cannot fit there.
std::optional<Candidate> start_candidate(const PatternRef& ref, const Window& window, std::uint64_t end);
// Adds bytes of `chunk` from `from` on. True when the candidate has all it needs.
bool extend(Candidate& c, std::span<const char> chunk, std::size_t from);
// The host after a URL's userinfo ends with one of the pattern's host_after suffixes.
bool host_ok(const Candidate& c);
// The rest of the line holds one of the pattern's line_after words.
bool line_after_ok(const Candidate& c);

// A detection of the candidate's rule with `secret`, at the candidate's place.
Detection make_detection(const Candidate& c, std::string secret);
// The secret the shape check accepts (decoded for base64 shapes), or nullopt. Not for base64_blob.
std::optional<Detection> check_shape(const Candidate& c);

}  // namespace layerleak::detect
