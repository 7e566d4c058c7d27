// The UUID finder: canonical UUIDs that could be secret keys, found without Hyperscan. Internal to
// detect; see rules::Pattern::finder.
#pragma once

#include <cstdint>
#include <vector>

#include "position.h"

namespace layerleak::detect {

// Appends the end offsets, in order, of the canonical UUIDs (8-4-4-4-12 hex, any case) that end inside
// `window.chunk` and whose line before them could name a secret: a secret word or a generic name
// (value, default, data, string…) within 64 bytes, or nothing but blanks, dashes, quotes and brackets,
// or a NUL byte or a Python marshal string header ("z$") right before. Needs the 36 bytes before the
// chunk in the window (a UUID may start there). Boundaries and names are checked later, as for any hit.
// UUIDs right after a Scaleway ID name (project_id, organization_id…) go to `id_ends` instead.
void find_uuid_candidates(const Window& window, std::vector<std::uint64_t>& ends, std::vector<std::uint64_t>& id_ends);

}  // namespace layerleak::detect
