// apply / suppress_hidden: move matching findings from image.findings to image.suppressed.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "layerleak/suppress.h"

namespace layerleak::suppress {

namespace {

// Returns suppressed_by for a finding, or "" to keep it active.
using Decide = std::function<std::string(const report::Finding&)>;

std::size_t move_matching(report::ScanReport& report, const Decide& decide) {
  std::size_t moved = 0;
  for (report::ImageReport& image : report.images) {
    std::vector<report::Finding> keep;
    keep.reserve(image.findings.size());
    for (report::Finding& finding : image.findings) {
      std::string why = decide(finding);
      if (why.empty()) {
        keep.push_back(std::move(finding));
      } else {
        finding.suppressed_by = std::move(why);
        image.suppressed.push_back(std::move(finding));
        ++moved;
      }
    }
    image.findings = std::move(keep);
  }
  return moved;
}

bool path_matches(const std::string& glob, const std::string& target) {
  return glob == target || glob_match(glob, target);
}

bool entry_matches(const IgnoreEntry& entry, const report::Finding& finding) {
  // An entry without criteria (only possible when built in code) must not silence everything.
  if (entry.fingerprint.empty() && entry.rule_id.empty() && entry.path_glob.empty()) return false;
  if (!entry.fingerprint.empty() && entry.fingerprint != finding.fingerprint) return false;
  if (!entry.rule_id.empty() && entry.rule_id != finding.rule_id) return false;
  if (!entry.path_glob.empty()) {
    const report::Location& loc = finding.location;
    const bool by_field = (loc.kind == "config" || loc.kind == "manifest") && !loc.field.empty();
    if (by_field) return path_matches(entry.path_glob, loc.field);
    if (!path_matches(entry.path_glob, loc.path)) return false;
    for (const std::string& alias : finding.aliases) {
      if (!path_matches(entry.path_glob, alias)) return false;
    }
  }
  return true;
}

}  // namespace

std::size_t apply(report::ScanReport& report, const Suppressions& s) {
  return move_matching(report, [&s](const report::Finding& finding) -> std::string {
    if (!finding.fingerprint.empty() && s.baseline_fingerprints.count(finding.fingerprint) != 0) return "baseline";
    for (const IgnoreEntry& entry : s.ignores) {
      if (entry_matches(entry, finding)) return "ignore: " + entry.reason;
    }
    return "";
  });
}

std::size_t suppress_hidden(report::ScanReport& report) {
  return move_matching(report, [](const report::Finding& finding) -> std::string {
    if (finding.visibility == "deleted" || finding.visibility == "overwritten") return "only-runtime";
    return "";
  });
}

}  // namespace layerleak::suppress
