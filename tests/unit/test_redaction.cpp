// Redaction everywhere (issue 13): without show_secrets, no byte of any report format carries a full
// secret, wherever in the report it hides: build steps, labels, annotations, paths, aliases, fields,
// reasons, messages, tags, the reference. The secrets a report knows (its findings') are masked by
// report::redact_report; secrets that never became findings (a directory named after a key) by the
// detector-backed hook, pipeline::text_redactor.
#include <catch2/catch.hpp>
#include <atomic>
#include <sstream>
#include <thread>

#include "test_support.h"
#include "layerleak/detect.h"
#include "layerleak/pipeline.h"
#include "layerleak/report.h"

using namespace layerleak;
using report::Finding;
using report::Format;
using report::ReportOptions;
using report::ScanReport;

namespace {

// Fake credentials, each in its own role.
const std::string kKey = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c";         // an active finding's secret
const std::string kAccess = "SCW0RE86AB2CD4EF6GH8";                     // its paired access key
const std::string kSuppressedKey = "9a8b7c6d-1e2f-4a3b-8c5d-6e7f8a9b0c1d";  // a suppressed finding's secret
const std::string kPathKey = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5";     // never a finding: only in a path
const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

const std::vector<std::pair<Format, const char*>> kFormats = {
    {Format::text, "text"}, {Format::json, "json"}, {Format::sarif, "sarif"}, {Format::gitlab, "gitlab"}};

std::string digest(char c) { return "sha256:" + std::string(64, c); }

// One image with the known key in every free-text field a report has.
ScanReport leaky_report() {
  const std::string step = "RUN |1 SCW_SECRET_KEY=" + kKey + " /bin/sh -c make";
  ScanReport r;
  r.tool_version = "0.1.0";
  r.rules_digest = digest('d');
  report::ImageReport image;
  image.reference = "oci-archive:/tmp/" + kKey + ".tar:example/app:" + kKey.substr(0, 8);
  image.transport = "oci-archive";
  image.manifest_digest = digest('a');
  image.config_digest = digest('c');
  image.platform = "linux/amd64";
  image.tags = {"example/app:" + kKey};
  image.labels = {{"SCW_SECRET_KEY_" + kKey, "v"}, {"build.secret", "SCW_SECRET_KEY=" + kKey},
                  {"org.opencontainers.image.revision", kCommit}};
  image.annotations = {{"org.example.key", kKey}, {"note " + kAccess, "x"}};
  report::LayerSummary layer;
  layer.index = 0;
  layer.digest = digest('1');
  layer.diff_id = digest('2');
  layer.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  layer.compression = "gzip";
  layer.created_by = step;
  layer.complete = true;
  image.layers = {layer};

  Finding f;
  f.rule_id = "scaleway.secret-key";
  f.title = "Scaleway API secret key";
  f.secret = kKey;
  f.paired_access_key = kAccess;
  f.fingerprint = report::fingerprint(f.rule_id, f.secret);
  f.location.kind = "layer";
  f.location.layer_index = 0;
  f.location.layer_digest = layer.digest;
  f.location.diff_id = layer.diff_id;
  f.location.created_by = step;
  f.location.path = "/srv/SCW_SECRET_KEY=" + kKey + "/app.env";
  f.location.line = 1;
  f.aliases = {"/srv/" + kKey + "/link.env"};
  Finding env = f;
  env.location = {};
  env.location.kind = "config";
  env.location.field = "config.Env[SCW_SECRET_KEY=" + kKey + "]";
  env.visibility = "config";
  image.findings = {f, env};

  Finding suppressed = f;
  suppressed.secret = kSuppressedKey;
  suppressed.paired_access_key.clear();
  suppressed.fingerprint = report::fingerprint(suppressed.rule_id, suppressed.secret);
  suppressed.suppressed_by = "ignore: key " + kKey + " is revoked";
  image.suppressed = {suppressed};

  image.skipped = {{"/srv/" + kKey + "/big.bin", 0, "larger than the limit; named " + kKey}};
  image.errors = {{"io", "cannot read /srv/" + kSuppressedKey + "/x and /srv/SCW_SECRET_KEY=" + kPathKey + "/x.txt", 0}};
  image.complete = false;
  r.images = {image};
  return r;
}

std::string render(const ScanReport& r, Format format, ReportOptions options) {
  options.commit_sha = kCommit;
  std::ostringstream out;
  auto status = report::write_report(r, format, options, out);
  INFO((status ? std::string() : status.error().message));
  REQUIRE(status);
  return out.str();
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("no format carries a known secret anywhere unless show_secrets", "[redaction][report]") {
  const ScanReport r = leaky_report();
  ReportOptions hidden;
  hidden.redact_text = pipeline::text_redactor(layerleak::testing::builtin_detector());
  ReportOptions shown;
  shown.show_secrets = true;
  for (const auto& [format, name] : kFormats) {
    INFO(name);
    const std::string text = render(r, format, hidden);
    CHECK_FALSE(contains(text, kKey));
    CHECK_FALSE(contains(text, kAccess));
    CHECK_FALSE(contains(text, kSuppressedKey));
    CHECK_FALSE(contains(text, kPathKey));
    CHECK(contains(text, report::redact(kKey)));  // masked, not dropped

    const std::string full = render(r, format, shown);
    CHECK(contains(full, kKey));
    CHECK(contains(full, kAccess));
  }
}

TEST_CASE("redact_report masks every field and keeps the findings' own secrets", "[redaction][report]") {
  const ScanReport r = leaky_report();
  const ScanReport out = report::redact_report(r, ReportOptions{});
  const report::ImageReport& image = out.images.at(0);
  const std::string masked = report::redact(kKey);
  CHECK(image.reference == "oci-archive:/tmp/" + masked + ".tar:example/app:6f2c1b7e");
  CHECK(image.tags.at(0) == "example/app:" + masked);
  CHECK(image.labels.count("SCW_SECRET_KEY_" + masked) == 1);
  CHECK(image.labels.at("build.secret") == "SCW_SECRET_KEY=" + masked);
  CHECK(image.labels.at("org.opencontainers.image.revision") == kCommit);
  CHECK(image.annotations.at("org.example.key") == masked);
  CHECK(image.annotations.count("note " + report::redact(kAccess)) == 1);
  CHECK(image.layers.at(0).created_by == "RUN |1 SCW_SECRET_KEY=" + masked + " /bin/sh -c make");
  const Finding& f = image.findings.at(0);
  CHECK(f.secret == kKey);                // reporters mask these, or print them with --show-secrets
  CHECK(f.paired_access_key == kAccess);
  CHECK(f.fingerprint == r.images[0].findings[0].fingerprint);
  CHECK(f.location.created_by == image.layers.at(0).created_by);
  CHECK(f.location.path == "/srv/SCW_SECRET_KEY=" + masked + "/app.env");
  CHECK(f.aliases.at(0) == "/srv/" + masked + "/link.env");
  CHECK(image.findings.at(1).location.field == "config.Env[SCW_SECRET_KEY=" + masked + "]");
  CHECK(image.suppressed.at(0).secret == kSuppressedKey);
  CHECK(image.suppressed.at(0).suppressed_by == "ignore: key " + masked + " is revoked");
  CHECK(image.skipped.at(0).path == "/srv/" + masked + "/big.bin");
  CHECK(image.skipped.at(0).reason == "larger than the limit; named " + masked);
  // A suppressed finding's secret is known too; a key that never became a finding needs the hook.
  CHECK(image.errors.at(0).message == "cannot read /srv/" + report::redact(kSuppressedKey) +
                                          "/x and /srv/SCW_SECRET_KEY=" + kPathKey + "/x.txt");

  ReportOptions hooked;
  hooked.redact_text = pipeline::text_redactor(layerleak::testing::builtin_detector());
  const ScanReport both = report::redact_report(r, hooked);
  CHECK(both.images.at(0).errors.at(0).message == "cannot read /srv/" + report::redact(kSuppressedKey) +
                                                      "/x and /srv/SCW_SECRET_KEY=" + report::redact(kPathKey) +
                                                      "/x.txt");
}

TEST_CASE("a secret inside a longer one is masked whole; short values are left to redact()", "[redaction]") {
  const std::string inner = "abcdefghijkl";            // 12 characters: masked entirely
  const std::string outer = "XX" + inner + "YYYYYYYY";  // contains it
  const rules::SecretMasker masker({inner, outer, inner, ""});
  CHECK(masker.mask("a " + outer + " b " + inner + inner) == "a XXab****YYYY b ************************");
  CHECK(masker.mask(inner) == "************");
  const rules::SecretMasker same_start({inner, inner + "mnopqrst"});  // both start "abcdefgh": longest wins
  CHECK(same_start.mask("<" + inner + "mnopqrst>") == "<abcd****qrst>");
  CHECK(masker.mask("nothing here") == "nothing here");
  CHECK(masker.mask("") == "");
  CHECK(rules::SecretMasker({}).empty());
  CHECK(rules::redact_secret(kKey) == "6f2c****6b7c");
  CHECK(report::redact(kKey) == rules::redact_secret(kKey));
  CHECK(rules::redact_secret("6f2c****6b7c") == "6f2c****6b7c");  // idempotent: stored reports are rewritten
  CHECK(rules::redact_secret("abcdefgh") == "********");

  ScanReport r;
  report::ImageReport image;
  Finding f;
  f.secret = "short1";  // under 8 characters: never searched for in free text
  image.findings = {f};
  image.reference = "dir:/short1";
  r.images = {image};
  CHECK(report::redact_report(r, ReportOptions{}).images.at(0).reference == "dir:/short1");
}

TEST_CASE("detect::redact_text masks what the detector finds, literally present, and nothing else", "[redaction][detect]") {
  auto session = detect::DetectorSession::create(layerleak::testing::builtin_detector());
  REQUIRE(session);
  auto masked = detect::redact_text(**session, "RUN |1 SCW_SECRET_KEY=" + kKey + " /bin/sh -c make");
  REQUIRE(masked);
  CHECK(*masked == "RUN |1 SCW_SECRET_KEY=" + report::redact(kKey) + " /bin/sh -c make");

  auto path = detect::redact_text(**session, "/srv/SCW_SECRET_KEY=" + kPathKey + "/x.txt");
  REQUIRE(path);
  CHECK(*path == "/srv/SCW_SECRET_KEY=" + report::redact(kPathKey) + "/x.txt");

  // No context, no detection: a bare UUID in a path is not a key to the detector, and stays.
  auto bare = detect::redact_text(**session, "/srv/" + kPathKey + "/x.txt");
  REQUIRE(bare);
  CHECK(*bare == "/srv/" + kPathKey + "/x.txt");

  // Found through base64 (a Kubernetes Secret's data): the decoded key is not in the text, which stays
  // as it is (a documented limit: the encoded form is not masked).
  const std::string encoded = "SCW_SECRET_KEY: NmYyYzFiN2UtM2Q0YS00YzViLTllOGYtMGExYjJjM2Q2Yjdj";
  auto found = (*session)->scan("<text>", encoded);
  REQUIRE(found);
  REQUIRE(found->size() == 1);
  CHECK(found->at(0).secret == kKey);
  auto base64 = detect::redact_text(**session, encoded);
  REQUIRE(base64);
  CHECK(*base64 == encoded);

  auto plain = detect::redact_text(**session, "COPY app /app");
  REQUIRE(plain);
  CHECK(*plain == "COPY app /app");
}

TEST_CASE("text_redactor is safe to call from several threads", "[redaction][pipeline]") {
  auto redact = pipeline::text_redactor(layerleak::testing::builtin_detector());
  const std::string input = "SCW_SECRET_KEY=" + kKey;
  const std::string expected = "SCW_SECRET_KEY=" + report::redact(kKey);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (redact(input) != expected) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(wrong == 0);
}
