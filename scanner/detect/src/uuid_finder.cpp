#include "uuid_finder.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <string>
#include <string_view>

namespace layerleak::detect {

namespace {

// How far back on the line the name before a value is looked for.
constexpr std::size_t kNameReach = 64;

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// The UUID whose last dash is at `d` (so it spans [d - 23, d + 13)) is laid out as one.
bool uuid_at(const Window& w, std::uint64_t d) {
  const std::uint64_t s = d - 23;
  if (w.at(s + 8) != '-' || w.at(s + 13) != '-' || w.at(s + 18) != '-') return false;
  for (std::uint64_t i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    if (!is_hex(w.at(s + i))) return false;
  }
  return true;
}

// Words of names that can hold a secret key, or that say nothing and so leave it to the structure.
bool names_could_hold_secret(std::string_view name) {
  static constexpr std::string_view kWords[] = {"secret", "token", "pass", "pwd", "psk", "key", "auth", "credential",
                                                "val", "default", "data", "content", "plaintext", "string", "bearer",
                                                "basic"};
  return std::any_of(std::begin(kWords), std::end(kWords), [&](std::string_view w) { return name.find(w) != std::string_view::npos; });
}

enum class UuidRole { none, candidate, id };

// Bit i set when p[i] is a dash, for the n <= 64 bytes at p.
std::uint64_t dash_mask(const char* p, std::size_t n) {
#if defined(__SSE2__)
  if (n == 64) {
    const __m128i dash = _mm_set1_epi8('-');
    std::uint64_t m = 0;
    for (int k = 0; k < 4; ++k) {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
      const auto bits = static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, dash)));
      m |= static_cast<std::uint64_t>(bits) << (16 * k);
    }
    return m;
  }
#endif
  std::uint64_t m = 0;
  for (std::size_t i = 0; i < n; ++i) m |= static_cast<std::uint64_t>(p[i] == '-') << i;
  return m;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

// Why only the last name before the value: it is what the structural check reads first; an ID or an
// ordinary name there ("id", "parent", "instance") settles it, and most UUIDs are such IDs. The word
// list is checked on at most kNameReach lower-cased bytes held on the stack: no allocation per UUID.
UuidRole role_of(const Window& w, std::uint64_t start) {
  const std::uint64_t lower = std::max(w.begin(), start > kNameReach ? start - kNameReach : 0);
  char line[kNameReach];
  std::size_t n = 0;
  for (std::uint64_t at = start; at > lower; --at) {  // back to the line start, at most kNameReach bytes
    const char c = w.at(at - 1);
    if (c == '\n') break;
    line[kNameReach - 1 - n++] = c;
  }
  const std::string_view before(line + (kNameReach - n), n);
  // fr-par/<uuid> (a zoned resource ID), https://…/<uuid> (a URL path), SCW…@<project id> (an S3
  // signature's Credential=, an access key's owner): IDs, never keys.
  if (!before.empty() && (before.back() == '/' || before.back() == '@')) return UuidRole::none;
  if (!before.empty() && (before.back() == '\0' || before.ends_with("z$") || before.ends_with("\xda$"))) {
    return UuidRole::candidate;
  }
  std::size_t end = before.size();
  while (end > 0 && std::string_view(" \t\r\"'=:>,({[]-\\").find(before[end - 1]) != std::string_view::npos) --end;
  if (end == 0) return UuidRole::candidate;  // alone on its line or after punctuation: the structure decides
  std::size_t begin = end;
  while (begin > 0 && is_name_char(before[begin - 1])) --begin;
  if (begin == end) return UuidRole::candidate;  // not a name (binary bytes, symbols): leave it to the checks
  char name[kNameReach];
  for (std::size_t i = begin; i < end; ++i) {
    const char c = before[i];
    name[i - begin] = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  const std::string_view lowered(name, end - begin);
  if (names_could_hold_secret(lowered)) return UuidRole::candidate;
  // Scaleway's own ID names: the value is remembered, so that the same UUID elsewhere is not a key.
  const bool scaleway_id = (lowered.find("project") != std::string_view::npos ||
                            lowered.find("organi") != std::string_view::npos) &&
                           (lowered.ends_with("id") || lowered.ends_with("ids"));
  return scaleway_id ? UuidRole::id : UuidRole::none;
}

}  // namespace

void find_uuid_candidates(const Window& w, std::vector<std::uint64_t>& ends, std::vector<std::uint64_t>& id_ends) {
  // A UUID that ends in the chunk (chunk_start < end <= chunk_end) has its last dash at end - 13:
  // look for last dashes in [chunk_start - 12, chunk_end - 12), the first 12 of them in the tail.
  const std::uint64_t from = std::max<std::uint64_t>(w.chunk_start > 12 ? w.chunk_start - 12 : 0, w.begin() + 23);
  const std::uint64_t to = w.end() >= 12 ? w.end() - 12 : 0;
  const auto consider = [&](std::uint64_t d) {
    if (d < 23 || d - 23 < w.begin() || !uuid_at(w, d)) return;
    switch (role_of(w, d - 23)) {
      case UuidRole::candidate: ends.push_back(d + 13); break;
      case UuidRole::id: id_ends.push_back(d + 13); break;
      case UuidRole::none: break;
    }
  };
  std::uint64_t at = from;
  for (; at < to && at < w.chunk_start; ++at) {  // in the tail: at most 12 bytes
    if (w.at(at) == '-') consider(at);
  }
  if (at >= to) return;
  // In the chunk, 64 bytes at a time: a last dash counts only with dashes 5, 10 and 15 bytes before it
  // (8-4-4-4-12). Why masks: text full of dashes (package lists, command lines, binaries) stopped a
  // memchr at every one of them, which was 2.5% of a layer scan's CPU.
  std::uint64_t before = 0;  // the dashes of the 64 bytes before `at`, bit j for offset at - 64 + j
  for (std::uint64_t i = 1; i <= 15 && i <= at - w.begin(); ++i) {
    if (w.at(at - i) == '-') before |= std::uint64_t{1} << (64 - i);
  }
  while (at < to) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(64, to - at));
    const std::uint64_t m = dash_mask(w.chunk.data() + (at - w.chunk_start), n);
    const std::uint64_t last_dashes = m & ((m << 5) | (before >> 59)) & ((m << 10) | (before >> 54)) & ((m << 15) | (before >> 49));
    for (std::uint64_t bits = last_dashes; bits != 0; bits &= bits - 1) consider(at + static_cast<std::uint64_t>(std::countr_zero(bits)));
    before = m;
    at += n;
  }
}

}  // namespace layerleak::detect
