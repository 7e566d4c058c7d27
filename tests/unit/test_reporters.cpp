// Reporter tests: a fixed ScanReport rendered in every format and compared byte for byte with the golden
// files in tests/data/golden/, plus the properties every format must keep (redaction, determinism, the
// SARIF and GitLab shapes that code scanning and GitLab rely on).
//
// To accept an intended change of the output: LAYERLEAK_UPDATE_GOLDEN=1 build/dev/tests/layerleak_unit_tests
// "[golden]" rewrites the golden files (the tests still pass), then review the diff.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "layerleak/report.h"

using namespace layerleak;
using report::Finding;
using report::Format;
using report::ImageReport;
using report::LayerSummary;
using report::ReportOptions;
using report::ScanReport;

namespace {

// Fake credentials (the same shapes as tests/cli/helpers.py); none of them must appear in a default report.
const std::string kAccess = "SCW0RE86AB2CD4EF6GH8";
const std::string kSecret = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c";
const std::string kSecret2 = "9a8b7c6d-1e2f-4a3b-8c5d-6e7f8a9b0c1d";
const std::string kSecret3 = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5";
const std::string kSecret4 = "7d6c5b4a-3f2e-4d1c-9b0a-8f7e6d5c4b3a";
const std::string kCockpit = "Xy7_Kq2-Lm9Np4Rs8Tv1Wz6Ab3Cd5Ef0Gh2Ij4Kl6Mn8Op0Qr2St4Uv6Wx8Yz0Ab";
const std::vector<std::string> kAllSecrets = {kAccess, kSecret, kSecret2, kSecret3, kSecret4, kCockpit};
const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

const std::string kSecretRemediation =
    "Revoke the API key in the Scaleway console (IAM > API keys), create a new one, and pass it to the "
    "container at run time from a secret manager instead of baking it into the image.";
const std::string kAccessRemediation =
    "Check whether the matching secret key is also in the image; if so revoke the API key in the Scaleway "
    "console and rotate it. Pass credentials at run time instead of baking them into the image.";
const std::string kCockpitRemediation =
    "Delete the token in the Cockpit console and create a new one; inject it at run time.";

std::string digest(char c) { return "sha256:" + std::string(64, c); }

LayerSummary layer(std::size_t index, char d, char diff, const std::string& created_by, bool complete = true) {
  LayerSummary l;
  l.index = index;
  l.digest = digest(d);
  l.diff_id = digest(diff);
  l.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  l.compression = complete ? "gzip" : "";
  l.created_by = created_by;
  l.history_index = index + 1;
  l.compressed_size = complete ? 1000 + static_cast<std::int64_t>(index) : 0;
  l.entries = complete ? 3 : 0;
  l.bytes_scanned = complete ? 4096 : 0;
  l.complete = complete;
  return l;
}

Finding layer_finding(const LayerSummary& l, const std::string& rule_id, const std::string& title,
                      rules::Severity severity, rules::Confidence confidence, const std::string& secret,
                      const std::string& path, std::uint64_t line, std::uint64_t column, std::uint64_t offset) {
  Finding f;
  f.rule_id = rule_id;
  f.title = title;
  f.severity = severity;
  f.confidence = confidence;
  f.secret = secret;
  f.fingerprint = report::fingerprint(rule_id, secret);
  f.location.kind = "layer";
  f.location.layer_index = l.index;
  f.location.layer_digest = l.digest;
  f.location.diff_id = l.diff_id;
  f.location.created_by = l.created_by;
  f.location.path = path;
  f.location.line = line;
  f.location.column = column;
  f.location.offset = offset;
  return f;
}

// Two images: one with findings in layers (deleted, overwritten, runtime; one suppressed), one with a
// finding in its configuration whose scan is incomplete. Every value is fixed, duration_ms included.
ScanReport fixture_report() {
  ScanReport r;
  r.tool_version = "0.1.0";
  r.rules_digest = digest('d');

  ImageReport app;
  app.reference = "oci-archive:app.tar:example/app:latest";
  app.transport = "oci-archive";
  app.manifest_digest = digest('a');
  app.config_digest = digest('c');
  app.platform = "linux/amd64";
  app.tags = {"example/app:latest"};
  app.layers = {layer(0, '1', '4', "COPY app /app"),
                layer(1, '2', '5', "RUN rm /app/.env && echo 'SCW_SECRET_KEY=' > /app/keep.env"),
                layer(2, '3', '6', "COPY srv /srv")};

  Finding access = layer_finding(app.layers[0], "scaleway.access-key", "Scaleway API access key",
                                 rules::Severity::low, rules::Confidence::high, kAccess, "/app/.env", 2, 16, 38);
  access.remediation = kAccessRemediation;
  access.visibility = "deleted";
  access.hidden_by_layer = 1;
  Finding secret = layer_finding(app.layers[0], "scaleway.secret-key", "Scaleway API secret key",
                                 rules::Severity::critical, rules::Confidence::high, kSecret, "/app/.env", 3, 16, 74);
  secret.remediation = kSecretRemediation;
  secret.paired_access_key = kAccess;
  secret.visibility = "deleted";
  secret.hidden_by_layer = 1;
  Finding keep = layer_finding(app.layers[0], "scaleway.secret-key", "Scaleway API secret key",
                               rules::Severity::critical, rules::Confidence::medium, kSecret2, "/app/keep.env", 1,
                               16, 15);
  keep.remediation = kSecretRemediation;
  keep.visibility = "overwritten";
  keep.hidden_by_layer = 1;
  Finding cockpit = layer_finding(app.layers[2], "scaleway.cockpit-token", "Scaleway Cockpit token",
                                  rules::Severity::high, rules::Confidence::medium, kCockpit,
                                  "/srv/my app/settings [prod].env", 4, 9, 120);
  cockpit.remediation = kCockpitRemediation;
  cockpit.aliases = {"/srv/current.env"};
  app.findings = {access, secret, keep, cockpit};

  Finding fixture = layer_finding(app.layers[2], "scaleway.secret-key", "Scaleway API secret key",
                                  rules::Severity::medium, rules::Confidence::low, kSecret3,
                                  "/srv/tests/fixture.env", 1, 16, 15);
  fixture.remediation = kSecretRemediation;
  fixture.suppressed_by = "ignore: test fixture, not a real key";
  app.suppressed = {fixture};

  app.entries = 9;
  app.bytes_scanned = 3 * 4096;
  app.duration_ms = 1234;
  app.skipped = {{"/srv/blob.bin", 2, "larger than --max-file-size (1048576 bytes)"}};
  app.complete = true;

  ImageReport base;
  base.reference = "docker-archive:base.tar";
  base.transport = "docker-archive";
  base.manifest_digest = digest('b');
  base.config_digest = digest('e');
  base.platform = "linux/arm64";
  base.tags = {"example/base:1.0"};
  base.labels = {{"org.opencontainers.image.revision", kCommit}};
  base.layers = {layer(0, '7', '8', "ADD rootfs.tar /"), layer(1, '9', '0', "RUN apk add curl", false)};
  Finding env;
  env.rule_id = "scaleway.secret-key";
  env.title = "Scaleway API secret key";
  env.remediation = kSecretRemediation;
  env.severity = rules::Severity::critical;
  env.confidence = rules::Confidence::high;
  env.secret = kSecret4;
  env.fingerprint = report::fingerprint(env.rule_id, env.secret);
  env.location.kind = "config";
  env.location.field = "config.Env[1]";
  env.location.line = 1;
  env.location.column = 16;
  env.location.offset = 15;
  env.visibility = "config";
  base.findings = {env};
  base.entries = 3;
  base.bytes_scanned = 4096;
  base.duration_ms = 250;
  base.errors = {{"digest_mismatch",
                  "docker-archive:base.tar: layer 1 (" + digest('9') + "): content does not match its digest", 1}};
  base.complete = false;

  r.images = {app, base};
  return r;
}

std::string render(const ScanReport& r, Format format, ReportOptions options = {}) {
  if (format == Format::gitlab && options.commit_sha.empty()) options.commit_sha = kCommit;
  std::ostringstream out;
  auto status = report::write_report(r, format, options, out);
  INFO((status ? std::string() : status.error().message));
  REQUIRE(status);
  return out.str();
}

std::filesystem::path golden_path(const std::string& name) {
  return std::filesystem::path(LAYERLEAK_TEST_DATA_DIR) / "golden" / name;
}

void check_golden(const std::string& name, const std::string& actual) {
  const auto path = golden_path(name);
  const char* update = std::getenv("LAYERLEAK_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << actual;
    REQUIRE(out.good());
    WARN("rewrote " << path.string());
    return;
  }
  std::ifstream in(path, std::ios::binary);
  INFO("golden file " << path.string() << " (LAYERLEAK_UPDATE_GOLDEN=1 rewrites it)");
  REQUIRE(in.good());
  std::stringstream expected;
  expected << in.rdbuf();
  CHECK(actual == expected.str());
}

nlohmann::json parse(const std::string& text) { return nlohmann::json::parse(text); }

const std::vector<std::pair<Format, const char*>> kFormats = {{Format::text, "text"},
                                                               {Format::json, "json"},
                                                               {Format::sarif, "sarif"},
                                                               {Format::gitlab, "gitlab"},
                                                               {Format::html, "html"}};

}  // namespace

TEST_CASE("every format matches its golden file", "[golden][report]") {
  const ScanReport r = fixture_report();
  ReportOptions options;
  options.color = false;
  check_golden("report.txt", render(r, Format::text, options));
  check_golden("report.json", render(r, Format::json, options));
  check_golden("report.sarif", render(r, Format::sarif, options));
  options.commit_sha = kCommit;
  check_golden("report.gitlab.json", render(r, Format::gitlab, options));
}

TEST_CASE("reports are deterministic: the same report renders to the same bytes", "[report]") {
  for (const auto& [format, name] : kFormats) {
    INFO(name);
    CHECK(render(fixture_report(), format) == render(fixture_report(), format));
  }
}

TEST_CASE("no format prints a full secret unless show_secrets", "[report]") {
  const ScanReport r = fixture_report();
  for (const auto& [format, name] : kFormats) {
    const std::string text = render(r, format);
    for (const std::string& secret : kAllSecrets) {
      INFO(name << ": " << report::redact(secret));
      CHECK(text.find(secret) == std::string::npos);
    }
  }
  ReportOptions show;
  show.show_secrets = true;
  for (const auto& [format, name] : kFormats) {
    INFO(name);
    const std::string text = render(r, format, show);
    CHECK(text.find(kSecret) != std::string::npos);
    CHECK(text.find(kSecret4) != std::string::npos);
    CHECK(text.find(kAccess) != std::string::npos);
  }
}

TEST_CASE("the gitlab format needs a commit", "[report][gitlab]") {
  std::ostringstream out;
  auto status = report::write_report(fixture_report(), Format::gitlab, ReportOptions{}, out);
  REQUIRE_FALSE(status);
  CHECK(status.error().code == Errc::invalid_argument);
  CHECK(status.error().message.find("CI_COMMIT_SHA") != std::string::npos);
  CHECK(status.error().message.find("org.opencontainers.image.revision") != std::string::npos);
  CHECK(out.str().empty());
}

TEST_CASE("duration_ms changes only the timing fields", "[report]") {
  ScanReport a = fixture_report();
  ScanReport b = fixture_report();
  b.images[0].duration_ms = 987654;
  // SARIF carries no timing at all.
  CHECK(render(a, Format::sarif) == render(b, Format::sarif));
  auto ga = parse(render(a, Format::gitlab));
  auto gb = parse(render(b, Format::gitlab));
  CHECK(ga["scan"]["start_time"] == "1970-01-01T00:00:00");
  CHECK(ga["scan"]["end_time"] == "1970-01-01T00:00:01");  // 1234 + 250 ms
  CHECK(gb["scan"]["end_time"] == "1970-01-01T00:16:27");  // 987654 + 250 ms
  ga["scan"].erase("end_time");
  gb["scan"].erase("end_time");
  CHECK(ga == gb);
}

TEST_CASE("gitlab: scan times are the report's wall-clock start and end, in UTC", "[report][gitlab]") {
  ScanReport r = fixture_report();
  r.started_at_ms = 1796275316'000;  // 2026-12-03T05:21:56Z
  r.finished_at_ms = 1796275316'000 + 83'999;
  const auto doc = parse(render(r, Format::gitlab));
  CHECK(doc["scan"]["start_time"] == "2026-12-03T05:21:56");
  CHECK(doc["scan"]["end_time"] == "2026-12-03T05:23:19");
  // Unknown times (a report read back from JSON) keep the deterministic epoch-based values.
  r.finished_at_ms = 0;
  CHECK(parse(render(r, Format::gitlab))["scan"]["start_time"] == "1970-01-01T00:00:00");
}

TEST_CASE("text: each remediation once per rule; summary_only prints the summary line alone", "[report][text]") {
  ScanReport r = fixture_report();
  // Ten more copies of one finding: the remediation must still appear once.
  for (int i = 0; i < 10; ++i) r.images[0].findings.push_back(r.images[0].findings[1]);
  const std::string text = render(r, Format::text);
  auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  };
  CHECK(count(kSecretRemediation) == 1);
  CHECK(count(kAccessRemediation) == 1);
  CHECK(count(kCockpitRemediation) == 1);
  CHECK(count("How to fix") == 1);
  CHECK(text.find("[scaleway.secret-key] " + kSecretRemediation) != std::string::npos);
  CHECK(text.find("How to fix") < text.find("Summary: "));

  ReportOptions quiet;
  quiet.summary_only = true;
  const std::string summary = render(r, Format::text, quiet);
  CHECK(summary.rfind("Summary: 15 findings (", 0) == 0);
  CHECK(std::count(summary.begin(), summary.end(), '\n') == 1);
  CHECK(summary.find("INCOMPLETE") != std::string::npos);
}

TEST_CASE("sarif: one run per image, rules, results, locations and suppressions", "[report][sarif]") {
  const ScanReport r = fixture_report();
  const auto doc = parse(render(r, Format::sarif));
  CHECK(doc["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json");
  CHECK(doc["version"] == "2.1.0");
  // One run per image, each with its own category: two images uploaded for one commit do not replace
  // each other's alerts.
  REQUIRE(doc["runs"].size() == 2);
  const auto& run = doc["runs"][0];
  const auto& base_run = doc["runs"][1];
  CHECK(run["automationDetails"]["id"] == "layerleak/oci-archive:app.tar:example/app:latest/");
  CHECK(base_run["automationDetails"]["id"] == "layerleak/docker-archive:base.tar/");
  CHECK(run["properties"]["image"] == "oci-archive:app.tar:example/app:latest");
  const auto& driver = run["tool"]["driver"];
  CHECK(driver["name"] == "layerleak");
  CHECK(driver["version"] == "0.1.0");
  CHECK(driver["semanticVersion"] == "0.1.0");

  // One rule per rule id that occurs in the image, sorted, each with the GitHub properties.
  const auto& rules_json = driver["rules"];
  std::vector<std::string> ids;
  for (const auto& rule : rules_json) ids.push_back(rule["id"]);
  CHECK(ids == std::vector<std::string>{"scaleway.access-key", "scaleway.cockpit-token", "scaleway.secret-key"});
  REQUIRE(base_run["tool"]["driver"]["rules"].size() == 1);
  CHECK(base_run["tool"]["driver"]["rules"][0]["id"] == "scaleway.secret-key");
  CHECK(rules_json[2]["name"] == "ScalewaySecretKey");
  CHECK(rules_json[1]["name"] == "ScalewayCockpitToken");
  CHECK(rules_json[2]["properties"]["security-severity"] == "9.5");
  CHECK(rules_json[1]["properties"]["security-severity"] == "8.0");
  CHECK(rules_json[0]["properties"]["security-severity"] == "3.0");
  CHECK(rules_json[2]["defaultConfiguration"]["level"] == "error");
  CHECK(rules_json[0]["defaultConfiguration"]["level"] == "note");
  for (const auto& rule : rules_json) {
    CHECK(rule["properties"]["tags"] == nlohmann::json({"security", "secret", "scaleway"}));
    CHECK(rule["help"]["text"].get<std::string>().find("Scaleway console") != std::string::npos);
    CHECK(rule["help"]["markdown"].get<std::string>().find("secret manager") != std::string::npos);
  }

  // Image paths are relative to IMAGEROOT, which says it is no directory of the repository.
  for (const auto& each : doc["runs"]) {
    CHECK(each["originalUriBaseIds"]["IMAGEROOT"]["description"]["text"].get<std::string>().find(
              "not a directory of the source repository") != std::string::npos);
    CHECK_FALSE(each["originalUriBaseIds"].contains("%SRCROOT%"));
    CHECK_FALSE(each["originalUriBaseIds"]["IMAGEROOT"].contains("uri"));
  }

  // The first image's active findings plus its suppressed one; the config finding is in the second run.
  const auto& results = run["results"];
  REQUIRE(results.size() == 5);
  REQUIRE(base_run["results"].size() == 1);
  for (const auto& each : doc["runs"]) {
    for (const auto& result : each["results"]) {
      const auto index = result["ruleIndex"].get<std::size_t>();
      REQUIRE(index < each["tool"]["driver"]["rules"].size());
      CHECK(each["tool"]["driver"]["rules"][index]["id"] == result["ruleId"]);
      const auto& physical = result["locations"][0]["physicalLocation"];
      const std::string uri = physical["artifactLocation"]["uri"];
      CHECK(uri.front() != '/');
      CHECK(uri.find_first_of(" []#?") == std::string::npos);
      CHECK(physical["artifactLocation"]["uriBaseId"] == "IMAGEROOT");
      CHECK(physical["region"]["startLine"].get<int>() >= 1);
      CHECK(physical["region"]["startColumn"].get<int>() >= 1);
      CHECK(result["partialFingerprints"]["layerleak/v1"].get<std::string>().rfind("sha256:", 0) == 0);
    }
  }
  CHECK(results[0]["ruleId"] == "scaleway.access-key");
  CHECK(results[0]["level"] == "note");
  CHECK(results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/.env");
  CHECK(results[0]["properties"]["visibility"] == "deleted");
  CHECK(results[0]["properties"]["hiddenByLayer"] == 1);
  CHECK(results[0]["properties"]["layerDigest"] == digest('1'));
  CHECK(results[0]["properties"]["diffId"] == digest('4'));
  CHECK(results[0]["properties"]["createdBy"] == "COPY app /app");
  CHECK(results[1]["level"] == "error");
  CHECK(results[1]["partialFingerprints"]["layerleak/v1"] == report::fingerprint("scaleway.secret-key", kSecret));
  CHECK(results[3]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] ==
        "srv/my%20app/settings%20%5Bprod%5D.env");
  CHECK(results[3]["level"] == "error");
  // The suppressed finding comes after the image's active ones.
  CHECK(results[4]["suppressions"] ==
        nlohmann::json::array({{{"kind", "external"}, {"justification", "ignore: test fixture, not a real key"}}}));
  CHECK(results[4]["level"] == "warning");
  for (std::size_t i : {0u, 1u, 2u, 3u}) CHECK_FALSE(results[i].contains("suppressions"));
  // The config finding: a stable pseudo path, encoded.
  const auto& config = base_run["results"][0];
  CHECK_FALSE(config.contains("suppressions"));
  CHECK(config["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "image-config/config.Env%5B1%5D");
  CHECK(config["properties"]["visibility"] == "config");
  CHECK(config["properties"]["image"] == "docker-archive:base.tar");

  // The second image is incomplete: its run did not succeed, and says why; the first one did.
  CHECK(run["invocations"][0]["executionSuccessful"] == true);
  CHECK(run["invocations"][0]["toolExecutionNotifications"].size() == 1);
  CHECK(run["invocations"][0]["toolExecutionNotifications"][0]["level"] == "warning");  // the skipped file
  const auto& invocation = base_run["invocations"][0];
  CHECK(invocation["executionSuccessful"] == false);
  const auto& notes = invocation["toolExecutionNotifications"];
  REQUIRE(notes.size() == 1);
  CHECK(notes[0]["level"] == "error");
  CHECK(notes[0]["message"]["text"].get<std::string>().find("does not match its digest") != std::string::npos);
  CHECK(notes[0]["properties"]["layerIndex"] == 1);
}

TEST_CASE("sarif: the same reference twice still gets distinct automation ids", "[report][sarif]") {
  ScanReport r = fixture_report();
  r.images.push_back(r.images[0]);
  r.images.back().manifest_digest = digest('f');
  r.images.push_back(r.images[0]);
  const auto doc = parse(render(r, Format::sarif));
  REQUIRE(doc["runs"].size() == 4);
  std::set<std::string> ids;
  for (const auto& run : doc["runs"]) ids.insert(run["automationDetails"]["id"].get<std::string>());
  CHECK(ids.size() == 4);
  for (const std::string& id : ids) CHECK(id.back() == '/');
}

TEST_CASE("sarif --sarif-path-map: mapped paths relative to %SRCROOT%, longest prefix wins", "[report][sarif]") {
  ReportOptions options;
  for (const char* entry : {"/app=services/app", "/srv=deploy/", "/srv/my app=./config/prod"}) {
    auto mapping = report::parse_path_mapping(entry);
    REQUIRE(mapping);
    options.sarif_path_map.push_back(*mapping);
  }
  CHECK(options.sarif_path_map[1].repo_prefix == "deploy");
  const auto doc = parse(render(fixture_report(), Format::sarif, options));
  const auto& results = doc["runs"][0]["results"];
  auto location = [&](std::size_t i) { return results[i]["locations"][0]["physicalLocation"]["artifactLocation"]; };
  CHECK(location(0)["uri"] == "services/app/.env");
  CHECK(location(0)["uriBaseId"] == "%SRCROOT%");
  CHECK(location(2)["uri"] == "services/app/keep.env");
  CHECK(location(3)["uri"] == "config/prod/settings%20%5Bprod%5D.env");  // the longer prefix won
  CHECK(location(4)["uri"] == "deploy/tests/fixture.env");
  CHECK(doc["runs"][0]["originalUriBaseIds"].contains("%SRCROOT%"));
  // Image metadata is never mapped.
  const auto config = doc["runs"][1]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
  CHECK(config["uriBaseId"] == "IMAGEROOT");
  // A prefix matches whole path components only.
  ReportOptions partial;
  partial.sarif_path_map = {*report::parse_path_mapping("/ap=x")};
  const auto other = parse(render(fixture_report(), Format::sarif, partial));
  CHECK(other["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] ==
        "IMAGEROOT");

  for (const char* bad : {"app=src", "/app", "/app=/abs", "/app=../up", "/app=a/../b", "/app=https://x/y", "/app=a//b"}) {
    INFO(bad);
    CHECK_FALSE(report::parse_path_mapping(bad));
  }
  auto root = report::parse_path_mapping("/=.");
  REQUIRE(root);
  CHECK(root->image_prefix == "/");
  CHECK(root->repo_prefix.empty());
}

TEST_CASE("sarif of a clean report has no results and no rules", "[report][sarif]") {
  ScanReport r;
  r.tool_version = "0.1.0";
  ImageReport clean;
  clean.reference = "oci:clean";
  r.images = {clean};
  const auto doc = parse(render(r, Format::sarif));
  CHECK(doc["runs"][0]["results"].empty());
  CHECK(doc["runs"][0]["tool"]["driver"]["rules"].empty());
  CHECK(doc["runs"][0]["invocations"][0]["executionSuccessful"] == true);
}

TEST_CASE("gitlab: active findings only, with the schema's required fields", "[report][gitlab]") {
  const auto doc = parse(render(fixture_report(), Format::gitlab));
  CHECK(doc["version"] == "15.1.4");
  const auto& scan = doc["scan"];
  CHECK(scan["type"] == "secret_detection");
  CHECK(scan["status"] == "failure");  // the second image is incomplete
  CHECK(scan["analyzer"]["id"] == "layerleak");
  CHECK(scan["analyzer"]["vendor"]["name"] == "layerleak");
  CHECK(scan["scanner"] == scan["analyzer"]);
  const auto& vulns = doc["vulnerabilities"];
  REQUIRE(vulns.size() == 5);  // 4 + 1 active; the suppressed one is left out
  std::set<std::string> severities;
  for (const auto& v : vulns) {
    CHECK(v["category"] == "secret_detection");
    CHECK(v["scanner"] == nlohmann::json({{"id", "layerleak"}, {"name", "layerleak"}}));
    CHECK(v["location"]["commit"]["sha"] == kCommit);
    CHECK(v["location"]["start_line"].get<int>() >= 1);
    CHECK(v["location"]["file"].get<std::string>().front() != '/');
    CHECK(v["identifiers"][0]["type"] == "layerleak_rule_id");
    CHECK_FALSE(v.contains("raw_source_code_extract"));
    CHECK(v["id"].get<std::string>().size() == 64);
    severities.insert(v["severity"]);
  }
  CHECK(severities == std::set<std::string>{"Low", "Critical", "High"});
  std::set<std::string> ids;
  for (const auto& v : vulns) ids.insert(v["id"].get<std::string>());
  CHECK(ids.size() == vulns.size());  // unique even when one secret sits in several places
  CHECK(vulns[0]["confidence"] == "High");
  CHECK(vulns[0]["identifiers"][0]["value"] == "scaleway.access-key");
  CHECK(vulns[0]["identifiers"][0]["name"] == "Scaleway API access key");
  CHECK(vulns[0]["location"]["file"] == "app/.env");
  CHECK(vulns[0]["description"].get<std::string>().find("COPY app /app") != std::string::npos);
  CHECK(vulns[0]["description"].get<std::string>().find("Deleted by layer 1, still in the image") != std::string::npos);
  CHECK(vulns[3]["location"]["file"] == "srv/my app/settings [prod].env");
  CHECK(vulns[4]["location"]["file"] == "image-config/config.Env[1]");
  for (const auto& v : vulns) {
    CHECK(v["description"].get<std::string>().find(kSecret3) == std::string::npos);
  }
}

TEST_CASE("text: names, steps and messages from the image cannot drive the terminal", "[report][text]") {
  ScanReport r = fixture_report();
  ImageReport& image = r.images[0];
  image.reference = "oci-archive:x.tar\x1b]0;owned\x07";
  image.findings[0].location.path = "/app/\x1b[2J\r\nlayerleak: forged line/.env";
  image.findings[0].location.created_by = "RUN echo \x1b[31mred\x9b";
  image.errors.push_back({"io", "layer 1: \x1b[1Afile\rover", std::nullopt});
  image.skipped.push_back({"/opt/\x07" "bell", 0, "too \x1b big"});
  const std::string text = render(r, Format::text);
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find('\x07') == std::string::npos);
  CHECK(text.find("\nlayerleak: forged") == std::string::npos);
  CHECK(text.find("/app/\\x1b[2J\\x0d\\x0alayerleak: forged line/.env") != std::string::npos);
}

TEST_CASE("invalid UTF-8 in names is escaped byte by byte, valid UTF-8 kept", "[report]") {
  CHECK(report::escape_invalid_utf8("/app/.env") == "/app/.env");
  CHECK(report::escape_invalid_utf8("/caf\xc3\xa9/\xe2\x82\xac") == "/caf\xc3\xa9/\xe2\x82\xac");
  CHECK(report::escape_invalid_utf8("/caf\xe9-\xff.env") == "/caf\\xe9-\\xff.env");
  CHECK(report::escape_invalid_utf8("\xc0\xaf") == "\\xc0\\xaf");          // overlong '/'
  CHECK(report::escape_invalid_utf8("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a UTF-16 surrogate
  CHECK(report::escape_invalid_utf8("\xe2\x82") == "\\xe2\\x82");          // truncated sequence
}

// ---- Reading a JSON report back ----------------------------------------------------------------------

namespace {

std::string read_golden(const std::string& name) {
  std::ifstream in(golden_path(name), std::ios::binary);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("read_json gives back what the JSON reporter wrote, byte for byte when written again", "[report][read_json]") {
  ReportOptions show;
  show.show_secrets = true;
  const std::string written = render(fixture_report(), Format::json, show);
  auto read = report::read_json(written);
  INFO((read ? std::string() : read.error().message));
  REQUIRE(read);
  CHECK(render(*read, Format::json, show) == written);

  // Spot checks that the values are typed, not just carried through.
  REQUIRE(read->images.size() == 2);
  const ImageReport& app = read->images[0];
  CHECK(app.findings.size() == 4);
  CHECK(app.findings[1].secret == kSecret);
  CHECK(app.findings[1].paired_access_key == kAccess);
  CHECK(app.findings[1].severity == rules::Severity::critical);
  CHECK(app.findings[2].confidence == rules::Confidence::medium);
  CHECK(app.findings[0].location.layer_index == std::optional<std::size_t>(0));
  CHECK(app.findings[0].hidden_by_layer == std::optional<std::size_t>(1));
  CHECK(app.findings[0].visibility == "deleted");
  CHECK(app.findings[3].aliases == std::vector<std::string>{"/srv/current.env"});
  REQUIRE(app.suppressed.size() == 1);
  CHECK(app.suppressed[0].suppressed_by == "ignore: test fixture, not a real key");
  REQUIRE(app.skipped.size() == 1);
  CHECK(app.skipped[0].layer_index == std::optional<std::size_t>(2));
  CHECK(app.duration_ms == 1234);
  const ImageReport& base = read->images[1];
  CHECK(base.findings[0].location.kind == "config");
  CHECK(base.findings[0].location.field == "config.Env[1]");
  CHECK_FALSE(base.findings[0].location.layer_index);
  REQUIRE(base.errors.size() == 1);
  CHECK(base.errors[0].layer_index == std::optional<std::size_t>(1));
  CHECK_FALSE(base.layers[1].complete);
  CHECK_FALSE(base.complete);
  CHECK_FALSE(read->complete());

  // The golden (redacted) report reads back too; its secrets stay masked.
  const std::string golden = read_golden("report.json");
  auto from_golden = report::read_json(golden);
  REQUIRE(from_golden);
  CHECK(render(*from_golden, Format::json, show) == golden);
  CHECK(from_golden->images[0].findings[1].secret == report::redact(kSecret));
}

TEST_CASE("read_json refuses fields of the wrong type, naming the field", "[report][read_json]") {
  ReportOptions show;
  show.show_secrets = true;
  const std::string written = render(fixture_report(), Format::json, show);
  struct Case {
    std::string from, to, field;
  } cases[] = {
      {"\"line\": 2,", "\"line\": \"2\",", "images[0].findings[0].location.line"},
      {"\"line\": 2,", "\"line\": -2,", "images[0].findings[0].location.line"},
      {"\"line\": 2,", "\"line\": 2.0,", "images[0].findings[0].location.line"},
      {"\"hidden_by_layer\": 1", "\"hidden_by_layer\": \"1\"", "images[0].findings[0].hidden_by_layer"},
      {"\"severity\": \"low\"", "\"severity\": \"urgent\"", "images[0].findings[0].severity"},
      {"\"complete\": false\n    }", "\"complete\": 0\n    }", "images[1].complete"},
      {"\"tags\": [\n        \"example/app:latest\"", "\"tags\": [\n        7", "images[0].tags[0]"},
      {"\"findings\": [", "\"findings\": {}, \"x\": [", "images[0].findings"},
      {"\"rule_id\": \"scaleway.access-key\",", "", "images[0].findings[0].rule_id"},
  };
  for (const Case& c : cases) {
    INFO(c.to);
    auto read = report::read_json(replace_once(written, c.from, c.to));
    REQUIRE_FALSE(read);
    CHECK(read.error().code == Errc::malformed);
    CHECK_THAT(read.error().message, Catch::Contains(c.field));
  }
  // A missing field is accepted, with its default, only when asked for.
  const std::string partial = R"({"images": [{"reference": "x", "findings": [{"fingerprint": "sha256:ab"}]}]})";
  CHECK_FALSE(report::read_json(partial));
  report::JsonReadOptions lenient;
  lenient.allow_missing_fields = true;
  auto read = report::read_json(partial, lenient);
  REQUIRE(read);
  CHECK(read->images.at(0).findings.at(0).fingerprint == "sha256:ab");
  CHECK(read->images.at(0).findings.at(0).location.kind == "layer");
  // Wrong types are refused in both modes.
  CHECK_FALSE(report::read_json(R"({"images": [{"findings": [{"fingerprint": 1}]}]})", lenient));
}

TEST_CASE("read_json is bounded and never throws on hostile text", "[report][read_json]") {
  auto deep = report::read_json(std::string(100000, '[') + std::string(100000, ']'));
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == Errc::limit);
  report::JsonReadOptions small;
  small.max_bytes = 16;
  auto big = report::read_json(R"({"images": [], "padding": "................"})", small);
  REQUIRE_FALSE(big);
  CHECK(big.error().code == Errc::limit);
  auto broken = report::read_json("{\n  \"images\": [\n    {\"findings\": [}\n  ]\n}\n");
  REQUIRE_FALSE(broken);
  CHECK(broken.error().code == Errc::malformed);
  CHECK_THAT(broken.error().message, Catch::StartsWith("line 3: invalid JSON"));
  for (const std::string text : std::vector<std::string>{"", "null", "[]", "42", "\"x\"", "{\"images\": 1}", "{\"images\": [1]}",
                                 "{\"images\": [], \"tool\": []}", "{\"images\": [], \"schema_version\": \"1\"}",
                                 "{\"images\": [\"\xff\"]}"}) {
    INFO(text);
    CHECK_FALSE(report::read_json(text));
  }
  auto future = report::read_json(R"({"schema_version": 2, "images": []})");
  REQUIRE_FALSE(future);
  CHECK(future.error().code == Errc::unsupported);
}
