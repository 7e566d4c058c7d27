// Confirmation stage: the checks that turn a raw Hyperscan hit into a secret. Pure functions over
// bytes, shared by the streaming session. Internal to the detect library.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/detect.h"

namespace layerleak::detect {

// ASCII lower case of `s` (names, hosts, paths: never decoded text). The one copy the detector uses.
inline char ascii_lower(char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); }
std::string ascii_lower(std::string_view s);

// Fixed shapes have a known length and end at (match end - secret_end); open shapes are tokens that
// extend over a character class around the match.
bool is_open_shape(rules::SecretShape shape);
std::size_t fixed_length(rules::SecretShape shape);
// Characters that continue the secret (and so must not touch it on either side).
bool continues(rules::SecretShape shape, char c);

// Checks a complete fixed-shape secret (length already right): alphabet and placeholders.
bool fixed_secret_ok(rules::SecretShape shape, std::string_view secret);

bool is_placeholder_uuid(std::string_view uuid);
bool is_placeholder_access_key(std::string_view key);
bool is_canonical_uuid(std::string_view s);

// The key name right before a value on its line ("SCW_SECRET_KEY" in `SCW_SECRET_KEY = "…`), or "".
std::string key_name_before(std::string_view line_before);
// True for names of identifiers rather than secrets: *_id, *organization*, project ids.
bool is_id_name(std::string_view key);
// True when the name says it holds a secret (secret, token, password, key, auth, credential).
bool names_secret(std::string_view key);


// The JWT payload starts with {"application_claim" (Scaleway Serverless tokens).
bool is_serverless_jwt(std::string_view token);

// For docker config auth values: "user:password" decoded. Returns the UUID password if it is one.
struct DockerAuth {
  std::string user;
  std::string password;
};
std::optional<DockerAuth> decode_docker_auth(std::string_view base64_value);

}  // namespace layerleak::detect
