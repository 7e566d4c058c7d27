#include "context.h"

#include <algorithm>
#include <cstring>

#include "confirm.h"

namespace layerleak::detect {

namespace {

// Names read above a value, at most: the value's own key, three enclosing names, one section.
constexpr std::size_t kMaxDepth = 3;
// Lines looked at for a `name:` sibling of a generic `value:` (Kubernetes env, GitLab variables).
constexpr int kSiblingLines = 4;

std::string lower(std::string_view s) { return ascii_lower(s); }

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

// The text before a value (at most kBackScan bytes, one contiguous view) read line by line backwards.
struct Lines {
  std::string_view text;  // ends right before the value

  // Start of the line holding position `at` (text.size() for the value's own line).
  std::size_t start_of(std::size_t at) const {
    if (at == 0) return 0;
    const void* nl = memrchr(text.data(), '\n', at);
    return nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - text.data()) + 1 : 0;
  }
  // The line before the one starting at `line_start` (which must be > 0), without its newline.
  std::string_view previous(std::size_t line_start, std::size_t& prev_start) const {
    prev_start = start_of(line_start - 1);
    return text.substr(prev_start, line_start - 1 - prev_start);
  }
};

// YAML indentation of a line: leading spaces, with "- " list markers counted as indentation.
std::size_t indent_of(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || (line[i] == '-' && i + 1 < line.size() && line[i + 1] == ' '))) ++i;
  return i;
}

bool blank_or_comment(std::string_view line) {
  std::size_t i = line.find_first_not_of(" \t\r");
  return i == std::string_view::npos || line[i] == '#' || (line[i] == '/' && i + 1 < line.size() && line[i + 1] == '/');
}

// "  secretKey:", "- name: x", "\"key\": {", "  <Scaleway>" -> the key of a line that opens a mapping
// (or an XML element) ("" otherwise).
std::string yaml_key(std::string_view line) {
  std::size_t i = indent_of(line);
  std::string_view rest = line.substr(i);
  if (rest.size() > 2 && rest[0] == '<' && rest[1] != '/' && rest[1] != '!' && rest[1] != '?') {
    std::size_t n = 1;
    while (n < rest.size() && is_name_char(rest[n])) ++n;
    const std::string_view tail = rest.substr(n);
    // An opening tag alone on its line (its element continues below).
    if (n > 1 && tail.find("</") == std::string_view::npos && tail.find("/>") == std::string_view::npos) {
      return std::string(rest.substr(1, n - 1));
    }
    return "";
  }
  if (!rest.empty() && (rest[0] == '"' || rest[0] == '\'')) rest.remove_prefix(1);
  std::size_t n = 0;
  while (n < rest.size() && (is_name_char(rest[n]) || rest[n] == ' ' || rest[n] == '/')) ++n;
  std::string_view key = rest.substr(0, n);
  std::string_view after = rest.substr(n);
  if (!after.empty() && (after[0] == '"' || after[0] == '\'')) after.remove_prefix(1);
  if (after.empty() || after[0] != ':') return "";
  while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
  return std::string(key);
}

// "[scaleway]", "[profiles.default]", "[remote \"scw\"]" -> the section name.
std::string section_name(std::string_view line) {
  std::size_t i = line.find_first_not_of(" \t");
  if (i == std::string_view::npos || line[i] != '[') return "";
  std::size_t close = line.find(']', i);
  if (close == std::string_view::npos) return "";
  std::string_view rest = line.substr(close + 1);
  if (rest.find_first_not_of(" \t\r") != std::string_view::npos && rest.find_first_not_of(" \t\r]") != std::string_view::npos) {
    return "";
  }
  return std::string(line.substr(i + 1, close - i - 1));
}

// Enclosing names through unmatched openers ({ or [) before `start`: JSON, HCL, Terraform state.
void brace_names(std::string_view text, std::vector<std::string>& out) {
  int depth = 0;
  std::size_t found = 0;
  for (std::size_t at = text.size(); at > 0 && found < kMaxDepth; --at) {
    const char c = text[at - 1];
    if (c == '}' || c == ']') {
      ++depth;
    } else if (c == '{' || c == '[') {
      if (depth > 0) {
        --depth;
        continue;
      }
      // The key before the opener: `"name": {`, `variable "name" {`, `name = [`.
      std::string_view before = text.substr(0, at - 1);
      if (before.size() > 160) before.remove_prefix(before.size() - 160);
      if (auto nl = before.rfind('\n'); nl != std::string_view::npos &&
                                         before.find_first_not_of(" \t\r\n", nl) != std::string_view::npos) {
        before.remove_prefix(nl + 1);
      }
      std::string key = key_name_before(before);
      if (!key.empty()) out.push_back(std::move(key));
      ++found;
    }
  }
}

// Enclosing YAML keys: the nearest earlier lines indented less than the value's line.
void indent_names(const Lines& lines, std::size_t value_line, std::size_t value_indent, std::vector<std::string>& out) {
  std::size_t indent = value_indent;
  std::size_t at = value_line;
  std::size_t found = 0;
  while (at > 0 && indent > 0 && found < kMaxDepth) {
    std::size_t prev = 0;
    const std::string_view line = lines.previous(at, prev);
    at = prev;
    if (blank_or_comment(line)) continue;
    const std::size_t i = indent_of(line);
    if (i >= indent) continue;
    indent = i;
    std::string key = yaml_key(line);
    if (key.empty()) break;  // not YAML structure
    out.push_back(std::move(key));
    ++found;
  }
}

// The nearest `[section]` header above the value: a line that starts with '[' after blanks.
std::string nearest_section(const Lines& lines, std::size_t value_line) {
  std::size_t at = value_line;
  while (at > 0) {
    std::size_t prev = 0;
    const std::string_view line = lines.previous(at, prev);
    at = prev;
    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] != '[') continue;
    if (std::string name = section_name(line); !name.empty()) return name;
  }
  return "";
}

// The value written after `word` and ':' or '=' in `text` ("name: X", "env[1].name=X", "\"key\": \"X\""),
// or "" (the last such value when there are several). Values may hold dots and brackets ("env[0].value").
std::string value_after_word(std::string_view text, std::string_view word) {
  const std::string l = lower(text);
  auto value_char = [](char c) { return is_name_char(c) || c == '[' || c == ']'; };
  std::string_view found;
  for (std::size_t at = l.find(word); at != std::string::npos; at = l.find(word, at + word.size())) {
    const bool starts = at == 0 || !(is_name_char(l[at - 1]) && l[at - 1] != '.');
    std::size_t i = at + word.size();
    if (!starts) continue;
    if (i < l.size() && (l[i] == '"' || l[i] == '\'')) ++i;
    while (i < l.size() && l[i] == ' ') ++i;
    // "name: X", "key=X", and a property list's "<key>X</key>"
    if (i >= l.size() || (l[i] != ':' && l[i] != '=' && !(l[i] == '>' && at > 0 && l[at - 1] == '<'))) continue;
    ++i;
    while (i < l.size() && (l[i] == ' ' || l[i] == '"' || l[i] == '\'')) ++i;
    std::size_t n = i;
    while (n < text.size() && value_char(text[n])) ++n;
    if (n > i) found = text.substr(i, n - i);  // the last one: nearest to the value
  }
  return std::string(found);
}

// "env[0].value" -> "value": the last part of a dotted or indexed name.
std::string_view last_segment(std::string_view name) {
  const std::size_t cut = name.find_last_of(".]");
  return cut == std::string_view::npos ? name : name.substr(cut + 1);
}

// A generic `value` whose name is a sibling: `- name: SCW_SECRET_KEY` / `value: ...`,
// {"key": "SCW_SECRET_KEY", "value": ...}, `--set env[1].name=SCW_SECRET_KEY --set env[1].value=...`. One
// more step for Helm parameter lists (Argo CD): `- name: env[0].name` / `value: SCW_SECRET_KEY` /
// `- name: env[0].value` / `value: <key>`: the sibling names a value, whose name is the value before.
std::string sibling_name(const Lines& lines, std::size_t value_line, std::string_view same_line) {
  auto name_in = [](std::string_view text) {
    std::string name = value_after_word(text, "name");
    return name.empty() ? value_after_word(text, "key") : name;
  };
  std::string name = name_in(same_line);
  std::size_t at = value_line;
  for (int i = 0; name.empty() && i < kSiblingLines && at > 0; ++i) {
    std::size_t prev = 0;
    name = name_in(lines.previous(at, prev));
    at = prev;
  }
  if (lower(last_segment(name)) != "value") return name;
  for (int i = 0; i < kSiblingLines && at > 0; ++i) {
    std::size_t prev = 0;
    if (std::string before = value_after_word(lines.previous(at, prev), "value"); !before.empty()) return before;
    at = prev;
  }
  return name;
}

// The value of the nearest `"type": "…"` (Terraform state, plan JSON) or `resource "…"` (HCL) above.
std::string type_before(std::string_view text) {
  const std::size_t json = text.rfind("\"type\"");
  const std::size_t hcl = text.rfind("resource \"");
  std::size_t at = std::string::npos;
  if (json != std::string::npos && (hcl == std::string::npos || json > hcl)) {
    at = text.find('"', text.find(':', json + 6));
  } else if (hcl != std::string::npos) {
    at = hcl + 9;
  }
  if (at == std::string_view::npos || at + 1 >= text.size()) return "";
  const std::size_t end = text.find('"', at + 1);
  if (end == std::string_view::npos || end - at > 80) return "";
  return std::string(text.substr(at + 1, end - at - 1));
}

bool contains_any(std::string_view name, const std::vector<std::string>& words) {
  const std::string l = lower(name);
  return std::any_of(words.begin(), words.end(), [&](const std::string& w) { return l.find(w) != std::string::npos; });
}

bool names_scaleway_word(std::string_view name) {
  const std::string l = lower(name);
  return l.find("scw") != std::string::npos || l.find("scaleway") != std::string::npos;
}

bool is_generic(std::string_view name, const rules::RuleSet& rules) {
  const std::string l = lower(last_segment(name));
  return std::find(rules.generic_names.begin(), rules.generic_names.end(), l) != rules.generic_names.end();
}

}  // namespace

KeyContext key_context(const Window& w, std::uint64_t start, const rules::RuleSet& rules) {
  KeyContext context;
  std::string buffer;
  const std::uint64_t lower_bound = std::max(w.begin(), start > kBackScan ? start - kBackScan : 0);
  const Lines lines{w.view(lower_bound, start, buffer)};
  const std::size_t value_line = lines.start_of(lines.text.size());
  const std::string_view same_line = lines.text.substr(value_line);
  context.own = key_name_before(same_line);
  // "Authorization: Bearer <key>": the scheme word is not the name; the header before it is.
  if (const std::string l = lower(context.own); l == "bearer" || l == "basic") {
    const std::size_t at = lower(same_line).rfind(l);
    if (std::string header = key_name_before(same_line.substr(0, at)); !header.empty()) context.own = header;
  }
  const bool generic = context.own.empty() || is_generic(context.own, rules);
  if (!context.own.empty()) context.names.push_back(context.own);
  // Why stop here: a meaningful own name decides by itself unless it names a secret without naming
  // Scaleway (then the path above may name Scaleway or another vendor). Most UUIDs are IDs: cheap.
  if (!generic && (is_id_name(context.own) || !names_secret(context.own) || names_scaleway_word(context.own))) {
    context.effective = context.own;
    return context;
  }
  if (generic) {
    if (std::string sibling = sibling_name(lines, value_line, same_line); !sibling.empty()) {
      context.names.push_back(std::move(sibling));
    }
  }
  const std::size_t before = context.names.size();
  brace_names(lines.text, context.names);
  if (context.names.size() == before) {
    // The value line's indentation: its own text up to the value, and "- " list markers.
    indent_names(lines, value_line, indent_of(same_line), context.names);
  }
  context.section = nearest_section(lines, value_line);
  for (const std::string& name : context.names) {
    if (!is_generic(name, rules)) {
      context.effective = name;
      break;
    }
  }
  return context;
}

NameVerdict judge_names(const KeyContext& context, const rules::RuleSet& rules) {
  static const std::vector<std::string> kScaleway = {"scw", "scaleway"};
  // Another vendor's name anywhere on the path wins, unless a name on the path is Scaleway's.
  if (!names_any(context, kScaleway)) {
    for (const std::string& name : context.names) {
      if (contains_any(name, rules.foreign_names)) return NameVerdict::foreign;
    }
    if (contains_any(context.section, rules.foreign_names)) return NameVerdict::foreign;
  }
  if (context.effective.empty()) return NameVerdict::none;
  // A key named for the vendor alone holds its API key ({"openai": "sk-…", "scaleway": "<key>"}); only
  // as the value's own key, not as a section or object above it.
  if (lower(context.own) == "scaleway") return NameVerdict::secret;
  if (is_id_name(context.effective)) return NameVerdict::id;
  return names_secret(context.effective) ? NameVerdict::secret : NameVerdict::none;
}

bool names_any(const KeyContext& context, const std::vector<std::string>& words) {
  return contains_any(context.section, words) ||
         std::any_of(context.names.begin(), context.names.end(), [&](const std::string& n) { return contains_any(n, words); });
}

std::string nearest_resource_type(const Window& w, std::uint64_t start) {
  std::string buffer;
  return type_before(w.view(std::max(w.begin(), start > kBackScan ? start - kBackScan : 0), start, buffer));
}

}  // namespace layerleak::detect
