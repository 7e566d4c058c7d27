// fuzz_registry: bytes -> the registry client's text grammars: image references (docker://…),
// WWW-Authenticate challenges, registry JSON error bodies, auth-file keys and base64 credentials.
// Every line of the input is tried as each of them, and the whole input as a body.
#include <string>
#include <string_view>

#include "fuzz_entry.h"
#include "registry/credentials.h"
#include "registry/http.h"
#include "registry/registry.h"
#include "registry/session.h"

LAYERLEAK_FUZZ_TARGET(registry) {
  using namespace layerleak;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)oci::registry::registry_error_text(input);
  std::size_t start = 0;
  while (start <= input.size()) {
    std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(start, end - start);
    if (auto r = oci::parse_registry_reference(line)) {
      // A parsed reference prints back to one that parses to the same thing.
      auto again = oci::parse_registry_reference(r->str().substr(9));
      if (!again || again->str() != r->str() || again->host != r->host) __builtin_trap();
    }
    (void)oci::is_loopback_host(line);
    (void)oci::registry::parse_challenge(line);
    (void)oci::registry::normalise_auth_key(line);
    if (auto decoded = layerleak::base64_decode(line)) {
      if (layerleak::base64_decode(layerleak::base64_encode(*decoded)) != decoded) __builtin_trap();
    }
    (void)oci::registry::url_origin(line);
    (void)oci::registry::url_encode(line);
    start = end + 1;
  }
  return 0;
}
