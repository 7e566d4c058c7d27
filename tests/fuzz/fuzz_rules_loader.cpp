// fuzz_rules_loader: bytes -> rules::parse_rules (YAML + schema); when it parses: lint_rules,
// detect::Detector::compile (Hyperscan) and check_rule_examples. Input is capped at 16 KiB: rule files
// are trusted configuration, and what matters is that hostile YAML fails cleanly, not how long
// Hyperscan takes on a deliberately huge pattern set.
#include <string_view>

#include "fuzz_entry.h"
#include "layerleak/detect.h"
#include "layerleak/rules.h"

LAYERLEAK_FUZZ_TARGET(rules_loader) {
  using namespace layerleak;
  if (size > 16 * 1024) return -1;  // rejected: not added to the corpus
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto set = rules::parse_rules(input, "fuzz.yaml");
  if (!set) return 0;
  for (const auto& rule : set->rules) {
    if (set->find(rule.id) == nullptr) __builtin_trap();  // every parsed rule can be found by its id
  }
  (void)rules::lint_rules(*set);
  rules::RuleSet copy = *set;
  (void)rules::merge_rules(copy, *set);  // duplicate ids: must fail cleanly
  auto detector = detect::Detector::compile(std::move(set).value());
  if (!detector) return 0;
  (void)detect::check_rule_examples(*detector);
  return 0;
}
