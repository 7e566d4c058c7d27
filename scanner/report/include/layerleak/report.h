// layerleak report: the scan result as values, and the reporters that print it.
//
// ScanReport is what the pipeline produces and every output format reads: images, their layers, their
// findings with full provenance, stats, errors. Reporters (text, json, sarif, gitlab) write it to a stream;
// unless asked otherwise, secrets are redacted wherever they appear in it (redact_report).
//
// Not responsible for: how findings are found (detect, pipeline) or which ones are suppressed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/core.h"
#include "layerleak/rules.h"

namespace layerleak::report {

struct Location {
  std::string kind = "layer";  // "layer", "file" (dir: sources), "config", "manifest"
  std::optional<std::size_t> layer_index;
  std::string layer_digest;
  std::string diff_id;
  std::string created_by;
  std::string path;   // absolute path in the image filesystem
  std::string field;  // config/manifest findings: "config.Env[2]"
  std::uint64_t line = 0;
  std::uint64_t column = 0;
  std::uint64_t offset = 0;
};

// ---- Verification (`--verify`, issue 17): filled by the verify library, printed by every reporter ----------

// The API key's metadata, from a 200 answer of GET /iam/v1alpha1/api-keys/{access_key} only. Never the secret.
struct ApiKeyInfo {
  std::string access_key;
  std::string description;
  std::string user_id;         // "" when the key belongs to an application
  std::string application_id;  // "" when the key belongs to a user
  std::string default_project_id;
  std::string created_at;  // RFC 3339 as the API wrote it
  std::string expires_at;  // "" = never expires
};

// Whether a leaked credential still works. status: "live" (200, or 403: a valid key without IAM read
// permission), "invalid" (401), "unknown" (anything else: 5xx, TLS, timeout, budget, redirect; `reason` says
// which), "unsupported" (a kind of token with no safe check).
struct Verification {
  std::string status;
  std::string checked_at;  // RFC 3339 UTC, "2026-12-03T08:40:09Z"; "" for unsupported
  std::optional<int> http_status;
  std::string reason;  // human-readable; never contains the secret
  std::optional<ApiKeyInfo> api_key;
};

struct Finding {
  std::string rule_id;
  std::string title;
  std::string remediation;
  rules::Severity severity = rules::Severity::medium;
  rules::Confidence confidence = rules::Confidence::medium;
  std::string secret;  // full value; reporters redact
  std::string fingerprint;
  std::string paired_access_key;  // full value; reporters redact
  std::string encoding = "plain";
  Location location;
  std::string visibility = "runtime";  // runtime, deleted, overwritten, config
  std::optional<std::size_t> hidden_by_layer;
  std::vector<std::string> aliases;  // other paths of the same file (hardlinks)
  std::string suppressed_by;         // why it is suppressed ("baseline", "ignore: <reason>"); "" = active
  std::optional<Verification> verification;  // only with --verify
};

struct LayerSummary {
  std::size_t index = 0;
  std::string digest;
  std::string diff_id;
  std::string media_type;
  std::string compression;
  std::string created_by;
  std::optional<std::size_t> history_index;
  std::int64_t compressed_size = 0;
  std::uint64_t entries = 0;
  std::uint64_t bytes_scanned = 0;
  bool complete = false;
};

struct Skipped {
  std::string path;
  std::optional<std::size_t> layer_index;
  std::string reason;
};

struct ErrorEntry {
  std::string code;  // errc_name
  std::string message;
  std::optional<std::size_t> layer_index;
};

struct ImageReport {
  std::string reference;
  std::string transport;
  std::string manifest_digest;
  std::string index_digest;  // the index it was selected from ("" when none); CONTRACT: index_digest
  std::string config_digest;
  std::string platform;
  std::vector<std::string> tags;
  std::map<std::string, std::string> labels;       // config.Labels
  std::map<std::string, std::string> annotations;  // manifest (and index) annotations
  std::vector<LayerSummary> layers;
  std::vector<Finding> findings;    // active findings: they decide the exit status
  std::vector<Finding> suppressed;  // matched a baseline or ignore entry: counted, never silently dropped
  std::uint64_t entries = 0;
  std::uint64_t bytes_scanned = 0;
  std::uint64_t duration_ms = 0;
  // Sources read once (standard input, compressed archives, docker-daemon:): layer bytes copied to a
  // temporary file because the archive's member order did not allow streaming; unset for the others.
  std::optional<std::uint64_t> spooled_bytes;
  std::vector<Skipped> skipped;
  std::vector<ErrorEntry> errors;
  bool complete = true;
};

struct ScanReport {
  std::string tool_version;
  std::string rules_digest;
  std::vector<ImageReport> images;
  // Wall-clock time the scan started and finished, Unix milliseconds (UTC); 0 = unknown (a report read
  // back from JSON, a hand-made one). Only the GitLab format prints them (scan.start_time/end_time).
  std::int64_t started_at_ms = 0;
  std::int64_t finished_at_ms = 0;

  bool complete() const;
  // Highest severity among all findings, if any.
  std::optional<rules::Severity> max_severity() const;
};

// "sha256:" + hex of sha256("<rule_id>:<secret>"): stable across rebuilds and moves.
std::string fingerprint(const std::string& rule_id, const std::string& secret);

// Names in tars are arbitrary bytes; reports are UTF-8. Valid UTF-8 is kept as is, every byte of an
// invalid sequence becomes the four characters "\xNN", so the name stays recognisable and unambiguous.
std::string escape_invalid_utf8(std::string_view text);
// escape_invalid_utf8, and control characters (C0, DEL, C1) as "\xNN" / "\u00NN": text from an image or a
// registry written to a terminal moves no cursor, sets no title and forges no line.
std::string terminal_safe(std::string_view text);

// First 4 and last 4 characters kept, the rest replaced by "****" (short secrets fully masked).
std::string redact(const std::string& secret);

// Orders findings by (layer index, path, offset, rule id): deterministic output whatever the
// scheduling was.
void sort_findings(std::vector<Finding>& findings);

// --sarif-path-map IMAGE_PATH=REPO_PATH: a finding whose image path starts with `image_prefix` (whole path
// components) is reported in SARIF at `repo_prefix` + the rest, relative to %SRCROOT% (the checkout), so
// code scanning annotates the source file the image was built from. Longest image_prefix wins.
struct PathMapping {
  std::string image_prefix;  // absolute image path, "/app"
  std::string repo_prefix;   // repository-relative path, "src/app" ("" = the repository root)
};

// Parses "IMAGE_PATH=REPO_PATH" (IMAGE_PATH absolute; REPO_PATH relative, no "..", no scheme).
Result<PathMapping> parse_path_mapping(std::string_view text);

struct ReportOptions {
  bool show_secrets = false;
  bool color = false;
  bool summary_only = false;  // text: the summary line only (-q/--quiet); other formats ignore it
  std::vector<PathMapping> sarif_path_map;  // sarif only; see PathMapping
  std::string commit_sha;  // gitlab: location.commit.sha (the caller resolves it; required there)
  // Without show_secrets: applied to every free-text string (paths, build steps, fields, messages,
  // reasons, labels, annotations, reference, tags, aliases) after the report's own secrets are masked,
  // to mask secrets that never became findings (a directory named after a key). Must return its argument
  // unchanged when it finds nothing. Unset: the report's own secrets only.
  std::function<std::string(std::string_view)> redact_text;
  // Print access keys whole in the remediation plan (they identify the key to delete; the secret key is
  // never printed). Set by `--verify`: checking keys against the API is the incident workflow.
  bool full_access_keys = false;
};

enum class Format { text, json, sarif, gitlab, html };

// A copy of `report` in which every string except the findings' `secret` and `paired_access_key` (the
// reporters mask those) has every occurrence of every finding's secret or paired access key (8 characters
// or more, any image) replaced by redact(value), then, for free text, passed through options.redact_text.
// Ignores options.show_secrets. write_report applies it unless show_secrets; callers that print parts of a
// report themselves (error messages on stderr) use it too.
ScanReport redact_report(const ScanReport& report, const ReportOptions& options);

// Writes the report, redacted as redact_report says unless options.show_secrets; fails with Errc::io when
// the stream fails.
Status write_report(const ScanReport& report, Format format, const ReportOptions& options, std::ostream& out);

// ---- Remediation plan (issue 17): once per leaked credential, derived from the report -------------------

// Where one credential was found: enough to find every image, tag and file to clean.
struct CredentialLocation {
  std::string image;  // the image reference
  std::vector<std::string> tags;
  std::string manifest_digest;
  std::optional<std::size_t> layer_index;
  std::string layer_digest;
  std::string where;  // path in the image, or the metadata field
  std::string visibility;
};

struct RemediationStep {
  std::string id;     // "check_misuse", "inventory", "rotate", "purge" (in this order)
  std::string title;  // "Check for misuse"
  std::string text;   // what to do, in sentences
  std::vector<std::string> commands;  // shell commands, the access key filled in, never the secret
};

// The plan for one credential (one fingerprint). access_key is the paired (or verified) access key as it may be
// printed: whole with ReportOptions::show_secrets or ::full_access_keys, else redacted like any finding value.
struct RemediationPlan {
  std::string fingerprint;
  std::string rule_id;
  std::string title;
  rules::Severity severity = rules::Severity::medium;  // the highest among its findings
  std::string access_key;
  std::string verification_status;  // "" without --verify
  std::vector<CredentialLocation> locations;
  std::vector<RemediationStep> steps;
};

// One plan per distinct fingerprint among the active findings, except lone access keys (they are listed
// with the secret key they pair with) and `info` findings (published examples). Ordered: live first, then
// by severity (highest first), then fingerprint. Pure: reads the report and the options only.
std::vector<RemediationPlan> plan_remediation(const ScanReport& report, const ReportOptions& options);

// ---- The audit report (`layerleak audit`): every image of a registry, each distinct manifest once ---------

struct AuditSummary {
  std::size_t repositories = 0;
  std::size_t images = 0;                // distinct image manifests (one per platform of an index)
  std::size_t images_with_findings = 0;  // active findings only
  std::size_t layers_total = 0;          // distinct layers (diffID + blob digest) of those images
  std::size_t layers_scanned = 0;        // read from their blobs by this audit
  std::size_t layers_reused = 0;         // taken from the layer cache (layers_total - layers_scanned)
};

// A tag that names no image the audit could scan for the selected platform(s), or a repository or tag the
// registry would not list or resolve; errors make the audit incomplete, plain skips do not.
struct AuditSkip {
  std::string tag;  // "repo:tag", or "repo" when the whole repository is concerned
  std::string reason;
};

struct AuditReport {
  std::string registry;  // "HOST[:PORT][/NAMESPACE]" as given
  // The images, ordered by (repository, manifest digest), each with `tags` = every "repo:tag" naming it;
  // tool_version and rules_digest as in a scan report.
  ScanReport scan;
  AuditSummary summary;
  std::vector<AuditSkip> skipped;
  std::vector<ErrorEntry> errors;  // audit-level failures (listing, resolving); image errors stay with the image

  bool complete() const { return errors.empty() && scan.complete(); }
};

// Writes an audit report: json ({"kind": "audit", ...}, image objects as the scan report's), text (summary,
// then each credential once with every image and tag carrying it), html (repositories by risk, each key once),
// sarif (one run per image, as scan). Redaction as write_report. Errc::unsupported for gitlab.
Status write_audit_report(const AuditReport& report, Format format, const ReportOptions& options, std::ostream& out);

// ---- Reading a JSON report back (the cache's stored reports, --baseline files) -------------------------

// The deepest a JSON report nests (root, images, findings, location: 5); read_json refuses deeper text
// before parsing it.
inline constexpr int kJsonReportMaxNesting = 64;

struct JsonReadOptions {
  std::size_t max_bytes = std::size_t{64} << 20;  // larger text: Errc::limit, before parsing
  // Accept a document that leaves out fields (a hand-written baseline): absent or null fields keep the
  // defaults of the structs above. Without it every field the JSON reporter always writes must be there.
  bool allow_missing_fields = false;
};

// Parses what write_report(..., Format::json, ...) wrote back into a ScanReport: for a report written
// with show_secrets, writing the result again gives the same bytes (secrets in a redacted report stay
// redacted). Not read back because the writer does not write them: remediation, labels, annotations.
// Never throws. Fails with Errc::limit (size, nesting), Errc::malformed naming the line for invalid
// JSON and the JSON path for a field that is missing or of the wrong type ("images[0].findings[2].
// location.line: expected a non-negative integer"), Errc::unsupported for another schema_version.
// Unknown fields are ignored (a newer writer may add some).
Result<ScanReport> read_json(std::string_view text, const JsonReadOptions& options = {});

}  // namespace layerleak::report
