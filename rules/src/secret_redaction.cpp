// redact_secret and redact_occurrences: how a secret looks wherever it is not shown in full.
#include "layerleak/rules.h"

namespace layerleak::rules {

std::string redact_secret(std::string_view secret) {
  // Why: reports stored redacted (serve's cache) are written again; redacting twice must not change them.
  if (secret.size() == 12 && secret.substr(4, 4) == "****") return std::string(secret);
  if (secret.size() <= 12) return std::string(secret.size(), '*');
  std::string out(secret.substr(0, 4));
  out += "****";
  out += secret.substr(secret.size() - 4);
  return out;
}

std::string redact_occurrences(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out(text);
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    std::size_t at = out.find(secret);
    if (at == std::string::npos) continue;
    const std::string masked = redact_secret(secret);
    std::string next;
    next.reserve(out.size());
    std::size_t from = 0;
    // Why rebuild instead of replace() in place: one pass per secret, linear in the text whatever the
    // number of occurrences.
    for (; at != std::string::npos; at = out.find(secret, from)) {
      next.append(out, from, at - from);
      next += masked;
      from = at + secret.size();
    }
    next.append(out, from, std::string::npos);
    out = std::move(next);
  }
  return out;
}

}  // namespace layerleak::rules
