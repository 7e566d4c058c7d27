// Request and response mappings of `serve`: registry notifications, Kubernetes reviews, Harbor's
// scanner adapter API, and verdicts from JSON reports. Pure functions over JSON text; nothing here
// does I/O. Every parse is exception-free at the seam (nlohmann errors become Errc::malformed).
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "layerleak/serve.h"

namespace layerleak::serve::wire {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Bounded in size and nesting (json_nesting_within: copying or dumping a deep value would recurse).
Result<json> parse_json(std::string_view body, std::string_view what) {
  if (body.size() > kMaxDocumentBytes) {
    return make_error(Errc::limit, std::string(what) + " is larger than " + std::to_string(kMaxDocumentBytes >> 20) + " MiB");
  }
  if (!json_nesting_within(body, kMaxJsonDepth)) {
    return make_error(Errc::malformed, std::string(what) + " nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return make_error(Errc::malformed, std::string(what) + " is not a JSON object");
  return doc;
}

std::string string_at(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& member(const json& object, const char* key) {
  static const json null;
  if (!object.is_object()) return null;
  auto it = object.find(key);
  return it != object.end() ? *it : null;
}

// The first `max` bytes of UTF-8 `text`, never cutting a character in two (a cut one would make the
// JSON writer throw).
std::string utf8_prefix(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// A count or index of the report as text, "" unless it is a non-negative integer. Why not get<uint64_t>:
// it converts floats too, and 1e300 does not fit (undefined behaviour).
std::string count_text(const json& value) {
  if (value.is_number_unsigned()) return std::to_string(value.get<std::uint64_t>());
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) return std::to_string(value.get<std::int64_t>());
  return "";
}

// A count or index copied into an answer: the number if it is one, else null (never a nested value).
json count_value(const json& value) { return value.is_number_integer() ? value : json(nullptr); }

std::string short_digest(const std::string& digest) {
  // "sha256:" + 12 hex characters: enough to recognise a layer in a message.
  return utf8_prefix(digest, 19);
}

// "scaleway.secret-key (critical) in layer 1 sha256:0123456789ab (COPY . /app) at /app/.env:2 [deleted by layer 2]"
std::string describe_finding(const json& f) {
  const json& loc = member(f, "location");
  std::string text = string_at(f, "rule_id") + " (" + string_at(f, "severity") + ")";
  const std::string kind = string_at(loc, "kind");
  if (kind == "layer") {
    const std::string index = count_text(member(loc, "layer_index"));
    text += " in layer " + (index.empty() ? std::string("?") : index);
    if (const std::string d = string_at(loc, "layer_digest"); !d.empty()) text += " " + short_digest(d);
    if (const std::string step = string_at(loc, "created_by"); !step.empty()) {
      text += " (" + (step.size() > 60 ? utf8_prefix(step, 57) + "..." : step) + ")";
    }
  } else if (kind == "config" || kind == "manifest") {
    text += " in the image " + kind + " " + string_at(loc, "field");
  }
  if (const std::string path = string_at(loc, "path"); !path.empty()) {
    text += " at " + path;
    if (const std::string line = count_text(member(loc, "line")); !line.empty() && line != "0") text += ":" + line;
  }
  const std::string visibility = string_at(f, "visibility");
  if (visibility == "deleted" || visibility == "overwritten") {
    const std::string by = count_text(member(f, "hidden_by_layer"));
    text += " [" + visibility + (by.empty() ? "" : " by layer " + by) +
            ", still in the image]";
  }
  return text;
}

constexpr std::size_t kReasonFindings = 5;

std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = value(c);
    if (v < 0) return "";
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

bool is_hex64(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_manifest_media_type(const std::string& type) {
  return type == "application/vnd.oci.image.manifest.v1+json" || type == "application/vnd.oci.image.index.v1+json" ||
         type == "application/vnd.docker.distribution.manifest.v2+json" ||
         type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

std::string harbor_severity(const std::string& severity) {
  if (severity == "critical") return "Critical";
  if (severity == "high") return "High";
  if (severity == "medium") return "Medium";
  if (severity == "low") return "Low";
  if (severity == "info") return "Negligible";
  return "Unknown";
}

// The pod spec inside a Pod or a workload object (its pod template), or null.
const json& pod_spec(const json& object) {
  static const json null;
  const json& spec = member(object, "spec");
  if (string_at(object, "kind") == "Pod" || member(spec, "containers").is_array()) return spec;
  if (const json& t = member(member(spec, "template"), "spec"); t.is_object()) return t;
  if (const json& c = member(member(member(member(spec, "jobTemplate"), "spec"), "template"), "spec"); c.is_object()) return c;
  return null;
}

// Adds the distinct images of `containers` to `out` (`seen` holds those already there); false when the
// review names more than kMaxReviewImages.
bool add_images(const json& containers, std::vector<std::string>& out, std::set<std::string>& seen) {
  if (!containers.is_array()) return true;
  for (const json& c : containers) {
    std::string image = string_at(c, "image");
    if (image.empty() || !seen.insert(image).second) continue;
    if (out.size() >= kMaxReviewImages) return false;
    out.push_back(std::move(image));
  }
  return true;
}

Error too_many_images(std::string_view what) {
  return make_error(Errc::limit, std::string(what) + " names more than " + std::to_string(kMaxReviewImages) + " images");
}

}  // namespace

std::string_view verdict_name(Verdict v) noexcept {
  switch (v) {
    case Verdict::allow: return "allow";
    case Verdict::deny: return "deny";
    case Verdict::unknown: return "unknown";
  }
  return "unknown";
}

Result<std::vector<ImageVerdict>> verdicts_from_report(std::string_view report_json, rules::Severity fail_on) {
  auto doc = parse_json(report_json, "report");
  if (!doc) return std::move(doc).error();
  const json& images = member(*doc, "images");
  if (!images.is_array()) return make_error(Errc::malformed, "report has no images");
  std::vector<ImageVerdict> out;
  for (const json& image : images) {
    ImageVerdict v;
    v.reference = string_at(image, "reference");
    v.manifest_digest = string_at(image, "manifest_digest");
    const bool complete = member(image, "complete").is_boolean() && member(image, "complete").get<bool>();
    ordered_json findings = ordered_json::array();
    std::vector<std::string> denying;
    const json& list = member(image, "findings");
    if (list.is_array()) {
      for (const json& f : list) {
        const auto severity = rules::parse_severity(string_at(f, "severity"));
        const bool denies = severity && *severity >= fail_on;
        if (denies) denying.push_back(describe_finding(f));
        const json& loc = member(f, "location");
        ordered_json item{{"rule_id", string_at(f, "rule_id")},
                          {"severity", string_at(f, "severity")},
                          {"confidence", string_at(f, "confidence")},
                          {"denies", denies},
                          {"kind", string_at(loc, "kind")},
                          {"layer_index", count_value(member(loc, "layer_index"))},
                          {"layer_digest", string_at(loc, "layer_digest")},
                          {"path", string_at(loc, "path")},
                          {"field", string_at(loc, "field")},
                          {"line", count_value(member(loc, "line"))},
                          {"visibility", string_at(f, "visibility")},
                          {"hidden_by_layer", count_value(member(f, "hidden_by_layer"))},
                          {"fingerprint", string_at(f, "fingerprint")},
                          {"description", describe_finding(f)}};
        findings.push_back(std::move(item));
      }
    }
    const std::string name = v.reference.empty() ? v.manifest_digest : v.reference;
    if (!complete) {
      v.verdict = Verdict::unknown;
      std::string why;
      const json& errors = member(image, "errors");
      if (errors.is_array() && !errors.empty()) why = ": " + string_at(errors[0], "message");
      v.reason = name + " could not be scanned completely" + why;
    } else if (!denying.empty()) {
      v.verdict = Verdict::deny;
      v.reason = name + ": " + std::to_string(denying.size()) + " Scaleway credential" + (denying.size() > 1 ? "s" : "") + ": ";
      for (std::size_t i = 0; i < denying.size() && i < kReasonFindings; ++i) v.reason += (i ? "; " : "") + denying[i];
      if (denying.size() > kReasonFindings) v.reason += "; and " + std::to_string(denying.size() - kReasonFindings) + " more";
    } else {
      v.verdict = Verdict::allow;
      v.reason = name + ": no Scaleway credential at or above " + std::string(rules::severity_name(fail_on));
    }
    ordered_json summary{{"manifest_digest", v.manifest_digest},
                         {"reference", v.reference},
                         {"verdict", verdict_name(v.verdict)},
                         {"reason", v.reason},
                         {"complete", complete},
                         {"findings", std::move(findings)},
                         {"errors", member(image, "errors").is_array() ? member(image, "errors") : json::array()}};
    v.summary_json = summary.dump(-1, ' ', false, json::error_handler_t::replace);
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::string> parse_scan_request(std::string_view body) {
  auto doc = parse_json(body, "scan request");
  if (!doc) return std::move(doc).error();
  std::string image = string_at(*doc, "image");
  if (image.empty()) return make_error(Errc::malformed, "expected {\"image\": \"REFERENCE\"}");
  return image;
}

Result<std::vector<PushedManifest>> parse_registry_events(std::string_view body) {
  auto doc = parse_json(body, "notification envelope");
  if (!doc) return std::move(doc).error();
  const json& events = member(*doc, "events");
  if (!events.is_array()) return make_error(Errc::malformed, "notification envelope has no events array");
  std::vector<PushedManifest> out;
  std::set<std::string> seen;
  for (const json& event : events) {
    if (string_at(event, "action") != "push") continue;
    const json& target = member(event, "target");
    if (!is_manifest_media_type(string_at(target, "mediaType"))) continue;
    const std::string repository = string_at(target, "repository");
    const std::string digest = string_at(target, "digest");
    const std::string host = string_at(member(event, "request"), "host");
    if (repository.empty() || host.empty() || !digest.starts_with("sha256:") || !is_hex64(digest.substr(7))) continue;
    std::string reference = "docker://" + host + "/" + repository + "@" + digest;
    if (seen.insert(reference).second) out.push_back({std::move(reference), digest});
  }
  return out;
}

Result<std::string> pod_image_reference(std::string_view image) {
  std::string name(image);
  if (name.starts_with("docker://")) name = name.substr(9);
  if (name.empty() || name.size() > 1024 ||
      std::any_of(name.begin(), name.end(), [](char c) { return c <= ' ' || c == '\\' || c == '\x7f'; }) ||
      name.find("://") != std::string::npos) {
    return make_error(Errc::invalid_argument, "not a container image name: " + std::string(image));
  }
  std::string digest;
  if (auto at = name.find('@'); at != std::string::npos) {
    digest = name.substr(at + 1);
    name.resize(at);
    if (!digest.starts_with("sha256:") || !is_hex64(digest.substr(7))) {
      return make_error(Errc::invalid_argument, "image digest must be sha256:<64 hex>: " + std::string(image));
    }
  }
  std::string tag;
  const auto slash = name.rfind('/');
  if (auto colon = name.rfind(':'); colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    tag = name.substr(colon + 1);
    name.resize(colon);
    if (tag.empty()) return make_error(Errc::invalid_argument, "empty tag in image name: " + std::string(image));
  }
  if (name.empty() || name.front() == '/' || name.back() == '/') {
    return make_error(Errc::invalid_argument, "not a container image name: " + std::string(image));
  }
  const auto first_slash = name.find('/');
  const std::string first = name.substr(0, first_slash);
  const bool has_registry = first_slash != std::string::npos &&
                            (first.find('.') != std::string::npos || first.find(':') != std::string::npos || first == "localhost");
  if (!has_registry) name = (first_slash == std::string::npos ? "docker.io/library/" : "docker.io/") + name;
  std::string out = "docker://" + name;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  if (tag.empty() && digest.empty()) out += ":latest";
  return out;
}

std::optional<std::string> reference_digest(std::string_view reference) {
  const auto at = reference.rfind("@sha256:");
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view digest = reference.substr(at + 1);
  if (!is_hex64(digest.substr(7))) return std::nullopt;
  return std::string(digest);
}

Result<ReviewRequest> parse_admission_review(std::string_view body) {
  auto doc = parse_json(body, "AdmissionReview");
  if (!doc) return std::move(doc).error();
  ReviewRequest out;
  out.api_version = string_at(*doc, "apiVersion");
  if (string_at(*doc, "kind") != "AdmissionReview" ||
      (out.api_version != "admission.k8s.io/v1" && out.api_version != "admission.k8s.io/v1beta1")) {
    return make_error(Errc::malformed, "expected kind AdmissionReview, apiVersion admission.k8s.io/v1");
  }
  const json& request = member(*doc, "request");
  out.uid = string_at(request, "uid");
  if (out.uid.empty()) return make_error(Errc::malformed, "AdmissionReview has no request.uid");
  const json& spec = pod_spec(member(request, "object"));
  std::set<std::string> seen;
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    if (!add_images(member(spec, list), out.images, seen)) return too_many_images("AdmissionReview");
  }
  return out;
}

Result<ReviewRequest> parse_image_review(std::string_view body) {
  auto doc = parse_json(body, "ImageReview");
  if (!doc) return std::move(doc).error();
  ReviewRequest out;
  out.api_version = string_at(*doc, "apiVersion");
  if (string_at(*doc, "kind") != "ImageReview" || !out.api_version.starts_with("imagepolicy.k8s.io/")) {
    return make_error(Errc::malformed, "expected kind ImageReview, apiVersion imagepolicy.k8s.io/v1alpha1");
  }
  std::set<std::string> seen;
  if (!add_images(member(member(*doc, "spec"), "containers"), out.images, seen)) return too_many_images("ImageReview");
  return out;
}

ReviewDecision decide(const std::vector<ImageDecision>& images, bool fail_open, bool log_only) {
  ReviewDecision out;
  std::vector<std::string> denials;
  for (const ImageDecision& image : images) {
    if (image.verdict == Verdict::deny) {
      (log_only ? out.warnings : denials).push_back((log_only ? "would deny: " : "") + image.reason);
    } else if (image.verdict == Verdict::unknown) {
      const std::string why = image.image + ": no verdict (" + image.reason + ")";
      if (fail_open) {
        out.warnings.push_back(why + "; allowed (fail-open)");
      } else {
        (log_only ? out.warnings : denials).push_back(why + (log_only ? "; would deny (fail-closed)" : "; denied (fail-closed)"));
      }
    }
  }
  out.allowed = denials.empty();
  for (std::size_t i = 0; i < denials.size(); ++i) out.reason += (i ? " | " : "") + denials[i];
  if (out.allowed && out.reason.empty()) out.reason = "layerleak: no Scaleway credentials found";
  else out.reason = "layerleak: " + out.reason;
  return out;
}

std::string admission_response(const ReviewRequest& request, const ReviewDecision& decision) {
  ordered_json response{{"uid", request.uid}, {"allowed", decision.allowed}};
  if (!decision.allowed) response["status"] = {{"code", 403}, {"reason", "Forbidden"}, {"message", decision.reason}};
  if (!decision.warnings.empty()) response["warnings"] = decision.warnings;
  ordered_json doc{{"apiVersion", request.api_version.empty() ? "admission.k8s.io/v1" : request.api_version},
                   {"kind", "AdmissionReview"},
                   {"response", std::move(response)}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string image_review_response(const ReviewRequest& request, const ReviewDecision& decision) {
  ordered_json status{{"allowed", decision.allowed}};
  if (!decision.allowed) status["reason"] = decision.reason;
  if (!decision.warnings.empty()) {
    std::string joined;
    for (std::size_t i = 0; i < decision.warnings.size(); ++i) joined += (i ? " | " : "") + decision.warnings[i];
    status["auditAnnotations"] = {{"layerleak-warnings", joined}};
  }
  ordered_json doc{{"apiVersion", request.api_version.empty() ? "imagepolicy.k8s.io/v1alpha1" : request.api_version},
                   {"kind", "ImageReview"},
                   {"status", std::move(status)}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<HarborScanRequest> parse_harbor_scan_request(std::string_view body) {
  auto doc = parse_json(body, "scan request");
  if (!doc) return std::move(doc).error();
  const json& registry = member(*doc, "registry");
  const json& artifact = member(*doc, "artifact");
  HarborScanRequest out;
  std::string url = string_at(registry, "url");
  out.repository = string_at(artifact, "repository");
  out.digest = string_at(artifact, "digest");
  out.tag = string_at(artifact, "tag");
  out.mime_type = string_at(artifact, "mime_type");
  if (url.starts_with("http://")) {
    out.plain_http = true;
    url = url.substr(7);
  } else if (url.starts_with("https://")) {
    url = url.substr(8);
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.empty() || url.find('/') != std::string::npos) {
    return make_error(Errc::invalid_argument, "registry.url must be http(s)://HOST[:PORT]");
  }
  if (out.repository.empty()) return make_error(Errc::invalid_argument, "artifact.repository is missing");
  if (!out.digest.starts_with("sha256:") || !is_hex64(out.digest.substr(7))) {
    return make_error(Errc::invalid_argument, "artifact.digest must be sha256:<64 hex>");
  }
  const std::string authorization = string_at(registry, "authorization");
  if (authorization.starts_with("Basic ")) {
    out.creds = base64_decode(authorization.substr(6));
    if (out.creds.find(':') == std::string::npos) return make_error(Errc::invalid_argument, "registry.authorization is not valid Basic credentials");
  } else if (authorization.starts_with("Bearer ")) {
    out.bearer_token = authorization.substr(7);
    // It goes into an HTTP header line: no spaces or control characters (RFC 6750 token68).
    if (out.bearer_token.empty() || std::any_of(out.bearer_token.begin(), out.bearer_token.end(),
                                                [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == '\x7f'; })) {
      return make_error(Errc::invalid_argument, "registry.authorization is not a valid Bearer token");
    }
  }
  out.reference = "docker://" + url + "/" + out.repository + "@" + out.digest;
  return out;
}

std::string harbor_metadata(std::string_view version, std::string_view rules_digest) {
  ordered_json doc{
      {"scanner", {{"name", "layerleak"}, {"vendor", "layerleak"}, {"version", version}}},
      {"capabilities",
       ordered_json::array({{{"consumes_mime_types",
                              {"application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"}},
                             {"produces_mime_types", {kHarborAdapterReportMime, kHarborReportMime, kRawReportMime}}}})},
      {"properties",
       {{"harbor.scanner-adapter/scanner-type", "secret-scanner"},
        {"harbor.scanner-adapter/vulnerability-database-updated-at", ""},
        {"layerleak/rules-digest", rules_digest},
        {"layerleak/finds", "Scaleway credentials (API secret keys, access keys, Kapsule, Cockpit, Serverless, Messaging tokens)"}}}};
  return doc.dump();
}

Result<std::string> harbor_report(std::string_view report_json, const HarborScanRequest& request, std::string_view generated_at) {
  auto doc = parse_json(report_json, "report");
  if (!doc) return std::move(doc).error();
  const json& images = member(*doc, "images");
  if (!images.is_array()) return make_error(Errc::malformed, "report has no images");
  ordered_json items = ordered_json::array();
  int worst = -1;
  for (const json& image : images) {
    const json& findings = member(image, "findings");
    if (!findings.is_array()) continue;
    for (const json& f : findings) {
      const json& loc = member(f, "location");
      const std::string severity = string_at(f, "severity");
      if (auto s = rules::parse_severity(severity)) worst = std::max(worst, static_cast<int>(*s));
      const std::string where = !string_at(loc, "path").empty() ? string_at(loc, "path") : string_at(loc, "field");
      ordered_json vendor{{"rule_id", string_at(f, "rule_id")},
                          {"path", string_at(loc, "path")},
                          {"field", string_at(loc, "field")},
                          {"layer_index", count_value(member(loc, "layer_index"))},
                          {"layer_digest", string_at(loc, "layer_digest")},
                          {"diff_id", string_at(loc, "diff_id")},
                          {"created_by", string_at(loc, "created_by")},
                          {"line", count_value(member(loc, "line"))},
                          {"column", count_value(member(loc, "column"))},
                          {"visibility", string_at(f, "visibility")},
                          {"confidence", string_at(f, "confidence")},
                          {"secret", string_at(f, "secret")},
                          {"fingerprint", string_at(f, "fingerprint")},
                          {"platform", string_at(image, "platform")}};
      items.push_back({{"id", string_at(f, "rule_id")},
                       {"package", where},
                       {"version", short_digest(string_at(loc, "layer_digest"))},
                       {"fix_version", ""},
                       {"severity", harbor_severity(severity)},
                       {"description", string_at(f, "title") + ": " + describe_finding(f) + ". " + string_at(f, "secret") +
                                           " (fingerprint " + string_at(f, "fingerprint") + ")"},
                       {"links", json::array()},
                       {"vendor_attributes", std::move(vendor)}});
    }
  }
  static constexpr const char* kWorst[] = {"Negligible", "Low", "Medium", "High", "Critical"};
  ordered_json out{{"generated_at", generated_at},
                   {"artifact", {{"repository", request.repository}, {"digest", request.digest}, {"tag", request.tag},
                                 {"mime_type", request.mime_type}}},
                   {"scanner", {{"name", "layerleak"}, {"vendor", "layerleak"}, {"version", string_at(member(*doc, "tool"), "version")}}},
                   {"severity", worst < 0 ? "None" : kWorst[worst]},
                   {"vulnerabilities", std::move(items)}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace layerleak::serve::wire
