// layerleak serve: the registry admission service.
//
// run_serve() listens on HTTP(S), scans images on a bounded pool of workers (queued scans beyond the
// queue size are refused with 429, each scan has a time limit), and answers "may this image run?" from
// verdicts kept by manifest digest: for registry push notifications, Kubernetes admission webhooks
// (AdmissionReview, ImageReview), the Harbor pluggable scanner API and its own /v1 API. Results of
// complete scans are cached (layerleak/cache.h), so a base layer shared by many images is read once.
//
// The `wire` functions below are the request/response mappings, pure and without I/O (exposed for tests).
//
// Not responsible for: scanning (pipeline), report formats (report), registry access (oci).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/core.h"
#include "layerleak/detect.h"
#include "layerleak/pipeline.h"

namespace layerleak::serve {

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";  // ADDR:PORT ("[::1]:8080" for IPv6)
  // A file holding the bearer token every request except /healthz and /readyz must present. Without it
  // only a loopback address may be listened on.
  std::string token_file;
  std::string tls_cert;  // PEM files; both or neither (Kubernetes webhooks need HTTPS)
  std::string tls_key;
  unsigned workers = 2;                // scans running at once
  std::size_t queue_size = 64;         // scans waiting beyond the running ones; more are refused (429)
  unsigned scan_timeout_seconds = 600; // a scan running longer is cancelled and reported incomplete
  double admission_wait_seconds = 5;   // how long an admission request waits for a scan in progress
  bool fail_open = false;              // images without a verdict in time: allowed (true) or denied
  bool log_only = false;               // never deny admission; report what would have been denied
  rules::Severity fail_on = rules::Severity::medium;  // a finding at or above denies
  std::string cache_dir;               // "" = results kept in memory only
  std::size_t jobs_kept = 1000;        // finished jobs kept for GET /v1/scans/{id}
  pipeline::ScanOptions scan;          // per-scan settings (jobs, limits, registry); serve sets cancel and cache
};

// Runs until SIGTERM or SIGINT, then stops accepting, cancels running scans and returns 0; returns 2
// (after printing why on standard error) when it cannot start.
int run_serve(const ServeOptions& options, std::shared_ptr<const detect::Detector> detector);

namespace wire {

// Bounds on what a client sends (DESIGN §5). Every parser below fails with Errc::limit past the size and
// the image count, with Errc::malformed past the depth; the HTTP server refuses larger bodies before.
inline constexpr std::size_t kMaxDocumentBytes = 8u << 20;
inline constexpr int kMaxJsonDepth = 64;
inline constexpr std::size_t kMaxReviewImages = 256;  // distinct images of one Pod or ImageReview

enum class Verdict { allow, deny, unknown };
std::string_view verdict_name(Verdict v) noexcept;

// The verdict on one image of a JSON report (report::write_report's json format).
struct ImageVerdict {
  std::string reference;
  std::string manifest_digest;
  Verdict verdict = Verdict::unknown;
  std::string reason;        // one readable line naming rule, layer and path of each denying finding
  std::string summary_json;  // {"verdict":..,"manifest_digest":..,"reason":..,"findings":[..],"complete":..}
};
// One entry per image of the report; fails with Errc::malformed when it is not a layerleak report.
// Incomplete images are `unknown`; complete ones `deny` when a finding is at or above `fail_on`.
Result<std::vector<ImageVerdict>> verdicts_from_report(std::string_view report_json, rules::Severity fail_on);

// The body of POST /v1/scans, {"image": "REFERENCE"}: the reference (not checked here: the scan says
// whether it can read it). Errc::malformed without a non-empty string "image".
Result<std::string> parse_scan_request(std::string_view body);

// Docker distribution notifications: the manifests pushed, as docker://HOST/REPO@DIGEST references.
struct PushedManifest {
  std::string reference;
  std::string digest;
};
Result<std::vector<PushedManifest>> parse_registry_events(std::string_view body);

// A container image name as Kubernetes writes it ("nginx", "registry:5000/team/app@sha256:...") as a
// layerleak reference ("docker://docker.io/library/nginx:latest"); Errc::invalid_argument if malformed.
Result<std::string> pod_image_reference(std::string_view image);
// The manifest digest named by a reference ("...@sha256:<hex>"), if any.
std::optional<std::string> reference_digest(std::string_view reference);

// An AdmissionReview (admission.k8s.io/v1; Pods and the pod templates of workloads) or an ImageReview
// (imagepolicy.k8s.io/v1alpha1): who asks, and which images.
struct ReviewRequest {
  std::string api_version;
  std::string uid;  // AdmissionReview only
  std::vector<std::string> images;
};
Result<ReviewRequest> parse_admission_review(std::string_view body);
Result<ReviewRequest> parse_image_review(std::string_view body);

struct ImageDecision {
  std::string image;
  Verdict verdict = Verdict::unknown;
  std::string reason;  // why (the verdict's reason, or why there is none)
};
struct ReviewDecision {
  bool allowed = true;
  std::string reason;                 // all images' reasons that count against admission, joined
  std::vector<std::string> warnings;  // log-only denials, fail-open unknowns
};
ReviewDecision decide(const std::vector<ImageDecision>& images, bool fail_open, bool log_only);
std::string admission_response(const ReviewRequest& request, const ReviewDecision& decision);
std::string image_review_response(const ReviewRequest& request, const ReviewDecision& decision);

// Harbor pluggable scanner adapter API (v1.1).
struct HarborScanRequest {
  std::string reference;   // docker://HOST/REPO@DIGEST
  std::string repository;
  std::string digest;
  std::string tag;
  std::string mime_type;
  std::string creds;       // "USER:PASS" from a Basic authorization, "" otherwise
  std::string bearer_token; // the token of a Bearer authorization, "" otherwise (for the registry itself)
  bool plain_http = false; // the registry URL is http://
};
Result<HarborScanRequest> parse_harbor_scan_request(std::string_view body);
std::string harbor_metadata(std::string_view version, std::string_view rules_digest);
// The Harbor vulnerability report for a scan: one item per finding, the rule id as the identifier, layer
// and path in the description and the vendor attributes. Errc::malformed if `report_json` is not a report.
Result<std::string> harbor_report(std::string_view report_json, const HarborScanRequest& request,
                                  std::string_view generated_at);
inline constexpr std::string_view kHarborReportMime = "application/vnd.security.vulnerability.report; version=1.1";
inline constexpr std::string_view kHarborAdapterReportMime = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";
inline constexpr std::string_view kRawReportMime = "application/vnd.scanner.adapter.vuln.report.raw";
inline constexpr std::string_view kLayerleakReportMime = "application/vnd.layerleak.report.v1+json";

}  // namespace wire

}  // namespace layerleak::serve
