// redact_secret and SecretMasker: how a secret looks wherever it is not shown in full.
#include <algorithm>

#include "layerleak/rules.h"

namespace layerleak::rules {

std::string redact_secret(std::string_view secret) {
  // Why: a report read back (serve's cache) holds secrets already redacted; writing it again must not
  // turn "6f2c****6b7c" into "************". No secret shape contains '*'.
  if (secret.size() == 12 && secret.substr(4, 4) == "****") return std::string(secret);
  if (secret.size() <= 12) return std::string(secret.size(), '*');
  std::string out(secret.substr(0, 4));
  out += "****";
  out += secret.substr(secret.size() - 4);
  return out;
}

SecretMasker::SecretMasker(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {
  std::erase_if(secrets_, [](const std::string& s) { return s.empty(); });
  std::sort(secrets_.begin(), secrets_.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  secrets_.erase(std::unique(secrets_.begin(), secrets_.end()), secrets_.end());
  if (secrets_.empty()) return;
  // Why an index on a fixed-length prefix rather than one find() per secret: a report can know thousands
  // of secrets and hold tens of thousands of strings; this keeps each string one pass.
  prefix_ = std::min<std::size_t>(8, secrets_.back().size());
  for (std::size_t i = 0; i < secrets_.size(); ++i) {
    by_prefix_[std::string_view(secrets_[i]).substr(0, prefix_)].push_back(i);  // stays longest first
  }
}

std::string SecretMasker::mask(std::string_view text) const {
  std::string out;
  std::size_t copied = 0;  // text[0, copied) is in `out`
  for (std::size_t at = 0; !secrets_.empty() && at + prefix_ <= text.size();) {
    const auto hit = by_prefix_.find(text.substr(at, prefix_));
    const std::string* found = nullptr;
    if (hit != by_prefix_.end()) {
      for (std::size_t i : hit->second) {
        if (text.substr(at).starts_with(secrets_[i])) {
          found = &secrets_[i];
          break;
        }
      }
    }
    if (found == nullptr) {
      ++at;
      continue;
    }
    out.append(text, copied, at - copied);
    out += redact_secret(*found);
    at += found->size();
    copied = at;
  }
  if (copied == 0) return std::string(text);
  out.append(text, copied);
  return out;
}

}  // namespace layerleak::rules
