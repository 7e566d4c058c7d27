// The request/response mappings of `serve`: registry notifications, Kubernetes AdmissionReview and
// ImageReview, Harbor's scanner adapter API, and verdicts from JSON reports.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "layerleak/serve.h"

using namespace layerleak;
using namespace layerleak::serve::wire;
using nlohmann::json;

namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');
const std::string kDigest2 = "sha256:" + std::string(64, 'b');

report::ScanReport scan_report(bool complete, rules::Severity severity, const std::string& visibility = "runtime") {
  report::Finding f;
  f.rule_id = "scaleway.secret-key";
  f.title = "Scaleway API secret key";
  f.severity = severity;
  f.confidence = rules::Confidence::high;
  f.secret = "6f2c****6b7c";
  f.fingerprint = "sha256:ff";
  f.location.kind = "layer";
  f.location.layer_index = 1;
  f.location.layer_digest = kDigest2;
  f.location.diff_id = kDigest2;
  f.location.created_by = "COPY .env /app/";
  f.location.path = "/app/.env";
  f.location.line = 2;
  f.location.column = 16;
  f.visibility = visibility;
  if (visibility == "deleted") f.hidden_by_layer = 2;
  report::ImageReport image;
  image.reference = "docker://reg:5000/app@" + kDigest;
  image.transport = "docker";
  image.manifest_digest = kDigest;
  image.findings = {f};
  image.complete = complete;
  if (!complete) image.errors.push_back({"network", "connection refused to 10.0.0.7:6443", std::nullopt});
  report::ScanReport r;
  r.tool_version = "0.1.0";
  r.images = {image};
  return r;
}

}  // namespace

TEST_CASE("verdicts from reports: deny names rule, layer and path; incomplete is unknown without details") {
  auto deny = verdicts_from_report(scan_report(true, rules::Severity::critical, "deleted"), rules::Severity::medium);
  REQUIRE(deny.size() == 1);
  const ImageVerdict& v = deny[0];
  CHECK(v.verdict == Verdict::deny);
  CHECK(v.manifest_digest == kDigest);
  CHECK(v.reason.find("scaleway.secret-key (critical) in layer 1 sha256:bbbbbbbbbbbb (COPY .env /app/) at /app/.env:2") != std::string::npos);
  CHECK(v.reason.find("deleted by layer 2") != std::string::npos);
  CHECK(v.reason.find("6f2c") == std::string::npos);  // never the secret
  auto summary = json::parse(v.summary_json);
  CHECK(summary["verdict"] == "deny");
  CHECK(summary["findings"][0]["path"] == "/app/.env");

  auto low = verdicts_from_report(scan_report(true, rules::Severity::low), rules::Severity::medium);
  CHECK(low[0].verdict == Verdict::allow);
  auto incomplete = verdicts_from_report(scan_report(false, rules::Severity::critical), rules::Severity::medium);
  CHECK(incomplete[0].verdict == Verdict::unknown);
  // The reason goes to pod creators: it must not tell a refused port from a TLS error or an auth realm.
  CHECK(incomplete[0].reason.find("could not be scanned completely") != std::string::npos);
  CHECK(incomplete[0].reason.find("refused") == std::string::npos);
  CHECK(incomplete[0].reason.find("10.0.0.7") == std::string::npos);
  // The summary (for API token holders) keeps the errors.
  CHECK(json::parse(incomplete[0].summary_json)["errors"][0]["code"] == "network");
}

TEST_CASE("verdicts combine over the platforms of an index: any deny denies, any unknown is unknown") {
  ImageVerdict allow{"a", kDigest, "", Verdict::allow, "a: clean", "{}"};
  ImageVerdict deny{"b", kDigest2, "", Verdict::deny, "b: leaked", "{}"};
  ImageVerdict unknown{"c", kDigest2, "", Verdict::unknown, "c: incomplete", "{}"};
  CHECK(combine_verdicts({allow, allow}, "idx").verdict == Verdict::allow);
  CHECK(combine_verdicts({allow, deny}, "idx").verdict == Verdict::deny);
  CHECK(combine_verdicts({allow, deny}, "idx").reason.find("b: leaked") != std::string::npos);
  CHECK(combine_verdicts({deny, unknown}, "idx").verdict == Verdict::unknown);
  CHECK(combine_verdicts({}, "idx").verdict == Verdict::unknown);
}

TEST_CASE("registry notifications: manifest pushes become docker:// references, the rest is ignored") {
  const std::string body = json{{"events", json::array({
      {{"action", "push"}, {"target", {{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", kDigest},
                                       {"repository", "team/app"}, {"tag", "1.0"}}},
       {"request", {{"host", "127.0.0.1:5000"}}}},
      {{"action", "push"}, {"target", {{"mediaType", "application/octet-stream"}, {"digest", kDigest2}, {"repository", "team/app"}}},
       {"request", {{"host", "127.0.0.1:5000"}}}},
      {{"action", "pull"}, {"target", {{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", kDigest2},
                                       {"repository", "team/app"}}},
       {"request", {{"host", "127.0.0.1:5000"}}}},
      {{"action", "push"}, {"target", {{"mediaType", "application/vnd.docker.distribution.manifest.v2+json"}, {"digest", kDigest},
                                       {"repository", "team/app"}}},
       {"request", {{"host", "127.0.0.1:5000"}}}},  // the same manifest again (tag push): once
  })}}.dump();
  auto pushed = parse_registry_events(body);
  REQUIRE(pushed);
  REQUIRE(pushed->size() == 1);
  CHECK((*pushed)[0].reference == "docker://127.0.0.1:5000/team/app@" + kDigest);
  CHECK((*pushed)[0].digest == kDigest);
  CHECK_FALSE(parse_registry_events("{\"nope\":1}"));
  CHECK_FALSE(parse_registry_events("garbage"));
}

TEST_CASE("Kubernetes image names map to docker:// references") {
  CHECK(*pod_image_reference("nginx") == "docker://docker.io/library/nginx:latest");
  CHECK(*pod_image_reference("team/app:1") == "docker://docker.io/team/app:1");
  CHECK(*pod_image_reference("localhost:5000/app") == "docker://localhost:5000/app:latest");
  CHECK(*pod_image_reference("rg.fr-par.scw.cloud/ns/app:2@" + kDigest) == "docker://rg.fr-par.scw.cloud/ns/app:2@" + kDigest);
  CHECK(*pod_image_reference("127.0.0.1:5000/app@" + kDigest) == "docker://127.0.0.1:5000/app@" + kDigest);
  CHECK_FALSE(pod_image_reference(""));
  CHECK_FALSE(pod_image_reference("oci-archive:///etc/passwd"));
  CHECK_FALSE(pod_image_reference("app@sha256:short"));
  CHECK_FALSE(pod_image_reference("a b"));
  CHECK(reference_digest("docker://r/app@" + kDigest) == kDigest);
  CHECK_FALSE(reference_digest("docker://r/app:1"));
}

TEST_CASE("AdmissionReview: every container list of a Pod or a pod template") {
  json pod = {{"kind", "Pod"},
              {"spec", {{"initContainers", json::array({{{"name", "i"}, {"image", "init:1"}}})},
                        {"containers", json::array({{{"name", "a"}, {"image", "app:1"}}, {{"name", "b"}, {"image", "app:1"}}})},
                        {"ephemeralContainers", json::array({{{"name", "d"}, {"image", "debug:1"}}})}}}};
  json review = {{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"},
                 {"request", {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"}, {"object", pod}}}};
  auto request = parse_admission_review(review.dump());
  REQUIRE(request);
  CHECK(request->uid == "705ab4f5-6393-11e8-b7cc-42010a800002");
  CHECK(request->images == std::vector<std::string>{"init:1", "app:1", "debug:1"});

  // Image volumes carry an image's files into the pod: reviewed like containers.
  json with_volume = pod;
  with_volume["spec"]["volumes"] = json::array({{{"name", "cfg"}, {"configMap", {{"name", "x"}}}},
                                                {{"name", "data"}, {"image", {{"reference", "data:1"}, {"pullPolicy", "Always"}}}}});
  review["request"]["object"] = with_volume;
  auto volumes = parse_admission_review(review.dump());
  REQUIRE(volumes);
  CHECK(volumes->images == std::vector<std::string>{"init:1", "app:1", "debug:1", "data:1"});
  review["request"]["object"]["spec"]["volumes"] = json::array({{{"name", "data"}, {"image", {{"pullPolicy", "Always"}}}}});
  CHECK_FALSE(parse_admission_review(review.dump())->not_understood.empty());

  review["request"]["object"] = {{"kind", "PodTemplate"}, {"template", {{"spec", pod["spec"]}}}};
  auto pod_template = parse_admission_review(review.dump());
  REQUIRE(pod_template);
  CHECK(pod_template->not_understood.empty());
  CHECK(pod_template->images.size() == 3);

  json deployment = {{"kind", "Deployment"}, {"spec", {{"template", {{"spec", pod["spec"]}}}}}};
  review["request"]["object"] = deployment;
  auto from_template = parse_admission_review(review.dump());
  REQUIRE(from_template);
  CHECK(from_template->images.size() == 3);

  review["request"]["object"] = nullptr;
  review["request"]["operation"] = "DELETE";  // nothing new runs
  auto deleted = parse_admission_review(review.dump());
  REQUIRE(deleted);
  CHECK(deleted->images.empty());
  CHECK(deleted->not_understood.empty());

  // Shapes not understood are never a silent allow: they come back flagged, and decide() denies them.
  review["request"]["operation"] = "CREATE";
  for (const json& object : {json(nullptr), json{{"kind", "ConfigMap"}, {"data", {{"a", "b"}}}},
                             json{{"kind", "Pod"}, {"spec", {{"containers", {{"image", "app:1"}}}}}},
                             json{{"kind", "Pod"}, {"spec", {{"containers", json::array({{{"image", 7}}})}}}},
                             json{{"kind", "Pod"}, {"spec", {{"containers", json::array({"app:1"})}}}},
                             json{{"kind", "Pod"}, {"spec", json::object()}},
                             json{{"kind", "Pod"}, {"spec", {{"containers", json::array({{{"image", "a:1"}}})}, {"initContainers", "x"}}}}}) {
    review["request"]["object"] = object;
    auto odd = parse_admission_review(review.dump());
    REQUIRE(odd);
    CHECK_FALSE(odd->not_understood.empty());
    CHECK(odd->images.empty());
  }
  review["request"]["object"] = pod;
  review["request"]["dryRun"] = true;
  auto dry = parse_admission_review(review.dump());
  REQUIRE(dry);
  CHECK(dry->dry_run);

  CHECK_FALSE(parse_admission_review(json{{"kind", "AdmissionReview"}, {"apiVersion", "admission.k8s.io/v1"}}.dump()));
  CHECK_FALSE(parse_admission_review(json{{"kind", "Other"}}.dump()));
}

TEST_CASE("review decisions: deny with reasons, fail-open and fail-closed, log-only") {
  std::vector<ImageDecision> images = {{"app:1", Verdict::allow, "clean"},
                                       {"leaky:1", Verdict::deny, "leaky:1: scaleway.secret-key in layer 1 at /app/.env:2"},
                                       {"new:1", Verdict::unknown, "scan in progress"}};
  ReviewDecision closed = decide(images, false, false);
  CHECK_FALSE(closed.allowed);
  CHECK(closed.reason.find("/app/.env:2") != std::string::npos);
  CHECK(closed.reason.find("new:1: no verdict (scan in progress); denied (fail-closed)") != std::string::npos);

  ReviewDecision open = decide({images[0], images[2]}, true, false);
  CHECK(open.allowed);
  REQUIRE(open.warnings.size() == 1);
  CHECK(open.warnings[0].find("fail-open") != std::string::npos);

  ReviewDecision log_only = decide(images, false, true);
  CHECK(log_only.allowed);
  CHECK(log_only.warnings.size() == 2);

  ReviewRequest request{"admission.k8s.io/v1", "uid-1", {}, false, ""};
  json response = json::parse(admission_response(request, closed));
  CHECK(response["apiVersion"] == "admission.k8s.io/v1");
  CHECK(response["kind"] == "AdmissionReview");
  CHECK(response["response"]["uid"] == "uid-1");
  CHECK(response["response"]["allowed"] == false);
  CHECK(response["response"]["status"]["code"] == 403);
  CHECK(response["response"]["status"]["message"].get<std::string>().find("scaleway.secret-key") != std::string::npos);

  json allowed = json::parse(admission_response(request, open));
  CHECK(allowed["response"]["allowed"] == true);
  CHECK_FALSE(allowed["response"].contains("status"));
  CHECK(allowed["response"]["warnings"].size() == 1);
}

TEST_CASE("ImageReview: images in, status out") {
  json review = {{"apiVersion", "imagepolicy.k8s.io/v1alpha1"}, {"kind", "ImageReview"},
                 {"spec", {{"containers", json::array({{{"image", "a:1"}}, {{"image", "b:2"}}})}, {"namespace", "prod"}}}};
  auto request = parse_image_review(review.dump());
  REQUIRE(request);
  CHECK(request->images == std::vector<std::string>{"a:1", "b:2"});
  json denied = json::parse(image_review_response(*request, decide({{"a:1", Verdict::deny, "a:1: leaked"}}, false, false)));
  CHECK(denied["kind"] == "ImageReview");
  CHECK(denied["status"]["allowed"] == false);
  CHECK(denied["status"]["reason"].get<std::string>().find("a:1: leaked") != std::string::npos);
  json allowed = json::parse(image_review_response(*request, decide({{"a:1", Verdict::allow, ""}}, false, false)));
  CHECK(allowed["status"]["allowed"] == true);
  CHECK_FALSE(parse_image_review(json{{"kind", "AdmissionReview"}}.dump()));
}

TEST_CASE("Harbor: scan requests, metadata and the vulnerability report") {
  json body = {{"registry", {{"url", "http://harbor-core:8080/"}, {"authorization", "Basic cm9ib3Q6c2VjcmV0"}}},
               {"artifact", {{"repository", "library/app"}, {"digest", kDigest}, {"tag", "1.0"},
                             {"mime_type", "application/vnd.oci.image.manifest.v1+json"}}}};
  auto request = parse_harbor_scan_request(body.dump());
  REQUIRE(request);
  CHECK(request->reference == "docker://harbor-core:8080/library/app@" + kDigest);
  CHECK(request->creds == "robot:secret");
  CHECK(request->registry == "harbor-core:8080");
  body["artifact"]["digest"] = "latest";
  CHECK_FALSE(parse_harbor_scan_request(body.dump()));

  json metadata = json::parse(harbor_metadata("0.1.0", "sha256:rules"));
  CHECK(metadata["scanner"]["name"] == "layerleak");
  const auto produces = metadata["capabilities"][0]["produces_mime_types"].get<std::vector<std::string>>();
  CHECK(std::find(produces.begin(), produces.end(), std::string(kHarborReportMime)) != produces.end());
  CHECK(std::find(produces.begin(), produces.end(), std::string(kRawReportMime)) != produces.end());

  json doc = json::parse(harbor_report(scan_report(true, rules::Severity::critical), *request, "2024-01-01T00:00:00Z"));
  CHECK(doc["severity"] == "Critical");
  REQUIRE(doc["vulnerabilities"].size() == 1);
  const json& item = doc["vulnerabilities"][0];
  CHECK(item["id"] == "scaleway.secret-key");
  CHECK(item["package"] == "/app/.env");
  CHECK(item["severity"] == "Critical");
  CHECK(item["description"].get<std::string>().find("layer 1") != std::string::npos);
  CHECK(item["vendor_attributes"]["layer_digest"] == kDigest2);
  CHECK(item["vendor_attributes"]["path"] == "/app/.env");
  CHECK(doc["artifact"]["digest"] == kDigest);
}

TEST_CASE("report text is cut on UTF-8 character boundaries") {
  // A build step of 56 'x' then "é" (2 bytes): a 57-byte cut used to leave half a character, and the
  // summary's JSON writer threw.
  report::ScanReport r = scan_report(true, rules::Severity::critical);
  report::Finding& finding = r.images[0].findings[0];
  finding.location.created_by = std::string(56, 'x') + "\xc3\xa9" + std::string(10, 'y');
  finding.location.layer_digest = "sha256:" + std::string(11, 'a') + "\xe2\x82\xac" + "bbbb";
  finding.location.layer_index.reset();
  std::vector<ImageVerdict> verdicts;
  REQUIRE_NOTHROW(verdicts = verdicts_from_report(r, rules::Severity::medium));
  const ImageVerdict& v = verdicts[0];
  CHECK(v.verdict == Verdict::deny);
  CHECK(v.reason.find("in layer ? sha256:aaaaaaaaaaa (" + std::string(56, 'x') + "...)") != std::string::npos);
  auto summary = json::parse(v.summary_json);
  CHECK(summary["findings"][0]["layer_index"].is_null());
  REQUIRE_NOTHROW(harbor_report(r, HarborScanRequest{}, "now"));
}

TEST_CASE("log lines escape control characters and invalid UTF-8") {
  CHECK(escape_for_log("app:1\r\nlayerleak serve: allowed") == "app:1\\x0d\\x0alayerleak serve: allowed");
  CHECK(escape_for_log("a\x1b[31mred") == "a\\x1b[31mred");
  CHECK(escape_for_log("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(escape_for_log("\xff") == "\\xff");
}

TEST_CASE("requests are bounded: images per review") {
  auto pod = [](std::size_t distinct, std::size_t copies) {
    json containers = json::array();
    for (std::size_t i = 0; i < distinct; ++i) {
      for (std::size_t k = 0; k < copies; ++k) containers.push_back({{"name", "c"}, {"image", "app" + std::to_string(i)}});
    }
    return json{{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"},
                {"request", {{"uid", "u"}, {"object", {{"kind", "Pod"}, {"spec", {{"containers", containers}}}}}}}}.dump();
  };
  auto many = parse_admission_review(pod(kMaxReviewImages + 1, 1));
  REQUIRE_FALSE(many);
  CHECK(many.error().code == Errc::limit);
  auto repeated = parse_admission_review(pod(kMaxReviewImages, 20));  // duplicates count once
  REQUIRE(repeated);
  CHECK(repeated->images.size() == kMaxReviewImages);
  json review = {{"apiVersion", "imagepolicy.k8s.io/v1alpha1"}, {"kind", "ImageReview"}, {"spec", {{"containers", json::array()}}}};
  for (std::size_t i = 0; i <= kMaxReviewImages; ++i) review["spec"]["containers"].push_back({{"image", std::string("a").append(std::to_string(i))}});
  CHECK_FALSE(parse_image_review(review.dump()));
}

TEST_CASE("POST /v1/scans bodies") {
  auto ok = parse_scan_request(R"({"image": "docker://reg:5000/a@)" + kDigest + "\"}");
  REQUIRE(ok);
  CHECK(*ok == "docker://reg:5000/a@" + kDigest);
  for (const char* bad : {"", "{}", "[]", R"({"image": ""})", R"({"image": 3})", R"({"nope": "x"})"}) {
    auto r = parse_scan_request(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
}

TEST_CASE("Harbor scan requests: a Bearer authorization is passed on as a registry token") {
  auto request = [](const std::string& authorization) {
    return json{{"registry", {{"url", "https://core.harbor.domain"}, {"authorization", authorization}}},
                {"artifact", {{"repository", "library/app"}, {"digest", kDigest}}}}
        .dump();
  };
  auto bearer = parse_harbor_scan_request(request("Bearer eyJhbGciOi.eyJzdWIi.c2ln"));
  REQUIRE(bearer);
  CHECK(bearer->bearer_token == "eyJhbGciOi.eyJzdWIi.c2ln");
  CHECK(bearer->creds.empty());
  auto basic = parse_harbor_scan_request(request("Basic dXNlcjpwYXNz"));
  REQUIRE(basic);
  CHECK(basic->creds == "user:pass");
  CHECK(basic->bearer_token.empty());
  for (const char* bad : {"Bearer ", "Bearer a b", "Bearer a\r\nX-Injected: 1"}) CHECK_FALSE(parse_harbor_scan_request(request(bad)));
}

TEST_CASE("a redacted secret stays the same when a stored report is redacted again") {
  const std::string once = report::redact("6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c");
  CHECK(once == "6f2c****6b7c");
  CHECK(report::redact(once) == once);
  report::ScanReport stored = scan_report(true, rules::Severity::critical);  // its secret is already redacted
  std::ostringstream out;
  REQUIRE(report::write_report(stored, report::Format::json, report::ReportOptions{}, out));
  CHECK(out.str().find("\"6f2c****6b7c\"") != std::string::npos);
}
