#include "confirm.h"

#include <algorithm>
#include <cstdint>

namespace layerleak::detect {

namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_base64(char c) { return is_alnum(c) || c == '+' || c == '/' || c == '='; }

// Crockford base32 as Scaleway uses it: digits and upper-case letters except I, L, O, U.
bool is_crockford(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U');
}

std::string lower(std::string_view s) { return ascii_lower(s); }

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

// How many different bytes `text` holds (a bit per byte value: no allocation, called per candidate).
std::size_t distinct_bytes(std::string_view text) {
  std::uint64_t seen[4] = {0, 0, 0, 0};
  for (char c : text) {
    const auto b = static_cast<unsigned char>(c);
    seen[b >> 6] |= std::uint64_t{1} << (b & 63);
  }
  return static_cast<std::size_t>(__builtin_popcountll(seen[0]) + __builtin_popcountll(seen[1]) +
                                  __builtin_popcountll(seen[2]) + __builtin_popcountll(seen[3]));
}

// Placeholder-looking tokens: long runs of one character or the usual filler words.
bool looks_filled(std::string_view token) {
  const std::string l = lower(token);
  for (std::string_view word : {"xxxx", "example", "changeme", "placeholder", "your_", "dummy"}) {
    if (contains(l, word)) return true;
  }
  std::size_t run = 1;
  for (std::size_t i = 1; i < token.size(); ++i) {
    run = token[i] == token[i - 1] ? run + 1 : 1;
    if (run >= 8) return true;
  }
  return distinct_bytes(token) < 8;
}

}  // namespace

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool is_open_shape(rules::SecretShape shape) {
  return shape == rules::SecretShape::jwt || shape == rules::SecretShape::docker_auth ||
         shape == rules::SecretShape::base64_blob;
}

std::size_t fixed_length(rules::SecretShape shape) {
  switch (shape) {
    case rules::SecretShape::uuid: return 36;
    case rules::SecretShape::uuid_base64: return 48;
    case rules::SecretShape::uuid_base64_newline: return 52;
    case rules::SecretShape::access_key: return 20;
    case rules::SecretShape::alnum56: return 56;
    case rules::SecretShape::token64: return 64;
    case rules::SecretShape::alnum64: return 64;
    case rules::SecretShape::nkey_seed: return 58;
    default: return 0;
  }
}

bool continues(rules::SecretShape shape, char c) {
  switch (shape) {
    case rules::SecretShape::uuid: return is_alnum(c) || c == '_' || c == '-';
    case rules::SecretShape::uuid_base64: return is_base64(c) || c == '.';  // not the first half of a SCIM token
    case rules::SecretShape::uuid_base64_newline: return is_base64(c);
    case rules::SecretShape::access_key: return is_alnum(c);
    case rules::SecretShape::alnum56: return is_alnum(c);
    case rules::SecretShape::token64: return is_alnum(c) || c == '_' || c == '-';
    case rules::SecretShape::alnum64: return is_alnum(c);
    case rules::SecretShape::jwt: return is_alnum(c) || c == '_' || c == '-' || c == '.';
    case rules::SecretShape::docker_auth: return is_base64(c);
    case rules::SecretShape::base64_blob: return is_base64(c);
    case rules::SecretShape::nkey_seed: return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
  }
  return false;
}

bool is_canonical_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

// An ascending run ("0123456789", "ABCDEFGH") of at least `length` characters in `alphabet` order.
bool has_ascending_run(std::string_view text, std::string_view alphabet, std::size_t length) {
  std::size_t run = 1;
  for (std::size_t i = 1; i < text.size(); ++i) {
    const std::size_t a = alphabet.find(text[i - 1]), b = alphabet.find(text[i]);
    const bool next = a != std::string_view::npos && b != std::string_view::npos &&
                      (b == a + 1 || (text[i - 1] == '9' && text[i] == '0'));
    run = next ? run + 1 : 1;
    if (run >= length) return true;
  }
  return false;
}

bool is_placeholder_uuid(std::string_view uuid) {
  // The hex digits, lower-cased, on the stack (this runs for every UUID candidate).
  char buffer[64];
  std::size_t n = 0;
  for (char c : uuid.substr(0, 64)) {
    if (c != '-') buffer[n++] = ascii_lower(c);
  }
  const std::string_view digits(buffer, n);
  // Random UUIDs use 12+ distinct hex digits; 11111111-…, 00000000-…-000000000001 do not.
  if (distinct_bytes(digits) <= 3) return true;
  const std::string u = lower(uuid);
  if (contains(u, "12345678-1234") || contains(u, "xxxx") || contains(u, "00000000-0000-0000")) return true;
  // 11111111-2222-3333-4444-555555555555: every group one repeated digit.
  bool uniform_groups = true;
  for (std::size_t i = 1; i < u.size(); ++i) {
    if (u[i] != '-' && u[i - 1] != '-' && u[i] != u[i - 1]) uniform_groups = false;
  }
  return uniform_groups || has_ascending_run(digits, "0123456789abcdef", 10);
}

bool is_placeholder_access_key(std::string_view key) {
  const std::string body(key.substr(3));
  for (std::string_view word : {"XXXX", "FAKE", "EXAMPLE", "0000000000"}) {
    if (contains(body, word)) return true;
  }
  std::size_t run = 1;
  for (std::size_t i = 1; i < body.size(); ++i) {
    run = body[i] == body[i - 1] ? run + 1 : 1;
    if (run >= 6) return true;
  }
  return has_ascending_run(body, "0123456789ABCDEFGHJKMNPQRSTVWXYZ", 8);
}

bool fixed_secret_ok(rules::SecretShape shape, std::string_view secret) {
  if (secret.size() != fixed_length(shape)) return false;
  switch (shape) {
    case rules::SecretShape::uuid: return is_canonical_uuid(secret) && !is_placeholder_uuid(secret);
    case rules::SecretShape::uuid_base64: {
      auto decoded = base64_decode(secret);
      return decoded && is_canonical_uuid(*decoded) && !is_placeholder_uuid(*decoded);
    }
    case rules::SecretShape::uuid_base64_newline: {
      auto decoded = base64_decode(secret);
      return decoded && decoded->size() == 37 && decoded->back() == '\n' &&
             is_canonical_uuid(decoded->substr(0, 36)) && !is_placeholder_uuid(decoded->substr(0, 36));
    }
    case rules::SecretShape::access_key:
      return secret.substr(0, 3) == "SCW" && std::all_of(secret.begin() + 3, secret.end(), is_crockford) &&
             !is_placeholder_access_key(secret);
    case rules::SecretShape::alnum56:
    case rules::SecretShape::alnum64:
      return std::all_of(secret.begin(), secret.end(), is_alnum) && !looks_filled(secret);
    case rules::SecretShape::nkey_seed:
      return secret.substr(0, 2) == "SU" &&
             std::all_of(secret.begin(), secret.end(), [](char c) { return continues(rules::SecretShape::nkey_seed, c); }) &&
             !looks_filled(secret);
    case rules::SecretShape::token64:
      return std::all_of(secret.begin(), secret.end(), [](char c) { return is_alnum(c) || c == '_' || c == '-'; }) &&
             !looks_filled(secret);
    default: return false;
  }
}

std::string key_name_before(std::string_view line) {
  std::size_t end = line.size();
  static constexpr std::string_view kSeparators(" \t\"'=:>,({[]\0\\", 14);
  while (end > 0 && kSeparators.find(line[end - 1]) != std::string_view::npos) --end;
  std::size_t start = end;
  while (start > 0 && (is_alnum(line[start - 1]) || line[start - 1] == '_' || line[start - 1] == '-' ||
                       line[start - 1] == '.')) {
    --start;
  }
  return std::string(line.substr(start, end - start));
}

bool names_secret(std::string_view key) {
  const std::string k = lower(key);
  // Short names only as whole words: "pass" in nodemailer's auth: { user, pass }, not "passport".
  for (std::string_view word : {"pass", "pwd", "psk"}) {
    if (k == word) return true;
    const std::size_t at = k.size() - word.size();  // "smtp_pass", "auth.pass": the last word of the name
    if (k.size() > word.size() && k.ends_with(word) && (k[at - 1] == '_' || k[at - 1] == '.')) return true;
  }
  for (std::string_view word : {"secret", "token", "password", "passwd", "key", "auth", "credential"}) {
    if (contains(k, word)) return true;
  }
  return false;
}

bool is_id_name(std::string_view key) {
  const std::string k = lower(key);
  if (k.size() >= 2 && (k.ends_with("id") || k.ends_with("ids"))) return true;
  // A Scaleway access key is SCW…, never a UUID: a UUID under an access-key name is an ID (Salt Cloud's
  // Scaleway driver calls the organization ID access_key). secret_access_key stays a secret.
  const bool access = contains(k, "access_key") || contains(k, "accesskey") || contains(k, "access-key");
  if (access && !contains(k, "secret")) return true;
  if (contains(k, "organization") || contains(k, "organisation")) return true;
  const bool secret_word = contains(k, "secret") || contains(k, "token") || contains(k, "password") ||
                           contains(k, "passwd");
  return !secret_word && (contains(k, "project") || contains(k, "application") || contains(k, "user"));
}

bool is_serverless_jwt(std::string_view token) {
  auto first = token.find('.');
  if (first == std::string_view::npos) return false;
  auto second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) return false;
  if (token.size() - second - 1 < 16) return false;  // a signature, not a truncated token
  auto payload = base64_decode(token.substr(first + 1, second - first - 1));
  return payload && payload->rfind("{\"application_claim\"", 0) == 0;
}

std::optional<DockerAuth> decode_docker_auth(std::string_view base64_value) {
  auto decoded = base64_decode(base64_value);
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  DockerAuth auth{decoded->substr(0, colon), decoded->substr(colon + 1)};
  if (!is_canonical_uuid(auth.password) || is_placeholder_uuid(auth.password)) return std::nullopt;
  return auth;
}

}  // namespace layerleak::detect
