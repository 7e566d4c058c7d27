#include "candidate.h"

#include <algorithm>
#include <cstring>

#include "confirm.h"

namespace layerleak::detect {

namespace {

// The host name after a URL's userinfo, read to check it.
constexpr std::size_t kMaxHost = 256;
// Bytes of the rest of the line read after a secret (Pattern::line_after).
constexpr std::size_t kLineAfter = 256;
// Bytes of the line before a secret kept for key-name checks.
constexpr std::size_t kLineBefore = 160;
// How far back a NUL byte makes a hit "inside a binary" (C string tables, Go string data, SQLite pages).
constexpr std::size_t kBinaryLookBack = 512;

bool is_hex_or_dash(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
}

bool is_upper_or_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }

// Whether the byte before (left) or after the secret continues it, so the match is part of a longer
// token. An access key is upper case and digits: a lower-case letter does not continue it (Go packs
// "…HPX0casfrom…"). In a binary, strings are packed without separators ("SCW_SECRET_KEY6f2c…" in Go
// string data, SQLite record columns "…secret_key6f2c…2025-02-14"): a UUID is delimited by its own
// layout, so only hex digits and dashes join it on the left and only a dash on the right.
bool joins(const Candidate& c, char neighbour, bool left) {
  const rules::SecretShape shape = c.pattern->secret;
  if (shape == rules::SecretShape::access_key) return is_upper_or_digit(neighbour) && !(c.binary && !left);
  if (c.binary && shape == rules::SecretShape::uuid) return left ? is_hex_or_dash(neighbour) : neighbour == '-';
  return continues(shape, neighbour);
}

// "…SCW_SECRET_KEY" right before a UUID with nothing between: Go packs string literals without
// separators, and SQLite puts column values side by side. A Scaleway secret name ending right at the
// value is as good as a separator.
bool packed_after_name(const Window& window, std::uint64_t start) {
  std::string name;
  for (std::uint64_t at = start; at > window.begin() && name.size() < 64; --at) {
    const char c = window.at(at - 1);
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) break;
    name.insert(name.begin(), ascii_lower(c));
  }
  const bool scaleway = name.find("scw") != std::string::npos || name.find("scaleway") != std::string::npos;
  return scaleway && (name.ends_with("secret_key") || name.ends_with("secretkey") || name.ends_with("token") ||
                      name.ends_with("password"));
}

// "SCW…" (an access key) right before `start`: SQLite puts a row's login and password columns side by
// side, so the secret key follows its access key with no separator.
bool packed_after_access_key(const Window& window, std::uint64_t start) {
  if (start < 20 || start - 20 < window.begin()) return false;
  const std::string key = window.slice(start - 20, start);
  return fixed_secret_ok(rules::SecretShape::access_key, key);
}

}  // namespace

std::optional<Candidate> start_candidate(const PatternRef& ref, const Window& window, std::uint64_t end) {
  const rules::SecretShape shape = ref.pattern->secret;
  Candidate c;
  c.rule = ref.rule;
  c.pattern = ref.pattern;
  std::uint64_t token_end = end;
  if (is_open_shape(shape)) {
    // The token starts where its characters start, at or before the match end, at most kBackScan back.
    const std::uint64_t lower = end > kBackScan ? end - kBackScan : 0;
    std::uint64_t start = end;
    while (start > lower && continues(shape, window.at(start - 1))) --start;
    if (start == lower && start > 0 && continues(shape, window.at(start - 1))) {
      if (shape != rules::SecretShape::base64_blob) return std::nullopt;  // a token this long is not ours
      c.truncated_start = true;
    }
    c.start = start;
  } else {
    const std::size_t length = fixed_length(shape);
    if (end < ref.pattern->secret_end + length) return std::nullopt;
    token_end = end - ref.pattern->secret_end;
    if (token_end - length < window.begin()) return std::nullopt;
    c.start = token_end - length;
  }
  const std::uint64_t look_from = std::max(window.begin(), c.start > kBinaryLookBack ? c.start - kBinaryLookBack : 0);
  std::string buffer;
  const std::string_view before = window.view(look_from, c.start, buffer);
  c.binary = !before.empty() && std::memchr(before.data(), 0, before.size()) != nullptr;
  if (!c.binary && shape == rules::SecretShape::uuid && packed_after_name(window, c.start)) c.binary = true;
  if (!is_open_shape(shape)) {
    // A boundary byte inside the match is known now; otherwise wait for the byte after it.
    if (ref.pattern->secret_end > 0) {
      if (joins(c, window.at(token_end), false)) return std::nullopt;
    } else {
      c.need_boundary = true;
    }
    c.need_host = !ref.pattern->host_after.empty();
  }
  c.need_line_after = !ref.pattern->line_after.empty();
  for (std::uint64_t at = c.start; at < token_end; ++at) c.token.push_back(window.at(at));
  const char left = c.start > window.begin() ? window.at(c.start - 1) : '\n';
  // A dash may end the separator before a UUID ("${SCW_SECRET_KEY:-<uuid>}"); letters, digits and
  // underscores may not: then the UUID is part of a longer word.
  bool left_joins = shape == rules::SecretShape::uuid ? (joins(c, left, true) && left != '-') : joins(c, left, true);
  if (left_joins && shape == rules::SecretShape::uuid && packed_after_access_key(window, c.start)) {
    left_joins = false;
    c.binary = true;
  }
  if (!is_open_shape(shape) && left_joins) return std::nullopt;
  // {6f2c…} is a GUID in a registry export, a .sln or a COM class id, never a key.
  if (shape == rules::SecretShape::uuid && left == '{') return std::nullopt;
  std::uint64_t from = c.start;
  while (from > window.begin() && c.start - from < kLineBefore && window.at(from - 1) != '\n') --from;
  c.line_before = window.slice(from, c.start);
  return c;
}

bool extend(Candidate& c, std::span<const char> chunk, std::size_t from) {
  const rules::SecretShape shape = c.pattern->secret;
  if (!is_open_shape(shape)) {
    if (c.need_boundary) {
      if (from >= chunk.size()) return false;
      c.need_boundary = false;
      if (joins(c, chunk[from], false)) {
        c.rejected = true;
        return true;
      }
    }
    if (c.need_host) {
      std::size_t i = from;
      while (i < chunk.size() && c.host.size() < kMaxHost &&
             std::string_view("/:?# \t\r\n\"'@").find(chunk[i]) == std::string_view::npos) {
        c.host.push_back(chunk[i++]);
      }
      if (i < chunk.size() || c.host.size() >= kMaxHost) c.need_host = false;
      if (c.need_host) return false;
    }
    if (c.need_line_after) {
      std::size_t i = from;
      while (i < chunk.size() && c.line_after.size() < kLineAfter && chunk[i] != '\n') c.line_after.push_back(chunk[i++]);
      if (i < chunk.size() || c.line_after.size() >= kLineAfter) c.need_line_after = false;
    }
    return !c.need_line_after;
  }
  const std::size_t limit = shape == rules::SecretShape::base64_blob ? kMaxBlob : kMaxToken;
  std::size_t i = from;
  while (i < chunk.size() && c.token.size() < limit && continues(shape, chunk[i])) c.token.push_back(chunk[i++]);
  return i < chunk.size() || c.token.size() >= limit;
}

bool line_after_ok(const Candidate& c) {
  if (c.pattern->line_after.empty()) return true;
  const std::string rest = ascii_lower(c.line_after);
  return std::any_of(c.pattern->line_after.begin(), c.pattern->line_after.end(),
                     [&](const std::string& word) { return rest.find(word) != std::string::npos; });
}

bool host_ok(const Candidate& c) {
  if (c.pattern->host_after.empty()) return true;
  const std::string host = ascii_lower(c.host);
  return std::any_of(c.pattern->host_after.begin(), c.pattern->host_after.end(),
                     [&](const std::string& suffix) { return host.ends_with(suffix); });
}

Detection make_detection(const Candidate& c, std::string secret) {
  Detection d;
  d.rule = c.rule;
  d.secret = std::move(secret);
  d.offset = c.start;
  d.line = c.line;
  d.column = c.column;
  d.severity = c.rule->severity;
  d.confidence = c.pattern->confidence;
  return d;
}

std::optional<Detection> check_shape(const Candidate& c) {
  const rules::SecretShape shape = c.pattern->secret;
  switch (shape) {
    case rules::SecretShape::jwt:
      if (!is_serverless_jwt(c.token)) return std::nullopt;
      return make_detection(c, c.token);
    case rules::SecretShape::docker_auth: {
      auto auth = decode_docker_auth(c.token);
      if (!auth) return std::nullopt;
      Detection d = make_detection(c, auth->password);
      d.encoding = "base64";
      if (auth->user == "nologin" || auth->user == "scaleway") {
        d.confidence = rules::Confidence::high;
      } else if (!c.pattern->any_user) {
        return std::nullopt;  // another registry's credentials
      }
      return d;
    }
    case rules::SecretShape::base64_blob: return std::nullopt;
    default: break;
  }
  if (!fixed_secret_ok(shape, c.token)) return std::nullopt;
  if (shape == rules::SecretShape::uuid_base64 || shape == rules::SecretShape::uuid_base64_newline) {
    Detection d = make_detection(c, base64_decode(c.token)->substr(0, 36));
    d.encoding = "base64";
    return d;
  }
  return make_detection(c, c.token);
}

}  // namespace layerleak::detect
