// GitLab secret detection report (security report schema 15.1.4), for `artifacts:reports:secret_detection`.
//
// One vulnerability per active finding (suppressed ones are left out: GitLab has no notion of a suppressed
// finding in a report). GitLab ties every vulnerability to a commit, so the caller must supply one
// (ReportOptions::commit_sha); without it nothing is written. The secret itself is never part of the
// report unless show_secrets (and even then only in `details`, never as a source extract).
//
// scan.start_time and scan.end_time are the wall-clock times the scan started and finished (UTC, GitLab's
// "YYYY-MM-DDTHH:MM:SS"), from ScanReport::started_at_ms/finished_at_ms. A report that does not know them (read
// back from JSON, made by hand) gets the Unix epoch and the epoch plus the summed scan durations instead:
// deterministic, and the difference is still the time the scan took.
#include <ctime>
#include <nlohmann/json.hpp>

#include "reporters.h"

namespace layerleak::report {

namespace {

using nlohmann::ordered_json;

constexpr const char* kSchemaVersion = "15.1.4";
constexpr const char* kSchemaUrl =
    "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/v15.1.4/dist/"
    "secret-detection-report-format.json";

std::string capitalised(std::string_view name) {
  std::string out(name);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}


std::string hex_of(const std::string& fingerprint) {
  const std::string prefix = "sha256:";
  return fingerprint.compare(0, prefix.size(), prefix) == 0 ? fingerprint.substr(prefix.size()) : fingerprint;
}

// "YYYY-MM-DDTHH:MM:SS" (UTC) for seconds since the Unix epoch.
std::string utc_time(std::uint64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  return buffer;
}

std::string description(const Finding& f, const ImageReport& image) {
  const Location& loc = f.location;
  std::string text = "A " + f.title + " was found in ";
  if (loc.kind == "config") {
    text += "the image configuration field " + loc.field;
  } else if (loc.kind == "manifest") {
    text += "the manifest annotation " + loc.field;
  } else {
    text += loc.path;
    if (loc.line > 0) text += ", line " + std::to_string(loc.line);
  }
  text += ", of image " + image.reference;
  if (loc.kind == "layer" && loc.layer_index) {
    text += ", in layer " + std::to_string(*loc.layer_index);
    if (!loc.layer_digest.empty()) text += " (" + loc.layer_digest + ")";
    if (!loc.created_by.empty()) text += ", created by the build step: " + loc.created_by;
  }
  text += ". " + visibility_sentence(f);
  return text;
}

const char* kGenericSolution =
    "Revoke the credential in the Scaleway console and create a replacement; rotate it everywhere it is "
    "used. Rebuild the image without it (a later layer that deletes the file does not remove it from the "
    "image) and pass credentials at run time from a secret manager.";

std::string solution(const Finding& f) {
  if (f.remediation.empty()) return kGenericSolution;
  std::string text = f.remediation;
  if (text.back() != '.') text += '.';
  return text + " " + kGenericSolution;
}

ordered_json text_detail(const char* name, const std::string& value) {
  return {{"name", name}, {"type", "text"}, {"value", value}};
}

ordered_json details(const Finding& f, const ImageReport& image, const ReportOptions& options) {
  const Location& loc = f.location;
  ordered_json d;
  d["image"] = text_detail("Image", image.reference);
  if (!image.manifest_digest.empty()) d["manifest_digest"] = text_detail("Manifest digest", image.manifest_digest);
  if (!image.platform.empty()) d["platform"] = text_detail("Platform", image.platform);
  if (!loc.path.empty()) d["path"] = text_detail("Path in the image", loc.path);
  if (!loc.field.empty()) d["field"] = text_detail("Metadata field", loc.field);
  if (loc.layer_index) d["layer_index"] = {{"name", "Layer"}, {"type", "value"}, {"value", *loc.layer_index}};
  if (!loc.layer_digest.empty()) d["layer_digest"] = text_detail("Layer digest", loc.layer_digest);
  if (!loc.diff_id.empty()) d["diff_id"] = text_detail("Layer diff ID", loc.diff_id);
  if (!loc.created_by.empty()) d["created_by"] = {{"name", "Created by"}, {"type", "code"}, {"value", loc.created_by}};
  d["visibility"] = text_detail("Visibility", f.visibility);
  if (f.hidden_by_layer) {
    d["hidden_by_layer"] = {{"name", "Hidden by layer"}, {"type", "value"}, {"value", *f.hidden_by_layer}};
  }
  d["secret"] = text_detail("Secret", options.show_secrets ? f.secret : redact(f.secret));
  if (!f.paired_access_key.empty()) {
    d["paired_access_key"] =
        text_detail("Paired access key", options.show_secrets ? f.paired_access_key : redact(f.paired_access_key));
  }
  d["encoding"] = text_detail("Encoding", f.encoding);
  d["fingerprint"] = text_detail("Fingerprint", f.fingerprint);
  if (f.verification) {  // --verify: "live (HTTP 403): …" as a text detail (GitLab shows named details as is)
    std::string status = f.verification->status;
    if (f.verification->http_status) status += " (HTTP " + std::to_string(*f.verification->http_status) + ")";
    if (!f.verification->reason.empty()) status += ": " + f.verification->reason;
    d["verification"] = text_detail("Verification", status);
  }
  return d;
}

ordered_json vulnerability(const Finding& f, const ImageReport& image, const ReportOptions& options) {
  const Location& loc = f.location;
  ordered_json v;
  // Why not the fingerprint alone: the same secret in two files would give two vulnerabilities one id,
  // and GitLab requires unique ids. The fingerprint still identifies the secret in `details`.
  v["id"] = hex_of(Sha256::of(f.fingerprint + "\n" + image.reference + "\n" + loc.kind + "\n" +
                              (loc.layer_index ? std::to_string(*loc.layer_index) : std::string()) + "\n" + loc.path +
                              "\n" + loc.field + "\n" + std::to_string(loc.offset))
                     .str());
  v["category"] = "secret_detection";
  v["name"] = f.title;
  v["message"] = f.title;
  v["description"] = description(f, image);
  v["severity"] = capitalised(rules::severity_name(f.severity));
  v["confidence"] = capitalised(rules::confidence_name(f.confidence));
  v["solution"] = solution(f);
  v["scanner"] = {{"id", "layerleak"}, {"name", "layerleak"}};
  ordered_json location;
  location["file"] = artifact_path(loc);
  location["start_line"] = loc.line > 0 ? loc.line : 1;
  location["commit"] = {{"sha", options.commit_sha}};
  v["location"] = std::move(location);
  v["identifiers"] = ordered_json::array({{{"type", "layerleak_rule_id"}, {"name", f.title}, {"value", f.rule_id}}});
  v["details"] = details(f, image, options);
  return v;
}

}  // namespace

Status write_gitlab(const ScanReport& report, const ReportOptions& options, std::ostream& out) {
  if (options.commit_sha.empty()) {
    return make_error(Errc::invalid_argument,
                      "the gitlab format needs a commit: set CI_COMMIT_SHA or give the image an "
                      "org.opencontainers.image.revision label or annotation");
  }
  const std::string version = report.tool_version.empty() ? std::string("unknown") : report.tool_version;
  const ordered_json tool{{"id", "layerleak"}, {"name", "layerleak"}, {"version", version},
                          {"vendor", {{"name", "layerleak"}}}};

  ordered_json vulnerabilities = ordered_json::array();
  ordered_json messages = ordered_json::array();
  std::uint64_t duration_ms = 0;
  for (const ImageReport& image : report.images) {
    duration_ms += image.duration_ms;
    for (const Finding& f : image.findings) vulnerabilities.push_back(vulnerability(f, image, options));
    for (const ErrorEntry& e : image.errors) {
      std::string text = "image " + image.reference;
      if (e.layer_index) text += ", layer " + std::to_string(*e.layer_index);
      messages.push_back({{"level", "warn"}, {"value", text + ": " + e.message + " (" + e.code + ")"}});
    }
    for (const Skipped& s : image.skipped) {
      std::string text = "image " + image.reference;
      if (s.layer_index) text += ", layer " + std::to_string(*s.layer_index);
      messages.push_back({{"level", "info"}, {"value", text + ": skipped " + s.path + ": " + s.reason}});
    }
  }

  ordered_json scan;
  scan["analyzer"] = tool;
  scan["scanner"] = tool;
  scan["type"] = "secret_detection";
  if (report.started_at_ms > 0 && report.finished_at_ms >= report.started_at_ms) {
    scan["start_time"] = utc_time(static_cast<std::uint64_t>(report.started_at_ms / 1000));
    scan["end_time"] = utc_time(static_cast<std::uint64_t>(report.finished_at_ms / 1000));
  } else {
    scan["start_time"] = utc_time(0);
    scan["end_time"] = utc_time(duration_ms / 1000);
  }
  scan["status"] = report.complete() ? "success" : "failure";
  if (!messages.empty()) scan["messages"] = std::move(messages);

  ordered_json root;
  root["version"] = kSchemaVersion;
  root["schema"] = kSchemaUrl;
  root["scan"] = std::move(scan);
  root["vulnerabilities"] = std::move(vulnerabilities);
  // Why replace: names in tars are arbitrary bytes; invalid UTF-8 becomes U+FFFD instead of an
  // exception that would lose the whole report.
  out << root.dump(2, ' ', false, ordered_json::error_handler_t::replace) << '\n';
  out.flush();
  if (!out) return make_error(Errc::io, "cannot write the report");
  return Ok{};
}

}  // namespace layerleak::report
