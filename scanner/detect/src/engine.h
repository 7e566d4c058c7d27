// The compiled detector: the Hyperscan databases and what each Hyperscan id stands for. Internal to
// the detect library; built once by Detector::compile, immutable and shared by every session.
#pragma once

#include <hs/hs.h>

#include <map>
#include <memory>
#include <vector>

#include "database_cache.h"
#include "layerleak/detect.h"

namespace layerleak::detect {

struct ScratchDeleter {
  void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
};
struct StreamDeleter {
  void operator()(hs_stream_t* s) const { hs_close_stream(s, nullptr, nullptr, nullptr); }
};

// What a Hyperscan id stands for: a rule pattern, or an anchor pattern.
struct PatternRef {
  const rules::Rule* rule = nullptr;        // null for anchors
  const rules::Pattern* pattern = nullptr;  // for rules
  std::size_t anchor = 0;                   // for anchors: index into RuleSet::anchors
};

struct Detector::Impl {
  rules::RuleSet rules;
  std::unique_ptr<hs_database_t, DatabaseDeleter> database;
  std::unique_ptr<hs_database_t, DatabaseDeleter> prefilter;  // null when the rules have no gate
  std::unique_ptr<hs_scratch_t, ScratchDeleter> prototype_scratch;
  std::vector<PatternRef> patterns;  // by Hyperscan id, then the finder patterns (ids past the database's)
  std::vector<unsigned> uuid_finders;  // ids of the patterns whose candidates come from the UUID finder
  // Resolved `requires_any`: per rule pattern, anchor indexes and rule pointers.
  struct Requirement {
    std::vector<std::size_t> anchors;
    std::vector<const rules::Rule*> rules;
  };
  std::map<const rules::Pattern*, Requirement> requirements;
  // Resolved framework names: the own key, and the index of the anchor of the framework's files.
  std::vector<std::pair<std::string, std::size_t>> framework_names;
  // Resolved `pairs_with`, by rule.
  std::map<const rules::Rule*, const rules::Rule*> pairs;
};

}  // namespace layerleak::detect
