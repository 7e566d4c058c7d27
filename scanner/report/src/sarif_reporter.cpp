// SARIF 2.1.0 output, shaped for GitHub code scanning.
//
// One run per image, each with its own automationDetails.id ("layerleak/<image reference>/"): code scanning
// keeps the latest analysis per tool and category, so two images uploaded for one commit keep their alerts
// apart instead of replacing each other. In each run, one reportingDescriptor per rule id that occurs in that
// image (sorted by id); one result per finding, active ones first, then the suppressed ones with an
// "external" suppression. Locations are relative URIs into the image filesystem with uriBaseId "IMAGEROOT"
// ("app/.env"; findings in image metadata get a stable pseudo path "image-config/config.Env%5B1%5D"), described
// in originalUriBaseIds: an image path never poses as a path of the repository. With --sarif-path-map
// IMAGE_PATH=REPO_PATH a path under IMAGE_PATH is reported under REPO_PATH relative to %SRCROOT% (the
// checkout), so code scanning can annotate the source file. Everything else that a code scanning UI has no
// field for (image, layer, digest, build step, visibility) goes to the result's property bag. The output
// depends on the report and options only: no clock, no random ids.
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "reporters.h"

namespace layerleak::report {

namespace {

using nlohmann::ordered_json;

constexpr const char* kSchema = "https://json.schemastore.org/sarif-2.1.0.json";

// "scaleway.secret-key" -> "ScalewaySecretKey".
std::string camel_case(const std::string& id) {
  std::string out;
  bool upper = true;
  for (char c : id) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) {
      upper = true;
      continue;
    }
    out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out;
}

// Percent-encodes every byte that may not appear literally in the path of a relative URI reference.
// ':' is encoded too, so that a first segment like "c:x" can never read as a scheme.
std::string uri_path(const std::string& path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("-._~!$&'()*+,;=@/").find(static_cast<char>(c)) != std::string_view::npos;
    if (keep) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}


const char* level(rules::Severity s) {
  switch (s) {
    case rules::Severity::critical:
    case rules::Severity::high: return "error";
    case rules::Severity::medium: return "warning";
    case rules::Severity::low:
    case rules::Severity::info: return "note";
  }
  return "warning";
}

const char* security_severity(rules::Severity s) {
  switch (s) {
    case rules::Severity::critical: return "9.5";
    case rules::Severity::high: return "8.0";
    case rules::Severity::medium: return "5.5";
    case rules::Severity::low: return "3.0";
    case rules::Severity::info: return "1.0";
  }
  return "5.5";
}

std::string secret_text(const std::string& secret, const ReportOptions& options) {
  return options.show_secrets ? secret : redact(secret);
}

// Where the secret is, as a phrase: "'/app/.env' (layer 0, built by 'COPY . /app')".
std::string where_text(const Finding& f) {
  const Location& loc = f.location;
  if (loc.kind == "config") return "the image configuration field '" + loc.field + "'";
  if (loc.kind == "manifest") return "the manifest annotation '" + loc.field + "'";
  std::string text = "'" + loc.path + "'";
  if (loc.line > 0) text += " line " + std::to_string(loc.line);
  if (loc.kind == "layer" && loc.layer_index) {
    text += " (layer " + std::to_string(*loc.layer_index);
    if (!loc.created_by.empty()) text += ", built by '" + loc.created_by + "'";
    text += ")";
  }
  return text;
}

std::string message_text(const Finding& f, const ImageReport& image, const ReportOptions& options) {
  std::string text = f.title + " '" + secret_text(f.secret, options) + "' in " + where_text(f) + " of image '" +
                     image.reference + "'. " + visibility_sentence(f);
  if (!f.paired_access_key.empty()) {
    text += " Paired access key: '" + secret_text(f.paired_access_key, options) + "'.";
  }
  return text;
}

// What the report knows about one rule, gathered from its findings.
struct RuleInfo {
  std::string title;
  std::string remediation;
  rules::Severity severity = rules::Severity::info;
  rules::Confidence confidence = rules::Confidence::low;
  std::size_t index = 0;
};

const char* kGenericRemediation =
    "Treat the credential as leaked: revoke it in the Scaleway console (IAM > API keys, or the product's own "
    "console), create a replacement, and rotate it everywhere it is used. Rebuild the image without it: "
    "deleting the file in a later layer is not enough, since every layer stays readable to anyone who can "
    "pull the image. Pass credentials at run time from a secret manager (Scaleway Secret Manager, Kubernetes "
    "Secrets, build secrets) instead of baking them into the image.";

std::string ensure_period(std::string text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.pop_back();
  if (!text.empty() && text.back() != '.') text += '.';
  return text;
}

ordered_json rule_json(const std::string& id, const RuleInfo& info) {
  const std::string title = info.title.empty() ? id : info.title;
  const std::string remediation = info.remediation.empty() ? std::string() : ensure_period(info.remediation);
  const std::string help_intro = remediation.empty() ? std::string() : remediation + " ";
  ordered_json rule;
  rule["id"] = id;
  rule["name"] = camel_case(id);
  rule["shortDescription"] = {{"text", ensure_period(title)}};
  rule["fullDescription"] = {
      {"text", "Finds a " + title + " in a container image: in the files of any layer (including files that a "
               "later layer deleted or overwrote, which stay readable to anyone who pulls the image) and in "
               "the image configuration."}};
  rule["help"] = {
      {"text", help_intro + kGenericRemediation},
      {"markdown", "**" + title + "** found in a container image." + (remediation.empty() ? "" : "\n\n" + remediation) +
                       "\n\n1. Revoke the credential in the Scaleway console and create a replacement.\n"
                       "2. Rotate it everywhere it is used.\n"
                       "3. Rebuild the image without it: a later layer that deletes the file does not remove it "
                       "from the image.\n"
                       "4. Pass credentials at run time from a secret manager instead of baking them into the "
                       "image."}};
  rule["defaultConfiguration"] = {{"level", level(info.severity)}};
  rule["properties"] = {{"tags", {"security", "secret", "scaleway"}},
                        {"security-severity", security_severity(info.severity)},
                        {"precision", std::string(rules::confidence_name(info.confidence))}};
  return rule;
}

constexpr const char* kImageRoot = "IMAGEROOT";
constexpr const char* kSourceRoot = "%SRCROOT%";

// The longest --sarif-path-map entry whose image prefix contains the finding's file, if any. Members of
// nested archives ("/opt/app.jar!/...") are never mapped: they are no file of the repository.
const PathMapping* mapping_for(const Location& loc, const ReportOptions& options) {
  if ((loc.kind != "layer" && loc.kind != "file") || loc.path.find("!/") != std::string::npos) return nullptr;
  const PathMapping* best = nullptr;
  for (const PathMapping& m : options.sarif_path_map) {
    const std::string& prefix = m.image_prefix;
    const bool inside = prefix == "/" || loc.path == prefix ||
                        (loc.path.starts_with(prefix) && loc.path.size() > prefix.size() && loc.path[prefix.size()] == '/');
    if (inside && (best == nullptr || prefix.size() > best->image_prefix.size())) best = &m;
  }
  return best;
}

ordered_json artifact_location(const Location& loc, const ReportOptions& options) {
  if (const PathMapping* m = mapping_for(loc, options)) {
    std::string rest = m->image_prefix == "/" ? loc.path : loc.path.substr(m->image_prefix.size());
    while (!rest.empty() && rest.front() == '/') rest.erase(0, 1);
    std::string path = m->repo_prefix;
    if (!path.empty() && !rest.empty()) path += '/';
    path += rest;
    if (!path.empty()) return {{"uri", uri_path(path)}, {"uriBaseId", kSourceRoot}};
  }
  return {{"uri", uri_path(artifact_path(loc))}, {"uriBaseId", kImageRoot}};
}

ordered_json result_json(const Finding& f, const ImageReport& image, const RuleInfo& rule,
                         const ReportOptions& options) {
  const Location& loc = f.location;
  ordered_json region;
  region["startLine"] = loc.line > 0 ? loc.line : 1;
  region["startColumn"] = loc.column > 0 ? loc.column : 1;

  ordered_json properties;
  properties["image"] = image.reference;
  if (!image.manifest_digest.empty()) properties["manifestDigest"] = image.manifest_digest;
  if (!image.platform.empty()) properties["platform"] = image.platform;
  properties["locationKind"] = loc.kind;
  if (!loc.path.empty()) properties["path"] = loc.path;
  if (!loc.field.empty()) properties["field"] = loc.field;
  if (loc.layer_index) properties["layerIndex"] = *loc.layer_index;
  if (!loc.layer_digest.empty()) properties["layerDigest"] = loc.layer_digest;
  if (!loc.diff_id.empty()) properties["diffId"] = loc.diff_id;
  if (loc.kind == "layer") properties["createdBy"] = loc.created_by;
  properties["offset"] = loc.offset;
  properties["visibility"] = f.visibility;
  if (f.hidden_by_layer) properties["hiddenByLayer"] = *f.hidden_by_layer;
  properties["severity"] = rules::severity_name(f.severity);
  properties["confidence"] = rules::confidence_name(f.confidence);
  properties["secret"] = secret_text(f.secret, options);
  if (!f.paired_access_key.empty()) properties["pairedAccessKey"] = secret_text(f.paired_access_key, options);
  properties["encoding"] = f.encoding;
  properties["fingerprint"] = f.fingerprint;
  if (!f.aliases.empty()) properties["aliases"] = f.aliases;
  if (f.verification) {  // --verify: is the key live (result property bag: free-form, code scanning keeps it)
    properties["verification"] = f.verification->status;
    if (f.verification->http_status) properties["verificationHttpStatus"] = *f.verification->http_status;
    if (!f.verification->reason.empty()) properties["verificationReason"] = f.verification->reason;
    if (!f.verification->checked_at.empty()) properties["verificationCheckedAt"] = f.verification->checked_at;
  }

  ordered_json r;
  r["ruleId"] = f.rule_id;
  r["ruleIndex"] = rule.index;
  r["level"] = level(f.severity);
  r["message"] = {{"text", message_text(f, image, options)}};
  r["locations"] = ordered_json::array(
      {{{"physicalLocation",
         {{"artifactLocation", artifact_location(loc, options)}, {"region", std::move(region)}}}}});
  r["partialFingerprints"] = {{"layerleak/v1", f.fingerprint}};
  if (!f.suppressed_by.empty()) {
    r["suppressions"] = ordered_json::array({{{"kind", "external"}, {"justification", f.suppressed_by}}});
  }
  r["properties"] = std::move(properties);
  return r;
}

ordered_json notification(const char* lvl, const std::string& text, const ImageReport& image,
                          const std::optional<std::size_t>& layer_index) {
  ordered_json n;
  n["level"] = lvl;
  n["message"] = {{"text", ensure_period(text)}};
  ordered_json properties{{"image", image.reference}};
  if (layer_index) properties["layerIndex"] = *layer_index;
  n["properties"] = std::move(properties);
  return n;
}

}  // namespace

namespace {

// Rules: every id that occurs in the image, sorted; the highest severity and confidence seen decide the
// defaults. Fills each RuleInfo's index (the position in the returned array).
ordered_json collect_rules(const ImageReport* image, std::map<std::string, RuleInfo>& rule_infos) {
  auto note_rule = [&](const Finding& f) {
    auto [it, inserted] = rule_infos.try_emplace(f.rule_id);
    RuleInfo& info = it->second;
    if (inserted) {
      info.title = f.title;
      info.remediation = f.remediation;
      info.severity = f.severity;
      info.confidence = f.confidence;
      return;
    }
    if (info.title.empty()) info.title = f.title;
    if (info.remediation.empty()) info.remediation = f.remediation;
    if (f.severity > info.severity) info.severity = f.severity;
    if (f.confidence > info.confidence) info.confidence = f.confidence;
  };
  if (image != nullptr) {
    for (const Finding& f : image->findings) note_rule(f);
    for (const Finding& f : image->suppressed) note_rule(f);
  }
  ordered_json rules = ordered_json::array();
  std::size_t index = 0;
  for (auto& [id, info] : rule_infos) {
    info.index = index++;
    rules.push_back(rule_json(id, info));
  }
  return rules;
}

ordered_json image_notifications(const ImageReport& image) {
  ordered_json notifications = ordered_json::array();
  for (const ErrorEntry& e : image.errors) {
    std::string text = "Image '" + image.reference + "'";
    if (e.layer_index) text += ", layer " + std::to_string(*e.layer_index);
    text += ": " + e.message + " (" + e.code + ")";
    notifications.push_back(notification("error", text, image, e.layer_index));
  }
  for (const Skipped& s : image.skipped) {
    std::string text = "Image '" + image.reference + "'";
    if (s.layer_index) text += ", layer " + std::to_string(*s.layer_index);
    text += ": skipped '" + s.path + "': " + s.reason;
    notifications.push_back(notification("warning", text, image, s.layer_index));
  }
  return notifications;
}

ordered_json uri_base_ids(const ImageReport* image, const ReportOptions& options) {
  std::string what = "The root directory of the filesystem of the container image";
  if (image != nullptr) {
    what += " '" + image->reference + "'";
    if (!image->manifest_digest.empty()) what += " (manifest " + image->manifest_digest + ")";
  }
  ordered_json bases;
  bases[kImageRoot] = {{"description", {{"text", what + ", not a directory of the source repository."}}}};
  if (!options.sarif_path_map.empty()) {
    bases[kSourceRoot] = {{"description", {{"text", "The root of the source repository the image was built from "
                                                    "(paths mapped with --sarif-path-map)."}}}};
  }
  return bases;
}

// One run: the results of one image (or, for a report without images, an empty run), with an
// automationDetails.id unique in the log.
ordered_json run_json(const ScanReport& report, const ImageReport* image, const std::string& automation_id,
                      const ReportOptions& options) {
  std::map<std::string, RuleInfo> rule_infos;
  ordered_json driver;
  driver["name"] = "layerleak";
  if (!report.tool_version.empty()) {
    driver["version"] = report.tool_version;
    driver["semanticVersion"] = report.tool_version;
  }
  driver["rules"] = collect_rules(image, rule_infos);
  if (!report.rules_digest.empty()) driver["properties"] = {{"rulesDigest", report.rules_digest}};

  ordered_json results = ordered_json::array();
  ordered_json invocation;
  invocation["executionSuccessful"] = image == nullptr || image->complete;
  if (image != nullptr) {
    for (const Finding& f : image->findings) results.push_back(result_json(f, *image, rule_infos[f.rule_id], options));
    for (const Finding& f : image->suppressed) {
      Finding copy = f;
      if (copy.suppressed_by.empty()) copy.suppressed_by = "suppressed";
      results.push_back(result_json(copy, *image, rule_infos[f.rule_id], options));
    }
    ordered_json notifications = image_notifications(*image);
    if (!notifications.empty()) invocation["toolExecutionNotifications"] = std::move(notifications);
  }

  ordered_json run;
  run["tool"] = {{"driver", std::move(driver)}};
  run["automationDetails"] = {{"id", automation_id}};
  run["originalUriBaseIds"] = uri_base_ids(image, options);
  run["invocations"] = ordered_json::array({std::move(invocation)});
  run["results"] = std::move(results);
  if (image != nullptr) {
    ordered_json properties{{"image", image->reference}};
    if (!image->manifest_digest.empty()) properties["manifestDigest"] = image->manifest_digest;
    if (!image->platform.empty()) properties["platform"] = image->platform;
    run["properties"] = std::move(properties);
  }
  return run;
}

}  // namespace

Result<PathMapping> parse_path_mapping(std::string_view text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string_view::npos) return make_error(Errc::invalid_argument, "expected IMAGE_PATH=REPO_PATH");
  std::string image(text.substr(0, eq));
  std::string repo(text.substr(eq + 1));
  if (image.empty() || image.front() != '/') {
    return make_error(Errc::invalid_argument, "IMAGE_PATH must be an absolute path in the image (\"/app\")");
  }
  while (image.size() > 1 && image.back() == '/') image.pop_back();
  while (repo.starts_with("./")) repo.erase(0, 2);
  if (repo == ".") repo.clear();
  while (!repo.empty() && repo.back() == '/') repo.pop_back();
  if (repo.starts_with('/') || repo.find(':') != std::string::npos || repo.find('\\') != std::string::npos) {
    return make_error(Errc::invalid_argument, "REPO_PATH must be a path relative to the repository root (\"src/app\")");
  }
  for (std::size_t start = 0; start <= repo.size() && !repo.empty();) {
    const std::size_t slash = std::min(repo.find('/', start), repo.size());
    const std::string_view part = std::string_view(repo).substr(start, slash - start);
    if (part == ".." || part == "." || part.empty()) {
      return make_error(Errc::invalid_argument, "REPO_PATH must not contain '.', '..' or empty components");
    }
    start = slash + 1;
  }
  return PathMapping{std::move(image), std::move(repo)};
}

Status write_sarif(const ScanReport& report, const ReportOptions& options, std::ostream& out) {
  ordered_json runs = ordered_json::array();
  std::set<std::string> ids;
  for (const ImageReport& image : report.images) {
    // The same reference twice (two platforms of one tag): the manifest digest, then a counter, tell them apart.
    std::string id = "layerleak/" + image.reference + "/";
    if (ids.count(id) && !image.manifest_digest.empty()) id = "layerleak/" + image.reference + "@" + image.manifest_digest + "/";
    for (std::size_t n = 2; ids.count(id); ++n) id = "layerleak/" + image.reference + "#" + std::to_string(n) + "/";
    ids.insert(id);
    runs.push_back(run_json(report, &image, id, options));
  }
  if (report.images.empty()) runs.push_back(run_json(report, nullptr, "layerleak/", options));

  ordered_json root;
  root["$schema"] = kSchema;
  root["version"] = "2.1.0";
  root["runs"] = std::move(runs);
  // Why replace: names in tars are arbitrary bytes; invalid UTF-8 becomes U+FFFD instead of an
  // exception that would lose the whole report.
  out << root.dump(2, ' ', false, ordered_json::error_handler_t::replace) << '\n';
  out.flush();
  if (!out) return make_error(Errc::io, "cannot write the report");
  return Ok{};
}

}  // namespace layerleak::report
