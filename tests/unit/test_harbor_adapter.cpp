// Harbor pluggable scanner adapter, spec v1.2 (goharbor/pluggable-scanner-spec): report MIME type
// negotiation (unsupported -> 501), enabled_capabilities in scan requests (unsupported -> 501, wrong JSON
// types -> 400), and the metadata fields. The HTTP status codes and error Content-Type are checked on the
// real server in tests/integration/test_serve.py.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "layerleak/serve.h"

using namespace layerleak;
using namespace layerleak::serve::wire;
using nlohmann::json;

namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

json scan_request() {
  return {{"registry", {{"url", "https://core.harbor.domain"}, {"authorization", "Basic cm9ib3Q6c2VjcmV0"}}},
          {"artifact", {{"repository", "library/app"}, {"digest", kDigest}, {"tag", "1.0"},
                        {"mime_type", "application/vnd.oci.image.manifest.v1+json"}}}};
}

}  // namespace

TEST_CASE("Harbor: the report MIME type comes from Accept; unsupported ones get nothing", "[serve][harbor]") {
  CHECK(harbor_report_mime("") == kHarborAdapterReportMime);
  CHECK(harbor_report_mime("*/*") == kHarborAdapterReportMime);
  CHECK(harbor_report_mime("application/*") == kHarborAdapterReportMime);
  CHECK(harbor_report_mime("application/vnd.security.vulnerability.report; version=1.1") == kHarborReportMime);
  CHECK(harbor_report_mime("Application/VND.Security.Vulnerability.Report;version=\"1.1\"") == kHarborReportMime);
  CHECK(harbor_report_mime("application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0") ==
        kHarborAdapterReportMime);
  CHECK(harbor_report_mime("application/vnd.scanner.adapter.vuln.report.raw") == kRawReportMime);
  CHECK(harbor_report_mime("application/vnd.layerleak.report.v1+json") == kLayerleakReportMime);
  // The first supported one wins; q=0 means "not this one".
  CHECK(harbor_report_mime("application/vnd.security.sbom.report+json; version=1.0, "
                           "application/vnd.scanner.adapter.vuln.report.raw") == kRawReportMime);
  CHECK(harbor_report_mime("application/vnd.scanner.adapter.vuln.report.raw;q=0, */*") == kHarborAdapterReportMime);
  // Not produced: an SBOM, another version of a known type, anything else.
  CHECK_FALSE(harbor_report_mime("application/vnd.security.sbom.report+json; version=1.0"));
  CHECK_FALSE(harbor_report_mime("application/vnd.security.vulnerability.report; version=1.0"));
  CHECK_FALSE(harbor_report_mime("text/html"));
  CHECK_FALSE(harbor_report_mime("application/vnd.scanner.adapter.vuln.report.raw;q=0"));
}

TEST_CASE("Harbor: enabled_capabilities asks only for what layerleak produces", "[serve][harbor]") {
  json body = scan_request();
  REQUIRE(parse_harbor_scan_request(body.dump()));  // absent: everything the scanner can do
  body["enabled_capabilities"] = json::array({{{"type", "vulnerability"}}});
  CHECK(parse_harbor_scan_request(body.dump()));
  body["enabled_capabilities"] = json::array(
      {{{"type", "vulnerability"},
        {"produces_mime_types", {std::string(kHarborReportMime), std::string(kRawReportMime)}},
        {"parameters", nullptr}}});
  CHECK(parse_harbor_scan_request(body.dump()));

  auto code_of = [&](const json& capabilities) {
    json b = scan_request();
    b["enabled_capabilities"] = capabilities;
    auto r = parse_harbor_scan_request(b.dump());
    REQUIRE_FALSE(r);
    return r.error().code;
  };
  CHECK(code_of(json::array({{{"type", "sbom"}, {"produces_mime_types", {"application/vnd.security.sbom.report+json; version=1.0"}}}})) ==
        Errc::unsupported);
  CHECK(code_of(json::array({{{"type", "vulnerability"}}, {{"type", "sbom"}}})) == Errc::unsupported);
  CHECK(code_of(json::array({{{"type", "vulnerability"}, {"produces_mime_types", {"application/spdx+json"}}}})) ==
        Errc::unsupported);
  CHECK(code_of(json::array({{{"type", "vulnerability"}, {"produces_mime_types", {"*/*"}}}})) == Errc::unsupported);
  // Wrong JSON types are a bad request (400), not a missing capability.
  CHECK(code_of(json("vulnerability")) == Errc::malformed);
  CHECK(code_of(json::array({{{"type", 1}}})) == Errc::malformed);
  CHECK(code_of(json::array({{{"type", "vulnerability"}, {"produces_mime_types", "x"}}})) == Errc::malformed);
}

TEST_CASE("Harbor: metadata names the scanner, its capability and its properties", "[serve][harbor]") {
  const json meta = json::parse(harbor_metadata("0.1.0", "sha256:rules"));
  CHECK(meta["scanner"] == json({{"name", "layerleak"}, {"vendor", "layerleak"}, {"version", "0.1.0"}}));
  REQUIRE(meta["capabilities"].size() == 1);
  const json& capability = meta["capabilities"][0];
  CHECK(capability["type"] == "vulnerability");
  CHECK(capability["consumes_mime_types"] == json({"application/vnd.oci.image.manifest.v1+json",
                                                   "application/vnd.docker.distribution.manifest.v2+json"}));
  CHECK(capability["produces_mime_types"] ==
        json({std::string(kHarborAdapterReportMime), std::string(kHarborReportMime), std::string(kRawReportMime)}));
  // Every produced type is one the report endpoint serves.
  for (const auto& mime : capability["produces_mime_types"]) CHECK(harbor_report_mime(mime.get<std::string>()));
  const json& properties = meta["properties"];
  CHECK(properties["harbor.scanner-adapter/scanner-type"] == "secret-scanner");
  CHECK(properties["layerleak/rules-digest"] == "sha256:rules");
  CHECK(properties["layerleak/version"] == "0.1.0");
  CHECK_FALSE(properties.contains("harbor.scanner-adapter/vulnerability-database-updated-at"));
  for (const auto& [key, value] : properties.items()) CHECK(value.is_string());  // spec: a map of strings
  CHECK(kHarborErrorMime == "application/vnd.scanner.adapter.error+json; version=1.0");
}
