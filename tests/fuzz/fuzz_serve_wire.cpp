// fuzz_serve_wire: bytes -> every parser of `layerleak serve` that reads what a client sends (serve.h,
// namespace wire): the POST /v1/scans body, Docker distribution notifications, Kubernetes AdmissionReview
// and ImageReview (and every image name they carry), Harbor's scan request; and the stored-report reader
// (report::read_json) with the verdicts and Harbor report built from it. The whole input is given to each.
//
// Checks beyond "no crash": an image name that maps to a reference maps to itself again; a registry
// event or a Harbor request yields references naming the digest they carry; every answer built from a
// parsed request is JSON.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_entry.h"
#include "layerleak/report.h"
#include "layerleak/serve.h"

namespace {

using namespace layerleak;
using namespace layerleak::serve;

void check_json(const std::string& text) {
  if (nlohmann::json::parse(text, nullptr, false).is_discarded()) __builtin_trap();
}

void review(const Result<wire::ReviewRequest>& request, bool image_review) {
  if (!request) return;
  if (request->images.size() > wire::kMaxReviewImages) __builtin_trap();
  std::vector<wire::ImageDecision> decisions;
  for (const std::string& image : request->images) {
    auto reference = wire::pod_image_reference(image);
    if (!reference) {
      decisions.push_back({image, wire::Verdict::unknown, reference.error().message});
      continue;
    }
    if (!reference->starts_with("docker://")) __builtin_trap();
    auto again = wire::pod_image_reference(*reference);
    if (!again || *again != *reference) __builtin_trap();
    (void)wire::reference_digest(*reference);
    decisions.push_back({image, decisions.size() % 2 ? wire::Verdict::deny : wire::Verdict::allow, image});
  }
  for (bool fail_open : {false, true}) {
    for (bool log_only : {false, true}) {
      const wire::ReviewDecision decision = wire::decide(decisions, fail_open, log_only);
      if (log_only && !decision.allowed) __builtin_trap();
      check_json(image_review ? wire::image_review_response(*request, decision)
                              : wire::admission_response(*request, decision));
    }
  }
}

}  // namespace

LAYERLEAK_FUZZ_TARGET(serve_wire) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  (void)wire::parse_scan_request(input);

  if (auto pushed = wire::parse_registry_events(input)) {
    for (const wire::PushedManifest& m : *pushed) {
      if (wire::reference_digest(m.reference) != m.digest) __builtin_trap();
    }
  }

  review(wire::parse_admission_review(input), false);
  review(wire::parse_image_review(input), true);

  auto harbor = wire::parse_harbor_scan_request(input);
  if (harbor) {
    if (wire::reference_digest(harbor->reference) != harbor->digest) __builtin_trap();
    if (!harbor->creds.empty() && harbor->creds.find(':') == std::string::npos) __builtin_trap();
    if (harbor->bearer_token.find_first_of(" \r\n") != std::string::npos) __builtin_trap();
  }

  // Stored reports are read back with report::read_json; verdicts and Harbor reports come from the
  // typed report.
  if (auto report = report::read_json(input)) {
    for (auto fail_on : {rules::Severity::info, rules::Severity::critical}) {
      for (const wire::ImageVerdict& v : wire::verdicts_from_report(*report, fail_on)) check_json(v.summary_json);
    }
    check_json(wire::harbor_report(*report, harbor ? *harbor : wire::HarborScanRequest{}, "2024-01-01T00:00:00Z"));
  }
  for (unsigned char c : wire::escape_for_log(input)) {
    if (c < 0x20 || c == 0x7f) __builtin_trap();  // one log line, no terminal escapes
  }

  // Single lines as image names and references (Kubernetes container images, docker:// references).
  std::size_t start = 0;
  while (start < input.size()) {
    std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(start, end - start);
    if (auto reference = wire::pod_image_reference(line)) {
      auto again = wire::pod_image_reference(*reference);
      if (!again || *again != *reference) __builtin_trap();
    }
    (void)wire::reference_digest(line);
    start = end + 1;
  }
  return 0;
}
