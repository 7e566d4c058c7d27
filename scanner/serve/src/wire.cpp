// Request and response mappings of `serve`: registry notifications, Kubernetes reviews, Harbor's
// scanner adapter API, and verdicts from JSON reports. Pure functions over JSON text; nothing here
// does I/O. Every parse is exception-free at the seam (nlohmann errors become Errc::malformed).
#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "layerleak/oci.h"
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

std::string short_digest(const std::string& digest) {
  // "sha256:" + 12 hex characters: enough to recognise a layer in a message.
  return utf8_prefix(digest, 19);
}

json optional_index(const std::optional<std::size_t>& value) { return value ? json(*value) : json(nullptr); }

// "scaleway.secret-key (critical) in layer 1 sha256:0123456789ab (COPY . /app) at /app/.env:2 [deleted by layer 2]"
std::string describe_finding(const report::Finding& f) {
  const report::Location& loc = f.location;
  std::string text = f.rule_id + " (" + std::string(rules::severity_name(f.severity)) + ")";
  if (loc.kind == "layer") {
    text += " in layer " + (loc.layer_index ? std::to_string(*loc.layer_index) : std::string("?"));
    if (!loc.layer_digest.empty()) text += " " + short_digest(loc.layer_digest);
    if (!loc.created_by.empty()) {
      text += " (" + (loc.created_by.size() > 60 ? utf8_prefix(loc.created_by, 57) + "..." : loc.created_by) + ")";
    }
  } else if (loc.kind == "config" || loc.kind == "manifest") {
    text += " in the image " + loc.kind + " " + loc.field;
  }
  if (!loc.path.empty()) {
    text += " at " + loc.path;
    if (loc.line > 0) text += ":" + std::to_string(loc.line);
  }
  if (f.visibility == "deleted" || f.visibility == "overwritten") {
    text += " [" + f.visibility + (f.hidden_by_layer ? " by layer " + std::to_string(*f.hidden_by_layer) : "") +
            ", still in the image]";
  }
  return text;
}

constexpr std::size_t kReasonFindings = 5;

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

// The pod spec inside a Pod or a workload object (its pod template), or null when there is none.
const json& pod_spec(const json& object) {
  static const json null;
  const json& spec = member(object, "spec");
  if (string_at(object, "kind") == "Pod") return spec;
  // A PodTemplate object holds its template at the top level, not under spec.
  if (string_at(object, "kind") == "PodTemplate") return member(member(object, "template"), "spec");
  if (const json& t = member(member(spec, "template"), "spec"); t.is_object()) return t;
  if (const json& c = member(member(member(member(spec, "jobTemplate"), "spec"), "template"), "spec"); c.is_object()) return c;
  return null;
}

// Adds the distinct images of the container list `containers` (absent is fine when !required) to `out`
// (`seen` holds those already there). Errc::malformed with why when the list is not a list of objects
// with a non-empty string image; Errc::limit past kMaxReviewImages.
Status add_images(const json& containers, bool required, std::string_view what, std::vector<std::string>& out,
                  std::set<std::string>& seen) {
  if (containers.is_null() && !required) return Ok{};
  if (!containers.is_array()) return make_error(Errc::malformed, std::string(what) + " is not a list");
  for (const json& c : containers) {
    const json& image = member(c, "image");
    if (!c.is_object() || !image.is_string() || image.get<std::string>().empty()) {
      return make_error(Errc::malformed, std::string(what) + " holds an entry without a string image");
    }
    if (!seen.insert(image.get<std::string>()).second) continue;
    if (out.size() >= kMaxReviewImages) return make_error(Errc::limit, "names more than " + std::to_string(kMaxReviewImages) + " images");
    out.push_back(image.get<std::string>());
  }
  return Ok{};
}

// Image volumes (Kubernetes 1.31+, `volumes[].image.reference`) put an image's files into a pod as
// surely as a container does: they are reviewed like containers.
Status add_volume_images(const json& volumes, std::vector<std::string>& out, std::set<std::string>& seen) {
  if (volumes.is_null()) return Ok{};
  if (!volumes.is_array()) return make_error(Errc::malformed, "the pod spec's volumes is not a list");
  json images = json::array();
  for (const json& volume : volumes) {
    const json& image = member(volume, "image");
    if (image.is_null()) continue;
    const json& reference = member(image, "reference");
    if (!reference.is_string()) return make_error(Errc::malformed, "an image volume has no string reference");
    images.push_back({{"image", reference}});
  }
  return add_images(images, false, "the pod spec's image volumes", out, seen);
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

std::vector<ImageVerdict> verdicts_from_report(const report::ScanReport& report, rules::Severity fail_on, bool only_live) {
  std::vector<ImageVerdict> out;
  for (const report::ImageReport& image : report.images) {
    ImageVerdict v;
    v.reference = image.reference;
    v.manifest_digest = image.manifest_digest;
    v.index_digest = image.index_digest;
    ordered_json findings = ordered_json::array();
    std::vector<std::string> denying;
    for (const report::Finding& f : image.findings) {
      const bool denies = f.severity >= fail_on && (!only_live || (f.verification && f.verification->status == "live"));
      const std::string description = describe_finding(f);
      if (denies) denying.push_back(description);
      findings.push_back({{"rule_id", f.rule_id},
                          {"severity", rules::severity_name(f.severity)},
                          {"confidence", rules::confidence_name(f.confidence)},
                          {"denies", denies},
                          {"kind", f.location.kind},
                          {"layer_index", optional_index(f.location.layer_index)},
                          {"layer_digest", f.location.layer_digest},
                          {"path", f.location.path},
                          {"field", f.location.field},
                          {"line", f.location.line},
                          {"visibility", f.visibility},
                          {"hidden_by_layer", optional_index(f.hidden_by_layer)},
                          {"fingerprint", f.fingerprint},
                          {"description", description}});
    }
    const std::string name = v.reference.empty() ? v.manifest_digest : v.reference;
    if (!image.complete) {
      v.verdict = Verdict::unknown;
      v.reason = name + " could not be scanned completely";
    } else if (!denying.empty()) {
      v.verdict = Verdict::deny;
      v.reason = name + ": " + std::to_string(denying.size()) + " Scaleway credential" + (denying.size() > 1 ? "s" : "") + ": ";
      for (std::size_t i = 0; i < denying.size() && i < kReasonFindings; ++i) v.reason += (i ? "; " : "") + denying[i];
      if (denying.size() > kReasonFindings) v.reason += "; and " + std::to_string(denying.size() - kReasonFindings) + " more";
    } else {
      v.verdict = Verdict::allow;
      v.reason = name + ": no " + (only_live ? "live " : "") + "Scaleway credential at or above " +
                 std::string(rules::severity_name(fail_on));
    }
    ordered_json errors = ordered_json::array();
    for (const report::ErrorEntry& e : image.errors) {
      errors.push_back({{"code", e.code}, {"message", e.message}, {"layer_index", optional_index(e.layer_index)}});
    }
    ordered_json summary{{"manifest_digest", v.manifest_digest},
                         {"reference", v.reference},
                         {"verdict", verdict_name(v.verdict)},
                         {"reason", v.reason},
                         {"complete", image.complete},
                         {"findings", std::move(findings)},
                         {"errors", std::move(errors)}};
    if (!v.index_digest.empty()) summary["index_digest"] = v.index_digest;
    v.summary_json = summary.dump(-1, ' ', false, json::error_handler_t::replace);
    out.push_back(std::move(v));
  }
  return out;
}

ImageVerdict combine_verdicts(const std::vector<ImageVerdict>& images, std::string_view name) {
  ImageVerdict out;
  out.reference = std::string(name);
  if (images.empty()) {
    out.reason = std::string(name) + ": no image found";
    return out;
  }
  out.verdict = Verdict::allow;
  std::vector<std::string> denials;
  for (const ImageVerdict& v : images) {
    if (v.verdict == Verdict::unknown) {
      out.verdict = Verdict::unknown;
      out.reason = v.reason;
      return out;
    }
    if (v.verdict == Verdict::deny) denials.push_back(v.reason);
  }
  if (denials.empty()) {
    out.reason = images.size() == 1 ? images.front().reason
                                    : std::string(name) + ": no Scaleway credential in any of its " + std::to_string(images.size()) + " images";
    return out;
  }
  out.verdict = Verdict::deny;
  for (std::size_t i = 0; i < denials.size(); ++i) out.reason += (i ? "; " : "") + denials[i];
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
    if (repository.empty() || host.empty() || !Digest::parse(digest)) continue;
    auto parsed = oci::parse_registry_reference(host + "/" + repository + "@" + digest);
    if (!parsed || parsed->registry != host) continue;  // not a registry host as written in references
    std::string reference = parsed->str();
    if (seen.insert(reference).second) out.push_back({std::move(reference), digest});
  }
  return out;
}

Result<std::string> pod_image_reference(std::string_view image) {
  std::string_view name = image;
  if (name.starts_with("docker://")) name.remove_prefix(9);
  auto bad = [&] { return make_error(Errc::invalid_argument, "not a container image name: " + escape_for_log(image)); };
  if (name.empty() || name.size() > 1024 || name.find("://") != std::string_view::npos ||
      std::any_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == '\\' || c == '\x7f'; })) {
    return bad();
  }
  auto parsed = oci::parse_registry_reference(name);
  if (!parsed) return bad();
  // Kubernetes pulls by digest when both are given; the reference keeps the tag for people reading it.
  std::string out = "docker://" + parsed->registry + "/" + parsed->repository;
  if (!parsed->tag.empty()) out += ":" + parsed->tag;
  if (parsed->digest) out += "@" + parsed->digest->str();
  return out;
}

std::optional<std::string> reference_digest(std::string_view reference) {
  const auto at = reference.rfind("@sha256:");
  if (at == std::string_view::npos) return std::nullopt;
  auto digest = Digest::parse(reference.substr(at + 1));
  if (!digest) return std::nullopt;
  return digest->str();
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
  const json& dry_run = member(request, "dryRun");
  out.dry_run = dry_run.is_boolean() && dry_run.get<bool>();
  // Why these pass without images: nothing new is run by a DELETE or a CONNECT (exec, attach).
  const std::string operation = string_at(request, "operation");
  if (operation == "DELETE" || operation == "CONNECT") return out;
  const json& object = member(request, "object");
  const json& spec = pod_spec(object);
  if (!object.is_object() || !spec.is_object()) {
    out.not_understood = "the object (" + (object.is_object() ? "kind \"" + escape_for_log(string_at(object, "kind")) + "\"" : std::string(object.type_name())) +
                         ") holds no pod spec layerleak understands";
    return out;
  }
  std::set<std::string> seen;
  Status st = Ok{};
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    if (st) st = add_images(member(spec, list), std::string_view(list) == "containers", std::string("the pod spec's ") + list, out.images, seen);
  }
  if (st) st = add_volume_images(member(spec, "volumes"), out.images, seen);
  if (!st) {
    if (st.error().code == Errc::limit) return make_error(Errc::limit, "AdmissionReview " + st.error().message);
    out.not_understood = st.error().message;
    out.images.clear();
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
  if (auto st = add_images(member(member(*doc, "spec"), "containers"), true, "spec.containers", out.images, seen); !st) {
    if (st.error().code == Errc::limit) return make_error(Errc::limit, "ImageReview " + st.error().message);
    out.not_understood = st.error().message;
    out.images.clear();
  }
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

namespace {

// "type/subtype; version=1.1; q=0.5" -> lower-case "type/subtype", its version ("" when none) and q.
struct MediaRange {
  std::string type;
  std::string version;
  double q = 1.0;
};

std::string trimmed_lower(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  std::string out(text);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

MediaRange parse_media_range(std::string_view text) {
  MediaRange range;
  std::size_t semi = text.find(';');
  range.type = trimmed_lower(text.substr(0, semi));
  while (semi != std::string_view::npos) {
    const std::size_t next = text.find(';', semi + 1);
    const std::string param = trimmed_lower(text.substr(semi + 1, next == std::string_view::npos ? next : next - semi - 1));
    const std::size_t eq = param.find('=');
    const std::string name = trimmed_lower(param.substr(0, eq));
    std::string value = eq == std::string::npos ? "" : trimmed_lower(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    if (name == "version") range.version = value;
    if (name == "q") range.q = std::strtod(value.c_str(), nullptr);
    semi = next;
  }
  return range;
}

// The report MIME types the adapter produces, as (type, version) -> the Content-Type it answers with.
std::optional<std::string_view> supported_report_mime(const MediaRange& range) {
  for (std::string_view mime : {kHarborAdapterReportMime, kHarborReportMime, kRawReportMime, kLayerleakReportMime}) {
    const MediaRange known = parse_media_range(mime);
    if (range.type == known.type && (range.version.empty() || range.version == known.version)) return mime;
  }
  if (range.type == "*/*" || range.type == "application/*") return kHarborAdapterReportMime;
  return std::nullopt;
}

// Spec v1.2: `enabled_capabilities` narrows what Harbor wants; without it, everything the scanner can do.
Status check_enabled_capabilities(const json& capabilities) {
  if (capabilities.is_null()) return Ok{};
  if (!capabilities.is_array()) return make_error(Errc::malformed, "enabled_capabilities must be an array");
  for (const json& capability : capabilities) {
    if (!capability.is_object() || !member(capability, "type").is_string()) {
      return make_error(Errc::malformed, "enabled_capabilities[].type must be a string");
    }
    const std::string type = capability["type"].get<std::string>();
    if (type != "vulnerability") {
      return make_error(Errc::unsupported, "layerleak has no \"" + type + "\" capability (only \"vulnerability\": "
                                           "leaked Scaleway credentials)");
    }
    const json& produces = member(capability, "produces_mime_types");
    if (produces.is_null()) continue;
    if (!produces.is_array()) return make_error(Errc::malformed, "produces_mime_types must be an array");
    for (const json& mime : produces) {
      if (!mime.is_string()) return make_error(Errc::malformed, "produces_mime_types[] must be strings");
      if (!supported_report_mime(parse_media_range(mime.get<std::string>())) || mime.get<std::string>().find('*') != std::string::npos) {
        return make_error(Errc::unsupported, "layerleak does not produce reports of type " + mime.get<std::string>());
      }
    }
  }
  return Ok{};
}

}  // namespace

std::optional<std::string_view> harbor_report_mime(std::string_view accept) {
  if (accept.find_first_not_of(" \t") == std::string_view::npos) return kHarborAdapterReportMime;
  std::size_t start = 0;
  while (start <= accept.size()) {
    const std::size_t comma = std::min(accept.find(',', start), accept.size());
    const MediaRange range = parse_media_range(accept.substr(start, comma - start));
    if (range.q > 0) {
      if (auto mime = supported_report_mime(range)) return mime;
    }
    start = comma + 1;
  }
  return std::nullopt;
}

Result<HarborScanRequest> parse_harbor_scan_request(std::string_view body) {
  auto doc = parse_json(body, "scan request");
  if (!doc) return std::move(doc).error();
  if (auto st = check_enabled_capabilities(member(*doc, "enabled_capabilities")); !st) return std::move(st).error();
  const json& registry = member(*doc, "registry");
  const json& artifact = member(*doc, "artifact");
  HarborScanRequest out;
  std::string url = string_at(registry, "url");
  out.repository = string_at(artifact, "repository");
  out.digest = string_at(artifact, "digest");
  out.tag = string_at(artifact, "tag");
  out.mime_type = string_at(artifact, "mime_type");
  // Why the scheme is only dropped: plain HTTP is allowed for loopback registries only, or by serve's own
  // --tls-verify=false; a request never turns verification off.
  if (url.starts_with("http://")) {
    url = url.substr(7);
  } else if (url.starts_with("https://")) {
    url = url.substr(8);
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.empty() || url.find('/') != std::string::npos) {
    return make_error(Errc::invalid_argument, "registry.url must be http(s)://HOST[:PORT]");
  }
  if (out.repository.empty()) return make_error(Errc::invalid_argument, "artifact.repository is missing");
  if (!Digest::parse(out.digest)) {
    return make_error(Errc::invalid_argument, "artifact.digest must be sha256:<64 hex>");
  }
  auto parsed = oci::parse_registry_reference(url + "/" + out.repository + "@" + out.digest);
  if (!parsed || parsed->registry != url) return make_error(Errc::invalid_argument, "registry.url and artifact.repository do not make an image reference");
  out.registry = parsed->registry;
  const std::string authorization = string_at(registry, "authorization");
  if (authorization.starts_with("Basic ")) {
    out.creds = base64_decode(authorization.substr(6)).value_or("");
    if (out.creds.find(':') == std::string::npos) return make_error(Errc::invalid_argument, "registry.authorization is not valid Basic credentials");
  } else if (authorization.starts_with("Bearer ")) {
    out.bearer_token = authorization.substr(7);
    // It goes into an HTTP header line: no spaces or control characters (RFC 6750 token68).
    if (out.bearer_token.empty() || std::any_of(out.bearer_token.begin(), out.bearer_token.end(),
                                                [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == '\x7f'; })) {
      return make_error(Errc::invalid_argument, "registry.authorization is not a valid Bearer token");
    }
  }
  out.reference = parsed->str();
  return out;
}

std::string harbor_metadata(std::string_view version, std::string_view rules_digest) {
  ordered_json doc{
      {"scanner", {{"name", "layerleak"}, {"vendor", "layerleak"}, {"version", version}}},
      {"capabilities",
       ordered_json::array({{{"type", "vulnerability"},
                             {"consumes_mime_types",
                              {"application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"}},
                             {"produces_mime_types", {kHarborAdapterReportMime, kHarborReportMime, kRawReportMime}}}})},
      {"properties",
       // No "harbor.scanner-adapter/vulnerability-database-updated-at": there is no database to update,
       // the rules are built in (their digest identifies them), and an empty date is no date.
       {{"harbor.scanner-adapter/scanner-type", "secret-scanner"},
        {"layerleak/version", version},
        {"layerleak/rules-digest", rules_digest},
        {"layerleak/finds", "Scaleway credentials (API secret keys, access keys, Kapsule, Cockpit, Serverless, Messaging tokens)"}}}};
  return doc.dump();
}

std::string harbor_report(const report::ScanReport& report, const HarborScanRequest& request, std::string_view generated_at) {
  ordered_json items = ordered_json::array();
  int worst = -1;
  for (const report::ImageReport& image : report.images) {
    for (const report::Finding& f : image.findings) {
      const report::Location& loc = f.location;
      worst = std::max(worst, static_cast<int>(f.severity));
      const std::string secret = report::redact(f.secret);
      ordered_json vendor{{"rule_id", f.rule_id},
                          {"path", loc.path},
                          {"field", loc.field},
                          {"layer_index", optional_index(loc.layer_index)},
                          {"layer_digest", loc.layer_digest},
                          {"diff_id", loc.diff_id},
                          {"created_by", loc.created_by},
                          {"line", loc.line},
                          {"column", loc.column},
                          {"visibility", f.visibility},
                          {"confidence", rules::confidence_name(f.confidence)},
                          {"secret", secret},
                          {"fingerprint", f.fingerprint},
                          {"platform", image.platform}};
      items.push_back({{"id", f.rule_id},
                       {"package", !loc.path.empty() ? loc.path : loc.field},
                       {"version", short_digest(loc.layer_digest)},
                       {"fix_version", ""},
                       {"severity", harbor_severity(std::string(rules::severity_name(f.severity)))},
                       {"description", f.title + ": " + describe_finding(f) + ". " + secret + " (fingerprint " + f.fingerprint + ")"},
                       {"links", json::array()},
                       {"vendor_attributes", std::move(vendor)}});
    }
  }
  static constexpr const char* kWorst[] = {"Negligible", "Low", "Medium", "High", "Critical"};
  ordered_json out{{"generated_at", generated_at},
                   {"artifact", {{"repository", request.repository}, {"digest", request.digest}, {"tag", request.tag},
                                 {"mime_type", request.mime_type}}},
                   {"scanner", {{"name", "layerleak"}, {"vendor", "layerleak"}, {"version", report.tool_version}}},
                   {"severity", worst < 0 ? "None" : kWorst[std::min(worst, 4)]},
                   {"vulnerabilities", std::move(items)}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string escape_for_log(std::string_view text) {
  std::string out = report::escape_invalid_utf8(text);
  std::string escaped;
  escaped.reserve(out.size());
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : out) {
    if (c < 0x20 || c == 0x7f) {
      escaped += "\\x";
      escaped += kHex[c >> 4];
      escaped += kHex[c & 0xf];
    } else {
      escaped += static_cast<char>(c);
    }
  }
  return escaped;
}

}  // namespace layerleak::serve::wire
