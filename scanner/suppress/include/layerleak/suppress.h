// layerleak suppress: the user's decisions about which findings no longer count.
//
// Loads a baseline (fingerprints accepted earlier: a previous JSON report or a plain list) and an
// ignore file (path globs, rule ids, fingerprints, each with a mandatory reason), and moves the
// findings they match from ImageReport::findings to ImageReport::suppressed, saying why in
// Finding::suppressed_by. Suppressed findings stay in the report: counted and printed, never dropped.
// Also implements --only-runtime (suppress findings whose file a later layer deleted or overwrote).
//
// Not responsible for: finding anything (detect, pipeline), printing (report), exit statuses or option
// parsing (cli), or checking that ignore entries name rules that exist (the caller has the rule set).
// No exceptions leave this library: every failure is a Result with an Error whose message names the
// file and, where the format has lines, the line ("<file>: line N: ...").
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/core.h"
#include "layerleak/report.h"

namespace layerleak::suppress {

// One entry of an ignore file. Empty criteria are "not given"; every given criterion must match
// (path_glob AND rule_id AND fingerprint). A loaded entry always has a reason and at least one criterion;
// an entry built in code without any criterion matches nothing.
struct IgnoreEntry {
  std::string path_glob;    // glob_match() against location.path (location.field for config/manifest)
  std::string rule_id;      // exact rule id, e.g. "scaleway.secret-key"
  std::string fingerprint;  // "sha256:<64 lowercase hex>"
  std::string reason;       // why it is acceptable; shown as "ignore: <reason>"
  std::size_t line = 0;     // 1-based line of the entry in its file (0 when built in code)
};

// Everything apply() needs; plain values, cheap to build in tests.
struct Suppressions {
  std::set<std::string> baseline_fingerprints;  // "sha256:<64 lowercase hex>"
  std::vector<IgnoreEntry> ignores;
  std::string baseline_origin;  // the baseline's file name, for messages (may be empty)
};

// Reads the fingerprints of a baseline file. Accepted forms, recognised by the first non-blank byte:
//   '{'  a layerleak JSON report: every images[].findings[].fingerprint and images[].suppressed[].fingerprint
//        (so a report written with a baseline applied is itself a complete baseline);
//   '['  a JSON array of fingerprint strings;
//   else a text list: one fingerprint per line; blank lines and '#' comments (whole-line or trailing) ignored.
// An empty file is an empty baseline. Fingerprints must be "sha256:" + 64 hex digits (normalised to
// lowercase). Errors: Errc::not_found (missing file) / Errc::io (unreadable), naming the file;
// Errc::malformed naming the file and the line (invalid JSON, bad text line) or, for a well-formed JSON
// document of the wrong shape, the JSON path ("images[0].findings[2].fingerprint"); Errc::limit above
// 256 MiB or nested deeper than report::kJsonReportMaxNesting. A report is read by report::read_json
// with missing fields allowed: present fields must have the types the JSON reporter writes.
Result<std::set<std::string>> load_baseline(const std::string& path);

// Reads an ignore file. YAML only:
//
//   ignore:
//     - path: "/app/test/**"           # glob, see glob_match()
//       reason: test fixtures, keys are revoked
//     - rule: scaleway.access-key      # exact rule id
//       path: "**/docs/**"
//       reason: documentation examples
//     - fingerprint: "sha256:0123...cdef"
//       reason: accepted risk, ticket SEC-42
//
// The top level is a mapping with exactly the key "ignore" (a list; an empty list or no value is
// allowed). Each entry is a mapping with keys among path, rule, fingerprint, reason; all values are
// non-empty strings; "reason" is mandatory; at least one of path/rule/fingerprint is required; unknown
// or repeated keys are errors; globs with an unclosed '[' or a trailing '\' are errors; fingerprints
// must be "sha256:" + 64 hex digits. Entries keep their file order. Errors: Errc::not_found /
// Errc::io naming the file; Errc::malformed as "<file>: line N: <what>" (YAML syntax errors too);
// Errc::limit above 16 MiB.
Result<std::vector<IgnoreEntry>> load_ignore_file(const std::string& path);

// The "ignore" list of a YAML document that has other top-level keys too (layerleak's configuration file;
// the caller checks those): entries and errors exactly as load_ignore_file's, "<origin>: line N: ...";
// a document without "ignore" has no entries. One parser for both, so the two never disagree.
Result<std::vector<IgnoreEntry>> parse_ignore_section(const std::string& text, const std::string& origin);

// Glob matching against absolute in-image paths ("/app/.env") and config field names.
//   '*'   any run of characters except '/'; '?' one character except '/';
//   '[abc]', '[a-z]', '[!abc]' / '[^abc]': one character (never '/') in / not in the class; ']' first
//         in a class is literal; an unclosed '[' is a literal '[';
//   '\x'  the character x literally (write '\[' for a literal bracket);
//   '**'  as a whole path segment ("**/", "/**", or the whole glob): any number of directories, zero
//         included: "/a/**/b" matches "/a/b" and "/a/x/y/b"; a trailing "/**" matches everything below;
//         elsewhere ("a**b") it is a plain '*'.
// A glob not starting with '/' or "**/" (and not exactly "**") is relative: it is matched as "**/" + glob,
// so ".env" matches "/.env" and "/app/.env", and "config.Env*" matches "config.Env[2]". A glob ending
// in '/' matches everything below that directory ("node_modules/" == "**/node_modules/**"). '!' is an
// ordinary character, so nested archive members ("/opt/app.jar!/x.yml") match "/opt/*.jar!/**" but
// not "/opt/*.yml". Dot files get no special treatment. The match is on the whole string. An empty glob
// matches nothing. Pure function; never fails.
bool glob_match(std::string_view glob, std::string_view path);

// Moves the active findings that `s` matches from image.findings to the end of image.suppressed, for
// every image, and sets Finding::suppressed_by:
//   "baseline"          the fingerprint is in s.baseline_fingerprints (checked first);
//   "ignore: <reason>"  the first ignore entry (in file order) whose given criteria all match.
// A path criterion matches location.field for findings of kind "config" or "manifest" (when a field is
// set) and location.path otherwise; a glob also matches a string equal to it (so "config.Env[2]"
// works unescaped). For a file with hardlink aliases, the path criterion must match the path and every
// alias: a secret that is also reachable under a path nobody ignored stays active. Findings already
// in image.suppressed are left alone. Relative order of the remaining and of the moved findings is
// preserved. Returns how many findings were moved. Never fails.
std::size_t apply(report::ScanReport& report, const Suppressions& s);

// --only-runtime: moves active findings whose visibility is "deleted" or "overwritten" to the end of
// image.suppressed with suppressed_by "only-runtime", preserving order. Returns how many were moved.
// Never fails.
std::size_t suppress_hidden(report::ScanReport& report);

}  // namespace layerleak::suppress
