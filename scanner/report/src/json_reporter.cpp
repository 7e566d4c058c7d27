#include <nlohmann/json.hpp>

#include "reporters.h"

namespace layerleak::report {

namespace {

using nlohmann::ordered_json;

ordered_json optional_index(const std::optional<std::size_t>& v) { return v ? ordered_json(*v) : ordered_json(nullptr); }
ordered_json optional_string(const std::string& s) { return s.empty() ? ordered_json(nullptr) : ordered_json(s); }

ordered_json verification_json(const Verification& v) {
  ordered_json j;
  j["status"] = v.status;
  j["checked_at"] = optional_string(v.checked_at);
  j["http_status"] = v.http_status ? ordered_json(*v.http_status) : ordered_json(nullptr);
  j["reason"] = v.reason;
  if (v.api_key) {
    const ApiKeyInfo& k = *v.api_key;
    j["api_key"] = {{"access_key", k.access_key},
                    {"description", k.description},
                    {"user_id", optional_string(k.user_id)},
                    {"application_id", optional_string(k.application_id)},
                    {"default_project_id", optional_string(k.default_project_id)},
                    {"created_at", optional_string(k.created_at)},
                    {"expires_at", optional_string(k.expires_at)}};
  } else {
    j["api_key"] = nullptr;
  }
  return j;
}

// Top-level "remediation": one plan per credential (see plan_remediation), not per finding, so a key found
// in a hundred places is one plan listing a hundred locations.
ordered_json remediation_json(const ScanReport& report, const ReportOptions& options) {
  ordered_json plans = ordered_json::array();
  for (const RemediationPlan& p : plan_remediation(report, options)) {
    ordered_json locations = ordered_json::array();
    for (const CredentialLocation& l : p.locations) {
      locations.push_back({{"image", l.image},
                           {"tags", l.tags},
                           {"manifest_digest", optional_string(l.manifest_digest)},
                           {"layer_index", optional_index(l.layer_index)},
                           {"layer_digest", optional_string(l.layer_digest)},
                           {"where", l.where},
                           {"visibility", l.visibility}});
    }
    ordered_json steps = ordered_json::array();
    for (const RemediationStep& s : p.steps) {
      steps.push_back({{"id", s.id}, {"title", s.title}, {"text", s.text}, {"commands", s.commands}});
    }
    plans.push_back({{"fingerprint", p.fingerprint},
                     {"rule_id", p.rule_id},
                     {"title", p.title},
                     {"severity", rules::severity_name(p.severity)},
                     {"access_key", optional_string(p.access_key)},
                     {"verification_status", optional_string(p.verification_status)},
                     {"locations", std::move(locations)},
                     {"steps", std::move(steps)}});
  }
  return plans;
}

ordered_json finding_json(const Finding& f, const ReportOptions& options) {
  ordered_json location;
  location["kind"] = f.location.kind;
  if (f.location.kind == "layer") {
    location["layer_index"] = optional_index(f.location.layer_index);
    location["layer_digest"] = f.location.layer_digest;
    location["diff_id"] = f.location.diff_id;
    location["created_by"] = f.location.created_by;
  }
  if (!f.location.field.empty()) location["field"] = f.location.field;
  if (!f.location.path.empty()) location["path"] = f.location.path;
  location["line"] = f.location.line;
  location["column"] = f.location.column;
  location["offset"] = f.location.offset;

  ordered_json j;
  j["rule_id"] = f.rule_id;
  j["title"] = f.title;
  j["severity"] = rules::severity_name(f.severity);
  j["confidence"] = rules::confidence_name(f.confidence);
  j["secret"] = options.show_secrets ? f.secret : redact(f.secret);
  j["fingerprint"] = f.fingerprint;
  j["paired_access_key"] = f.paired_access_key.empty()
                               ? ordered_json(nullptr)
                               : ordered_json(options.show_secrets ? f.paired_access_key : redact(f.paired_access_key));
  j["encoding"] = f.encoding;
  j["location"] = std::move(location);
  j["visibility"] = f.visibility;
  j["hidden_by_layer"] = optional_index(f.hidden_by_layer);
  if (!f.aliases.empty()) j["aliases"] = f.aliases;
  if (!f.suppressed_by.empty()) j["suppressed_by"] = f.suppressed_by;
  if (f.verification) j["verification"] = verification_json(*f.verification);
  return j;
}

ordered_json image_json(const ImageReport& image, const ReportOptions& options) {
  ordered_json j;
  j["reference"] = image.reference;
  j["transport"] = image.transport;
  j["manifest_digest"] = optional_string(image.manifest_digest);
  if (!image.index_digest.empty()) j["index_digest"] = image.index_digest;
  j["config_digest"] = optional_string(image.config_digest);
  j["platform"] = optional_string(image.platform);
  j["tags"] = image.tags;
  ordered_json layers = ordered_json::array();
  for (const LayerSummary& l : image.layers) {
    ordered_json layer;
    layer["index"] = l.index;
    layer["digest"] = l.digest;
    layer["diff_id"] = l.diff_id;
    layer["media_type"] = l.media_type;
    layer["compression"] = l.compression;
    layer["created_by"] = l.created_by;
    layer["history_index"] = optional_index(l.history_index);
    layer["compressed_size"] = l.compressed_size;
    layer["entries"] = l.entries;
    layer["bytes_scanned"] = l.bytes_scanned;
    layer["complete"] = l.complete;
    layers.push_back(std::move(layer));
  }
  j["layers"] = std::move(layers);
  ordered_json findings = ordered_json::array();
  for (const Finding& f : image.findings) findings.push_back(finding_json(f, options));
  j["findings"] = std::move(findings);
  ordered_json suppressed = ordered_json::array();
  for (const Finding& f : image.suppressed) suppressed.push_back(finding_json(f, options));
  j["suppressed"] = std::move(suppressed);
  ordered_json skipped = ordered_json::array();
  for (const Skipped& s : image.skipped) {
    skipped.push_back({{"path", s.path}, {"layer_index", optional_index(s.layer_index)}, {"reason", s.reason}});
  }
  j["stats"] = {{"layers", image.layers.size()},
                {"entries", image.entries},
                {"bytes_scanned", image.bytes_scanned},
                {"duration_ms", image.duration_ms},
                {"findings", image.findings.size()},
                {"suppressed", image.suppressed.size()},
                {"skipped", std::move(skipped)}};
  if (image.spooled_bytes) j["stats"]["spooled_bytes"] = *image.spooled_bytes;
  ordered_json errors = ordered_json::array();
  for (const ErrorEntry& e : image.errors) {
    ordered_json error{{"code", e.code}, {"message", e.message}};
    if (e.layer_index) error["layer_index"] = *e.layer_index;
    errors.push_back(std::move(error));
  }
  j["errors"] = std::move(errors);
  j["complete"] = image.complete;
  return j;
}

}  // namespace

Status write_json(const ScanReport& report, const ReportOptions& options, std::ostream& out) {
  ordered_json root;
  root["schema_version"] = 1;
  root["tool"] = {{"name", "layerleak"}, {"version", report.tool_version}, {"rules_digest", report.rules_digest}};
  ordered_json images = ordered_json::array();
  for (const ImageReport& image : report.images) images.push_back(image_json(image, options));
  root["images"] = std::move(images);
  root["remediation"] = remediation_json(report, options);
  root["complete"] = report.complete();
  // Why replace: names in tars are arbitrary bytes; invalid UTF-8 becomes U+FFFD instead of an
  // exception that would lose the whole report.
  out << root.dump(2, ' ', false, ordered_json::error_handler_t::replace) << '\n';
  out.flush();
  if (!out) return make_error(Errc::io, "cannot write the report");
  return Ok{};
}

}  // namespace layerleak::report
