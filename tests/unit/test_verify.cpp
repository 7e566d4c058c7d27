// --verify's seams without a network: the endpoint policy, the forms that may reach a URL or a header, the
// cache, how results land on a report (statuses, severities, unsupported kinds), and the remediation plan.
// The HTTP exchange itself is tested against a fake API in tests/integration/test_verify.py.
#include <catch2/catch.hpp>
#include <sstream>
#include <thread>

#include "layerleak/report.h"
#include "layerleak/verify.h"

using namespace layerleak;

namespace {

const std::string kAccess = "SCW0RE86AB2CD4EF6GH8";
const std::string kSecret = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c";
const std::string kSecret2 = "9a8b7c6d-1e2f-4a3b-8c5d-6e7f8a9b0c1d";

report::Finding finding(const std::string& rule_id, const std::string& secret, const std::string& path,
                        rules::Severity severity = rules::Severity::critical) {
  report::Finding f;
  f.rule_id = rule_id;
  f.title = rule_id;
  f.secret = secret;
  f.fingerprint = report::fingerprint(rule_id, secret);
  f.severity = severity;
  f.location.kind = "layer";
  f.location.layer_index = 0;
  f.location.layer_digest = "sha256:" + std::string(64, 'a');
  f.location.path = path;
  return f;
}

report::Verification status(const std::string& s, std::optional<int> http = std::nullopt) {
  return report::Verification{s, "2026-12-03T08:40:09Z", http, "test", std::nullopt};
}

report::ScanReport sample() {
  report::ScanReport r;
  report::ImageReport image;
  image.reference = "docker://registry.example:5000/shop/app:1.4";
  image.manifest_digest = "sha256:" + std::string(64, 'b');
  report::Finding live = finding("scaleway.secret-key", kSecret, "/app/.env");
  live.paired_access_key = kAccess;
  image.findings.push_back(live);
  image.findings.push_back(finding("scaleway.access-key", kAccess, "/app/.env", rules::Severity::low));
  image.findings.push_back(finding("scaleway.secret-key", kSecret2, "/root/.bashrc"));
  image.findings.push_back(finding("scaleway.kapsule-token", std::string(56, 'k'), "/root/.kube/config"));
  r.images.push_back(image);
  return r;
}

}  // namespace

TEST_CASE("the endpoint: https anywhere, http only to loopback, nothing that redirects the token", "[verify]") {
  for (const char* ok : {"https://api.scaleway.com", "https://api.scaleway.com/", "http://127.0.0.1:8080",
                         "http://127.9.9.9", "http://localhost:1234/base/", "http://[::1]:9000"}) {
    INFO(ok);
    CHECK(verify::check_endpoint(ok));
  }
  CHECK(*verify::check_endpoint("https://api.scaleway.com/") == "https://api.scaleway.com");
  CHECK(*verify::check_endpoint("http://localhost:1234/base/") == "http://localhost:1234/base");
  for (const char* bad : {"http://api.scaleway.com", "http://10.0.0.1", "http://192.168.1.1:80", "http://[fe80::1]",
                          "http://127.0.0.1.evil.example", "http://localhost.evil.example", "ftp://127.0.0.1",
                          "file:///etc/passwd", "https://user:pw@api.scaleway.com", "https://api.scaleway.com/?a=b",
                          "https://api.scaleway.com/#x", "https://api.scaleway.com\r\nX: y", "", "api.scaleway.com"}) {
    INFO(bad);
    auto checked = verify::check_endpoint(bad);
    REQUIRE_FALSE(checked);
    CHECK(checked.error().code == Errc::invalid_argument);
    CHECK(checked.error().message.find("--verify-endpoint") == 0);
  }
}

TEST_CASE("only an access key's and a secret key's exact forms reach a URL or a header", "[verify]") {
  CHECK(verify::is_access_key_form(kAccess));
  CHECK_FALSE(verify::is_access_key_form("SCW0RE86AB2CD4EF6GH"));
  CHECK_FALSE(verify::is_access_key_form("SCW0RE86AB2CD4EF6\r\nX"));
  CHECK_FALSE(verify::is_access_key_form("SCW0RE86AB2CD4EF6GH/"));
  CHECK_FALSE(verify::is_access_key_form("scw0re86ab2cd4ef6gh8"));
  CHECK(verify::is_secret_key_form(kSecret));
  CHECK(verify::is_secret_key_form("6F2C1B7E-3D4A-4C5B-9E8F-0A1B2C3D6B7C"));
  CHECK_FALSE(verify::is_secret_key_form("6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7\n"));
  CHECK_FALSE(verify::is_secret_key_form("6f2c1b7e3d4a4c5b9e8f0a1b2c3d6b7c"));
}

TEST_CASE("verify_secrets sends nothing for a malformed secret or a refused endpoint", "[verify]") {
  verify::Options options;
  options.endpoint = "http://127.0.0.1:1";  // nothing listens: any request would be 'cannot connect'
  auto results = verify::verify_secrets({{"fp1", "not-a-uuid\r\nX-Evil: 1", kAccess}}, options);
  REQUIRE(results.size() == 1);
  CHECK(results["fp1"].status == "unknown");
  CHECK(results["fp1"].reason.find("not sent") != std::string::npos);
  CHECK(results["fp1"].reason.find("X-Evil") == std::string::npos);

  options.endpoint = "http://10.0.0.1";
  results = verify::verify_secrets({{"fp2", kSecret, kAccess}}, options);
  CHECK(results["fp2"].status == "unknown");
  CHECK(results["fp2"].reason.find("endpoint refused") == 0);
  CHECK(results["fp2"].reason.find(kSecret) == std::string::npos);
}

TEST_CASE("a closed port is unknown, quickly, and the message never holds the secret", "[verify]") {
  verify::Options options;
  options.endpoint = "http://127.0.0.1:1";
  options.budget = std::chrono::seconds(5);
  auto results = verify::verify_secrets({{"fp", kSecret, kAccess}, {"fp", kSecret, kAccess}}, options);
  REQUIRE(results.size() == 1);
  CHECK(results["fp"].status == "unknown");
  CHECK_FALSE(results["fp"].http_status);
  CHECK(results["fp"].reason.find(kSecret) == std::string::npos);
  CHECK(results["fp"].reason.find(kAccess) == std::string::npos);
}

TEST_CASE("the cancel flag ends verification with unknown results", "[verify]") {
  std::atomic<bool> cancel{true};
  verify::Options options;
  options.endpoint = "http://127.0.0.1:1";
  options.cancel = &cancel;
  auto results = verify::verify_secrets({{"a", kSecret, ""}, {"b", kSecret2, ""}}, options);
  CHECK(results["a"].status == "unknown");
  CHECK(results["b"].reason.find("cancelled") != std::string::npos);
}

TEST_CASE("MemoryVerificationCache keeps results for the TTL and never keeps unknown", "[verify]") {
  verify::MemoryVerificationCache cache(std::chrono::seconds(60));
  cache.put("fp", status("live", 200));
  cache.put("fp-unknown", status("unknown"));
  REQUIRE(cache.get("fp"));
  CHECK(cache.get("fp")->status == "live");
  CHECK_FALSE(cache.get("fp-unknown"));
  verify::MemoryVerificationCache expired(std::chrono::seconds(0));
  expired.put("fp", status("invalid", 401));
  CHECK_FALSE(expired.get("fp"));
}

TEST_CASE("verify_report: cached results land on findings, invalid lowers, other kinds are unsupported", "[verify]") {
  report::ScanReport r = sample();
  report::Finding suppressed = finding("scaleway.secret-key", kSecret2, "/old/.env");
  suppressed.suppressed_by = "baseline";
  r.images[0].suppressed.push_back(suppressed);
  verify::MemoryVerificationCache cache(std::chrono::seconds(60));
  cache.put(report::fingerprint("scaleway.secret-key", kSecret), status("live", 403));
  cache.put(report::fingerprint("scaleway.secret-key", kSecret2), status("invalid", 401));
  verify::Options options;
  options.endpoint = "http://127.0.0.1:1";
  const auto stats = verify::verify_report(r, options, &cache);
  CHECK(stats.requests_sent == 0);
  CHECK(stats.from_cache == 2);
  const auto& f = r.images[0].findings;
  REQUIRE(f[0].verification);
  CHECK(f[0].verification->status == "live");
  CHECK(f[0].severity == rules::Severity::critical);  // never raised, never lowered when live
  REQUIRE(f[1].verification);
  CHECK(f[1].verification->status == "live");  // the access key takes its secret key's result
  CHECK(f[2].verification->status == "invalid");
  CHECK(f[2].severity == rules::Severity::low);
  CHECK(f[3].verification->status == "unsupported");
  CHECK(f[3].severity == rules::Severity::critical);
  REQUIRE(r.images[0].suppressed[0].verification);
  CHECK(r.images[0].suppressed[0].severity == rules::Severity::low);
}

TEST_CASE("verify_report: an invalid key already below low stays where it is", "[verify]") {
  report::ScanReport r;
  r.images.emplace_back();
  r.images[0].findings.push_back(finding("scaleway.secret-key", kSecret, "/x", rules::Severity::info));
  verify::MemoryVerificationCache cache(std::chrono::seconds(60));
  cache.put(r.images[0].findings[0].fingerprint, status("invalid", 401));
  verify::verify_report(r, verify::Options{}, &cache);
  CHECK(r.images[0].findings[0].severity == rules::Severity::info);
}

TEST_CASE("plan_remediation: one plan per credential, live first, the access key but never the secret", "[verify][report]") {
  report::ScanReport r = sample();
  r.images.push_back(r.images[0]);  // the same keys in a second image: still one plan each
  r.images[1].reference = "oci-archive:/tmp/it's.tar";
  for (auto& image : r.images) {
    image.findings[0].verification = status("invalid", 401);
    image.findings[2].verification = status("live", 200);
  }
  report::ReportOptions options;
  auto plans = report::plan_remediation(r, options);
  REQUIRE(plans.size() == 3);  // two secret keys and the Kapsule token; the lone access key has none
  CHECK(plans[0].verification_status == "live");
  CHECK(plans[0].access_key.empty());
  CHECK(plans.back().verification_status == "invalid");
  CHECK(plans.back().access_key == report::redact(kAccess));
  CHECK(plans.back().locations.size() == 2);
  REQUIRE(plans.back().steps.size() == 4);
  CHECK(plans.back().steps[0].id == "check_misuse");
  CHECK(plans.back().steps[3].id == "purge");
  REQUIRE(plans.back().steps[3].commands.size() == 1);  // only the registry image can be deleted by digest
  CHECK(plans.back().steps[3].commands[0] ==
        "skopeo delete docker://registry.example:5000/shop/app@sha256:" + std::string(64, 'b'));

  options.full_access_keys = true;
  plans = report::plan_remediation(r, options);
  const auto& rotate = plans.back().steps[2].commands;
  CHECK(std::find(rotate.begin(), rotate.end(), "scw iam api-key delete access-key=" + kAccess) != rotate.end());

  for (report::Format format : {report::Format::json, report::Format::text, report::Format::html}) {
    std::ostringstream out;
    REQUIRE(report::write_report(r, format, options, out));
    CHECK(out.str().find(kSecret) == std::string::npos);
    CHECK(out.str().find(kSecret2) == std::string::npos);
    CHECK(out.str().find("access-key=" + kAccess) != std::string::npos);
  }
}

TEST_CASE("reporters carry the verification: JSON object, LIVE in text, SARIF property, GitLab detail", "[verify][report]") {
  report::ScanReport r = sample();
  r.images[0].findings[0].verification = status("live", 403);
  r.images[0].findings[0].verification->api_key = report::ApiKeyInfo{kAccess, "ci", "", "app-id", "proj", "2025", ""};
  report::ReportOptions options;
  options.commit_sha = "0123456789abcdef0123456789abcdef01234567";
  std::ostringstream json, text, sarif, gitlab;
  REQUIRE(report::write_report(r, report::Format::json, options, json));
  REQUIRE(report::write_report(r, report::Format::text, options, text));
  REQUIRE(report::write_report(r, report::Format::sarif, options, sarif));
  REQUIRE(report::write_report(r, report::Format::gitlab, options, gitlab));
  CHECK(json.str().find("\"status\": \"live\"") != std::string::npos);
  CHECK(json.str().find("\"http_status\": 403") != std::string::npos);
  CHECK(json.str().find("\"remediation\": [") != std::string::npos);
  CHECK(json.str().find(kAccess) == std::string::npos);  // redacted without full_access_keys
  CHECK(text.str().find("LIVE") != std::string::npos);
  CHECK(text.str().find("1 LIVE key") != std::string::npos);
  CHECK(sarif.str().find("\"verification\": \"live\"") != std::string::npos);
  CHECK(gitlab.str().find("live (HTTP 403)") != std::string::npos);
}

TEST_CASE("a verified report read back from JSON writes the same bytes again", "[verify][report]") {
  report::ScanReport r = sample();
  r.tool_version = "0.1.0";
  r.rules_digest = "sha256:" + std::string(64, 'c');
  r.images[0].findings[0].verification = status("live", 200);
  r.images[0].findings[0].verification->api_key = report::ApiKeyInfo{kAccess, "ci \"deploy\"", "", "app", "proj", "2025-06-02T09:14:27Z", ""};
  r.images[0].findings[2].verification = report::Verification{"unsupported", "", std::nullopt, "why", std::nullopt};
  report::ReportOptions options;
  options.show_secrets = true;
  std::ostringstream first;
  REQUIRE(report::write_report(r, report::Format::json, options, first));
  auto back = report::read_json(first.str());
  REQUIRE(back);
  REQUIRE(back->images[0].findings[0].verification);
  CHECK(back->images[0].findings[0].verification->api_key->description == "ci \"deploy\"");
  std::ostringstream second;
  REQUIRE(report::write_report(*back, report::Format::json, options, second));
  CHECK(second.str() == first.str());

  std::string broken = first.str();
  broken.replace(broken.find("\"status\": \"live\""), 16, "\"status\": \"gone\"");
  auto refused = report::read_json(broken);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("verification.status") != std::string::npos);
}
