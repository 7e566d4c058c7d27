#include "confirm.h"

#include <algorithm>
#include <set>

namespace layerleak::detect {

namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_word(char c) { return is_alnum(c) || c == '_' || c == '-'; }

// Crockford base32 as Scaleway uses it: digits and upper-case letters except I, L, O, U.
bool is_crockford(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U');
}

bool is_canonical_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

std::size_t secret_length(rules::SecretShape shape) {
  switch (shape) {
    case rules::SecretShape::uuid: return 36;
    case rules::SecretShape::access_key: return 20;
  }
  return 0;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  return out;
}

}  // namespace

bool is_placeholder_uuid(std::string_view uuid) {
  std::set<char> distinct;
  for (char c : uuid) {
    if (c != '-') distinct.insert(static_cast<char>(c >= 'A' && c <= 'F' ? c + 32 : c));
  }
  // Real random UUIDs use 12+ distinct hex digits; 11111111-..., 00000000-...-000000000001 do not.
  if (distinct.size() <= 3) return true;
  const std::string u = upper(uuid);
  return u.find("12345678-1234") != std::string::npos || u.find("XXXX") != std::string::npos;
}

bool is_placeholder_access_key(std::string_view key) {
  const std::string body(key.substr(3));
  for (std::string_view word : {"XXXX", "FAKE", "EXAMPLE", "0000000000"}) {
    if (body.find(word) != std::string::npos) return true;
  }
  std::size_t run = 1;
  for (std::size_t i = 1; i < body.size(); ++i) {
    run = body[i] == body[i - 1] ? run + 1 : 1;
    if (run >= 6) return true;
  }
  return false;
}

std::optional<Candidate> extract_candidate(const rules::Rule& rule, const Window& window, std::uint64_t end) {
  const std::size_t length = secret_length(rule.secret);
  if (end < length || end - length < window.begin() || end > window.end()) return std::nullopt;
  const std::uint64_t start = end - length;
  std::string secret;
  secret.reserve(length);
  for (std::uint64_t at = start; at < end; ++at) secret.push_back(window.at(at));
  // The window always reaches at least one byte before the secret unless the secret starts the file.
  const char left = start > window.begin() ? window.at(start - 1) : '\n';
  switch (rule.secret) {
    case rules::SecretShape::uuid:
      if (!is_canonical_uuid(secret) || is_word(left) || is_placeholder_uuid(secret)) return std::nullopt;
      break;
    case rules::SecretShape::access_key:
      if (secret.compare(0, 3, "SCW") != 0) return std::nullopt;
      if (!std::all_of(secret.begin() + 3, secret.end(), is_crockford)) return std::nullopt;
      if (is_alnum(left) || is_placeholder_access_key(secret)) return std::nullopt;
      break;
  }
  Candidate c;
  c.rule = &rule;
  c.secret = std::move(secret);
  c.offset = start;
  return c;
}

bool right_boundary_ok(rules::SecretShape shape, char next) {
  switch (shape) {
    case rules::SecretShape::uuid: return !is_word(next);
    case rules::SecretShape::access_key: return !is_alnum(next);
  }
  return false;
}

void finalize_file(std::vector<Detection>& detections) {
  std::sort(detections.begin(), detections.end(), [](const Detection& a, const Detection& b) {
    if (a.offset != b.offset) return a.offset < b.offset;
    return a.rule->id < b.rule->id;
  });
  detections.erase(std::unique(detections.begin(), detections.end(),
                               [](const Detection& a, const Detection& b) {
                                 return a.offset == b.offset && a.rule == b.rule;
                               }),
                   detections.end());
  // Pair each secret key with the nearest access key in the same file.
  for (Detection& d : detections) {
    if (d.rule->secret != rules::SecretShape::uuid) continue;
    const Detection* best = nullptr;
    std::uint64_t best_distance = ~std::uint64_t{0};
    for (const Detection& k : detections) {
      if (k.rule->secret != rules::SecretShape::access_key) continue;
      std::uint64_t distance = k.offset > d.offset ? k.offset - d.offset : d.offset - k.offset;
      if (distance < best_distance) {
        best = &k;
        best_distance = distance;
      }
    }
    if (best) {
      d.paired_access_key = best->secret;
      d.confidence = rules::Confidence::high;
    }
  }
}

}  // namespace layerleak::detect
