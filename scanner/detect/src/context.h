// Structure-aware context: the names above a value. Internal to detect.
//
// A value is a credential by the path of names above it, not only by the text just before it:
// Terraform's outputs.<name>.value, HCL `variable "<name>" { default = ... }`, a YAML key whose value
// sits on the next lines, a Kubernetes `- name: X` / `value: ...` pair, an INI or TOML section. The
// reader works backwards from the value over the bounded window (kBackScan bytes), with braces for
// JSON/HCL, indentation for YAML, and `[section]` headers, so it needs no state across chunks and
// gives the same answer for any chunking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layerleak/rules.h"
#include "position.h"

namespace layerleak::detect {

struct KeyContext {
  std::string own;                 // the key right before the value on its line ("" when none)
  std::vector<std::string> names;  // own key (when any), then enclosing names, innermost first
  std::string effective;           // the first name of `names` that is not generic ("" when none)
  std::string section;             // the INI/TOML section above: context, never the value's name
};

// The names above the value that starts at `start` (inside `window`).
KeyContext key_context(const Window& window, std::uint64_t start, const rules::RuleSet& rules);

enum class NameVerdict {
  secret,   // the effective name says it holds a secret
  id,       // it names an identifier (project_id, organization, ...)
  foreign,  // a name on the path belongs to another vendor
  none,     // no name, or a name that says nothing
};
NameVerdict judge_names(const KeyContext& context, const rules::RuleSet& rules);

// True when a name on the path (or the section) contains one of `words` (lower case).
bool names_any(const KeyContext& context, const std::vector<std::string>& words);

// The value of the nearest `"type": "…"` (Terraform state, plan JSON) or `resource "…"` (HCL) before
// `start`, within kBackScan bytes.
std::string nearest_resource_type(const Window& window, std::uint64_t start);

}  // namespace layerleak::detect
