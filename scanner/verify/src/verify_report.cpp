// verify_report: from a finished scan report to requests, and the answers back onto its findings.
#include <algorithm>

#include "layerleak/verify.h"

namespace layerleak::verify {

namespace {

constexpr const char* kSecretKeyRule = "scaleway.secret-key";
constexpr const char* kAccessKeyRule = "scaleway.access-key";

report::Verification unsupported(std::string reason) {
  return report::Verification{"unsupported", "", std::nullopt, std::move(reason), std::nullopt};
}

int preference(const std::string& status) {  // which result an access key shows when it pairs with several
  if (status == "live") return 0;
  if (status == "invalid") return 1;
  return 2;
}

// The verification a finding gets from the results by fingerprint, or nullopt when none applies.
std::optional<report::Verification> result_for(const report::Finding& f,
                                               const std::map<std::string, report::Verification>& by_fingerprint,
                                               const std::map<std::string, report::Verification>& by_access_key) {
  if (f.rule_id == kSecretKeyRule) {
    auto it = by_fingerprint.find(f.fingerprint);
    return it != by_fingerprint.end() ? std::optional(it->second) : std::nullopt;
  }
  if (f.rule_id == kAccessKeyRule) {
    auto it = by_access_key.find(f.secret);
    if (it != by_access_key.end()) return it->second;
    return unsupported("an access key alone is not a credential and cannot be checked; no secret key was found "
                       "next to it");
  }
  if (f.rule_id.rfind("scaleway.", 0) == 0) {
    return unsupported("no safe check exists for this kind of token (docs/verification.md)");
  }
  return std::nullopt;  // a user's own rule: not a Scaleway key
}

void apply(report::Finding& f, const report::Verification& v) {
  f.verification = v;
  // A key the API rejects still leaked (and may have worked while the image was out), but it is no longer
  // an open door: low at most. Verification never raises a severity.
  if (v.status == "invalid") f.severity = std::min(f.severity, rules::Severity::low);
}

}  // namespace

ReportVerification verify_report(report::ScanReport& report, const Options& options, VerificationCache* cache) {
  ReportVerification stats;
  std::map<std::string, report::Verification> by_fingerprint;
  // Why in fingerprint order: a store-backed cache claims each key it has no answer for, and owners that
  // claim in one global order never wait on each other in a cycle.
  std::map<std::string, Request> distinct;
  for (const report::ImageReport& image : report.images) {
    for (const report::Finding& f : image.findings) {
      if (f.rule_id == kSecretKeyRule) distinct.try_emplace(f.fingerprint, Request{f.fingerprint, f.secret, f.paired_access_key});
    }
  }
  std::vector<Request> requests;
  for (auto& [fingerprint, request] : distinct) {
    if (cache) {
      if (auto cached = cache->get(fingerprint)) {
        by_fingerprint[fingerprint] = *cached;
        ++stats.from_cache;
        continue;
      }
    }
    requests.push_back(std::move(request));
  }
  stats.requests_sent = requests.size();
  for (auto& [fingerprint, v] : verify_secrets(requests, options)) {
    if (cache) cache->put(fingerprint, v);
    by_fingerprint[fingerprint] = std::move(v);
  }
  // Each access key takes the best result of a secret key it was paired with.
  std::map<std::string, report::Verification> by_access_key;
  for (const report::ImageReport& image : report.images) {
    for (const report::Finding& f : image.findings) {
      if (f.rule_id != kSecretKeyRule || f.paired_access_key.empty()) continue;
      auto it = by_fingerprint.find(f.fingerprint);
      if (it == by_fingerprint.end()) continue;
      auto [slot, inserted] = by_access_key.try_emplace(f.paired_access_key, it->second);
      if (!inserted && preference(it->second.status) < preference(slot->second.status)) slot->second = it->second;
    }
  }
  for (report::ImageReport& image : report.images) {
    for (std::vector<report::Finding>* list : {&image.findings, &image.suppressed}) {
      for (report::Finding& f : *list) {
        if (auto v = result_for(f, by_fingerprint, by_access_key)) apply(f, *v);
      }
    }
  }
  return stats;
}

}  // namespace layerleak::verify
