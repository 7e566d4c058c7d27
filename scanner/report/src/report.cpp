#include <algorithm>
#include <tuple>

#include "layerleak/report.h"
#include "reporters.h"

namespace layerleak::report {

bool ScanReport::complete() const {
  return std::all_of(images.begin(), images.end(), [](const ImageReport& i) { return i.complete; });
}

std::optional<rules::Severity> ScanReport::max_severity() const {
  std::optional<rules::Severity> max;
  for (const ImageReport& image : images) {
    for (const Finding& f : image.findings) {
      if (!max || f.severity > *max) max = f.severity;
    }
  }
  return max;
}

std::string fingerprint(const std::string& rule_id, const std::string& secret) {
  return Sha256::of(rule_id + ":" + secret).str();
}

std::string artifact_path(const Location& loc) {
  if (loc.kind == "config") return "image-config/" + loc.field;
  if (loc.kind == "manifest") return "image-manifest/" + loc.field;
  const std::size_t start = loc.path.find_first_not_of('/');
  std::string path = start == std::string::npos ? std::string() : loc.path.substr(start);
  return path.empty() ? std::string("image-root") : path;
}

std::string redact(const std::string& secret) {
  if (secret.size() <= 12) return std::string(secret.size(), '*');
  return secret.substr(0, 4) + "****" + secret.substr(secret.size() - 4);
}

void sort_findings(std::vector<Finding>& findings) {
  auto key = [](const Finding& f) {
    return std::make_tuple(f.location.kind != "config" && f.location.kind != "manifest",
                           f.location.layer_index.value_or(0), f.location.path, f.location.field,
                           f.location.offset, f.rule_id);
  };
  std::stable_sort(findings.begin(), findings.end(),
                   [&](const Finding& a, const Finding& b) { return key(a) < key(b); });
}

}  // namespace layerleak::report
