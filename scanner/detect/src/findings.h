// The last step for one file: duplicates removed, pairs recorded, severities settled. Internal to detect.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine.h"

namespace layerleak::detect {

// Values a file uses under identifier names (project_id, organization), with the offsets of those uses.
using IdValues = std::unordered_map<std::string, std::vector<std::uint64_t>>;

// Sorts by offset then rule id, drops duplicates (the best confidence wins) and values the file also
// uses as identifiers somewhere else, records pairs (Rule::pairs_with), and settles each severity from its rule's:
// unpaired_severity without a pair, info for a published example value, at most low under a
// downgrade path (test sources, SDK recordings, vendored modules).
void finalize_findings(std::vector<Detection>& out, const Detector::Impl& detector, std::string_view path,
                       const IdValues& id_values);

}  // namespace layerleak::detect
