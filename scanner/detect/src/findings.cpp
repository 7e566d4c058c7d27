#include "findings.h"

#include "confirm.h"

#include <algorithm>

namespace layerleak::detect {

namespace {

std::string lower(std::string_view s) { return ascii_lower(s); }

bool is_published_example(const rules::RuleSet& rules, std::string_view secret) {
  const std::string l = lower(secret);
  return std::any_of(rules.published_examples.begin(), rules.published_examples.end(),
                     [&](const rules::PublishedExample& e) { return lower(e.value) == l; });
}

// The finding of rule `other` nearest to `d`, or null.
const Detection* nearest(const std::vector<Detection>& all, const Detection& d, const rules::Rule* other) {
  const Detection* best = nullptr;
  std::uint64_t best_distance = ~std::uint64_t{0};
  for (const Detection& k : all) {
    if (k.rule != other) continue;
    const std::uint64_t distance = k.offset > d.offset ? k.offset - d.offset : d.offset - k.offset;
    if (distance < best_distance) {
      best = &k;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace

void finalize_findings(std::vector<Detection>& out, const Detector::Impl& detector, std::string_view path,
                       const IdValues& id_values) {
  std::sort(out.begin(), out.end(), [](const Detection& a, const Detection& b) {
    if (a.offset != b.offset) return a.offset < b.offset;
    if (a.rule->id != b.rule->id) return a.rule->id < b.rule->id;
    return a.confidence > b.confidence;
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Detection& a, const Detection& b) {
                          return a.offset == b.offset && a.rule == b.rule && a.secret == b.secret;
                        }),
            out.end());
  std::erase_if(out, [&](const Detection& d) {
    auto uses = id_values.find(d.secret);
    return uses != id_values.end() &&
           std::any_of(uses->second.begin(), uses->second.end(), [&](std::uint64_t at) { return at != d.offset; });
  });
  const rules::RuleSet& rules = detector.rules;
  const bool downgrade = std::any_of(rules.downgrade_paths.begin(), rules.downgrade_paths.end(),
                                     [&](const std::string& p) { return path.find(p) != std::string_view::npos; });
  for (Detection& d : out) {
    d.severity = d.rule->severity;
    if (auto pair = detector.pairs.find(d.rule); pair != detector.pairs.end()) {
      const Detection* other = nearest(out, d, pair->second);
      if (other && other->rule->patterns.front().secret == rules::SecretShape::access_key) {
        d.paired_access_key = other->secret;
        d.confidence = rules::Confidence::high;
      }
      if (!other && d.rule->unpaired_severity) d.severity = *d.rule->unpaired_severity;
    }
    if (is_published_example(rules, d.secret)) {
      d.severity = rules::Severity::info;
      d.confidence = rules::Confidence::low;
    }
    if (downgrade) {
      d.confidence = rules::Confidence::low;
      d.severity = std::min(d.severity, rules::Severity::low);
    }
  }
}

}  // namespace layerleak::detect
