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
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/core.h"
#include "layerleak/detect.h"
#include "layerleak/pipeline.h"
#include "layerleak/report.h"

namespace layerleak::serve {

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";  // ADDR:PORT ("[::1]:8080" for IPv6)
  // A file holding the bearer token every request except /healthz and /readyz must present. Without it
  // only a loopback address may be listened on.
  std::string token_file;
  std::string tls_cert;  // PEM files; both or neither (Kubernetes webhooks need HTTPS)
  std::string tls_key;
  // The Kubernetes admission endpoints (POST /v1/kubernetes/admission and /v1/kubernetes/imagereview)
  // answered without the bearer token, for clusters whose API server cannot send one (managed control
  // planes such as Kapsule). Needs HTTPS and allowed_registries: a caller without the token then learns
  // only the verdict of images on the operator's registries and starts scans of them, which any pod
  // creator can already do; every other endpoint keeps requiring the token.
  bool admission_without_token = false;
  unsigned workers = 2;                // scans running at once
  std::size_t queue_size = 64;         // scans waiting beyond the running ones; more are refused (429)
  unsigned scan_timeout_seconds = 600; // a scan running longer is cancelled and reported incomplete
  double admission_wait_seconds = 5;   // how long an admission request waits for a scan in progress
  bool fail_open = false;              // images without a verdict in time: allowed (true) or denied
  bool log_only = false;               // never deny admission; report what would have been denied
  rules::Severity fail_on = rules::Severity::medium;  // a finding at or above denies
  std::string cache_dir;               // "" = results kept in memory only
  // --store SPEC (instead of cache_dir): a directory (SQLite) or postgresql://… shared by replicas, which
  // then never scan the same digest at once and answer verdicts any of them stored (cache/store.h).
  std::string store;
  std::size_t jobs_kept = 1000;        // finished jobs kept for GET /v1/scans/{id}
  // Local sources (dir:, oci:, oci-archive:, docker-archive:, paths, -) are refused (400) unless set;
  // even then a local scan never stores a verdict or report under a digest.
  bool allow_local_images = false;
  // Registries serve may contact ("HOST[:PORT]", as in references; docker.io for Docker Hub) and the token
  // realms they name. Empty: any registry, anonymously or with the authfile's entry for that host;
  // --creds requires a list. Images of other registries get `unknown` without any request.
  std::vector<std::string> allowed_registries;
  // Scan reports are merged over every platform of an index (serve always scans all platforms: a verdict
  // stored under an index digest covers them all).
  // --verify (docs/verification.md): after each scan, before its verdict is stored, every distinct Scaleway
  // secret key is checked against the IAM API, results kept by fingerprint in the store (or cache) for
  // `ttl_seconds` (replicas sharing a store check each key once between them). A key verified invalid is
  // severity low; with only_live only findings verified live deny. Off: no request of any kind.
  struct Verify {
    bool enabled = false;
    std::string endpoint = "https://api.scaleway.com";  // checked at start-up (exit 2)
    unsigned budget_seconds = 60;
    unsigned ttl_seconds = 3600;
    bool only_live = false;
  } verify;
  pipeline::ScanOptions scan;          // per-scan settings (jobs, limits, registry); serve sets cancel and cache
  // The text redaction for logs and reports (pipeline::text_redactor of the detector); set by run_serve.
  std::function<std::string(std::string_view)> redact_text;
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

// The verdict on one image of a scan report.
struct ImageVerdict {
  std::string reference;
  std::string manifest_digest;
  std::string index_digest;  // the index the image was selected from, "" when none
  Verdict verdict = Verdict::unknown;
  // One readable line naming rule, layer and path of each denying finding. For an incomplete scan only
  // that it is incomplete: the errors (which could tell a refused port from a TLS failure or an auth
  // realm) stay in summary_json and the report, for API token holders.
  std::string reason;
  std::string summary_json;  // {"verdict":..,"manifest_digest":..,"reason":..,"findings":[..],"complete":..}
};
// One entry per image of the report (secrets in it must already be redacted). Incomplete images are
// `unknown`; complete ones `deny` when a finding is at or above `fail_on` (with only_live: and verified live).
std::vector<ImageVerdict> verdicts_from_report(const report::ScanReport& report, rules::Severity fail_on,
                                               bool only_live = false);
// The verdicts of several images (the platforms of an index, or whatever a tag named) together: deny when
// one denies, unknown while one is unknown (or there is none), else allow.
ImageVerdict combine_verdicts(const std::vector<ImageVerdict>& images, std::string_view name);

// The body of POST /v1/scans, {"image": "REFERENCE"}: the reference (not checked here: JobQueue says
// whether serve may read it). Errc::malformed without a non-empty string "image".
Result<std::string> parse_scan_request(std::string_view body);

// Docker distribution notifications: the manifests pushed, as docker://HOST/REPO@DIGEST references.
struct PushedManifest {
  std::string reference;
  std::string digest;
};
Result<std::vector<PushedManifest>> parse_registry_events(std::string_view body);

// A container image name as Kubernetes writes it ("nginx", "registry:5000/team/app@sha256:...") as a
// layerleak reference ("docker://docker.io/library/nginx:latest"), through oci's reference grammar;
// Errc::invalid_argument if malformed (never a local path or another transport).
Result<std::string> pod_image_reference(std::string_view image);
// The manifest digest named by a docker:// reference ("...@sha256:<hex>"), if any. Only a key to look up
// verdicts: nothing is ever stored under a digest taken from a reference's text.
std::optional<std::string> reference_digest(std::string_view reference);

// An AdmissionReview (admission.k8s.io/v1; Pods and the pod templates of workloads) or an ImageReview
// (imagepolicy.k8s.io/v1alpha1): who asks, and which images. A review whose object is not understood
// (no pod spec, containers that are not a list of objects with string images) is returned with
// `not_understood` set: it must be denied (or warned with --fail-open), never allowed silently.
struct ReviewRequest {
  std::string api_version;
  std::string uid;  // AdmissionReview only
  std::vector<std::string> images;
  bool dry_run = false;         // AdmissionReview request.dryRun: answer from stored verdicts, start no scan
  std::string not_understood;   // why the object could not be read ("" = understood)
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
  std::string registry;    // HOST[:PORT] of registry.url
  std::string repository;
  std::string digest;
  std::string tag;
  std::string mime_type;
  std::string creds;       // "USER:PASS" from a Basic authorization, "" otherwise
  std::string bearer_token; // the token of a Bearer authorization, "" otherwise (for the registry itself)
};
// The registry URL's scheme never changes how TLS is verified (that is a start-up flag of serve).
Result<HarborScanRequest> parse_harbor_scan_request(std::string_view body);
// Errc::malformed: not JSON or a value of the wrong type (400); Errc::invalid_argument: a bad field (422);
// Errc::unsupported: `enabled_capabilities` asks for a capability or report type layerleak does not produce
// (501, "the scanner has no capability to handle the scan request", spec v1.2).
std::string harbor_metadata(std::string_view version, std::string_view rules_digest);
// The report MIME type to answer a GET /api/v1/scan/{id}/report with, from its Accept header: the first
// supported type in it (q=0 excluded; a missing header, */* or application/* give the Harbor report);
// nullopt when Accept names only types layerleak does not produce (the adapter answers 501).
std::optional<std::string_view> harbor_report_mime(std::string_view accept);
// The Harbor vulnerability report for a scan (secrets in `report` must already be redacted): one item per
// finding, the rule id as the identifier, layer and path in the description and the vendor attributes.
std::string harbor_report(const report::ScanReport& report, const HarborScanRequest& request, std::string_view generated_at);
// Text from requests and images as one log line: control characters (CR, LF, ESC, ...) and invalid UTF-8
// bytes become \xNN.
std::string escape_for_log(std::string_view text);

inline constexpr std::string_view kHarborReportMime = "application/vnd.security.vulnerability.report; version=1.1";
inline constexpr std::string_view kHarborAdapterReportMime = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";
inline constexpr std::string_view kRawReportMime = "application/vnd.scanner.adapter.vuln.report.raw";
inline constexpr std::string_view kLayerleakReportMime = "application/vnd.layerleak.report.v1+json";
inline constexpr std::string_view kHarborErrorMime = "application/vnd.scanner.adapter.error+json; version=1.0";
inline constexpr std::string_view kHarborMetadataMime = "application/vnd.scanner.adapter.metadata+json; version=1.0";

}  // namespace wire

}  // namespace layerleak::serve
