// Attacks on `layerleak audit`'s report and run (issue 16): a hostile registry's file names, platforms and
// error texts reach a terminal as escapes, never as control characters; a damaged or hostile stored result
// of a shared run is an error of the report, never a crash or a silently complete report.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "layerleak/audit.h"
#include "test_support.h"

using namespace layerleak;
namespace fx = layerleak::testing;

namespace {

bool has_control(const std::string& text, bool allow_newline) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n' && allow_newline) continue;
    if (c < 0x20 || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xa0) return true;  // C1
  }
  return false;
}

const std::string kHostile = "\x1b]0;owned\x07\x1b[2J\r\nlayerleak: forged\xc2\x9b" "31m\x7f\xff";

report::AuditReport hostile_audit() {
  report::AuditReport a;
  a.registry = "127.0.0.1:5000";
  a.scan.tool_version = "0.1.0";
  report::ImageReport image;
  image.reference = "docker://127.0.0.1:5000/app@sha256:" + std::string(64, '1');
  image.transport = "docker";
  image.manifest_digest = "sha256:" + std::string(64, '1');
  image.platform = "linux/" + kHostile;
  image.tags = {"app:" + kHostile};
  report::Finding f;
  f.rule_id = "scaleway.secret-key";
  f.title = "Scaleway API secret key";
  f.severity = rules::Severity::critical;
  f.confidence = rules::Confidence::high;
  f.secret = "6f2c1a3e-9b7d-4e5f-8a1b-2c3d4e5f6b7c";
  f.fingerprint = report::fingerprint(f.rule_id, f.secret);
  f.location.kind = "layer";
  f.location.layer_index = 0;
  f.location.path = "/app/" + kHostile + ".env";
  f.location.line = 2;
  image.findings.push_back(f);
  image.errors.push_back({"network", "registry said: " + kHostile, std::nullopt});
  a.scan.images.push_back(image);
  a.errors.push_back({"auth", "listing the tags of x: DENIED: " + kHostile, std::nullopt});
  a.skipped.push_back({"skip:" + kHostile, "no image for platform linux/amd64 (available: " + kHostile + ")"});
  a.summary = {1, 1, 1, 1, 1, 0};
  return a;
}

}  // namespace

TEST_CASE("terminal_safe: control characters and invalid UTF-8 become escapes, UTF-8 text stays", "[audit][attack]") {
  CHECK(report::terminal_safe("plain /app/.env été 日本") == "plain /app/.env été 日本");
  CHECK(report::terminal_safe("a\x1b[2Jb") == "a\\x1b[2Jb");
  CHECK(report::terminal_safe("line\r\nforged\t\x7f") == "line\\x0d\\x0aforged\\x09\\x7f");
  CHECK(report::terminal_safe("csi\xc2\x9b" "31m") == "csi\\u009b31m");
  CHECK(report::terminal_safe("nbsp\xc2\xa0ok") == "nbsp\xc2\xa0ok");  // U+00A0 is printable
  CHECK(report::terminal_safe("bad\xff") == "bad\\xff");
  CHECK_FALSE(has_control(report::terminal_safe(kHostile), false));
}

TEST_CASE("audit text report: a registry's names and messages carry no control character and forge no line",
          "[audit][attack]") {
  const report::AuditReport a = hostile_audit();
  for (bool show : {false, true}) {
    report::ReportOptions options;
    options.show_secrets = show;
    std::ostringstream out;
    REQUIRE(report::write_audit_report(a, report::Format::text, options, out));
    const std::string text = out.str();
    INFO(text);
    CHECK_FALSE(has_control(text, /*allow_newline=*/true));
    CHECK(text.find("\nlayerleak: forged") == std::string::npos);  // no line of the registry's own
    CHECK(text.find("\\x1b]0;owned") != std::string::npos);        // shown, escaped
    CHECK(text.find("/app/\\x1b") != std::string::npos);
    CHECK((text.find("6f2c1a3e-9b7d-4e5f-8a1b-2c3d4e5f6b7c") != std::string::npos) == show);
  }
  // HTML: control characters but tab and newline are html_escape's "\xNN" (not a terminal: newlines stay).
  std::ostringstream html;
  REQUIRE(report::write_audit_report(a, report::Format::html, {}, html));
  for (char c : {'\x1b', '\x07', '\r', '\x7f'}) CHECK(html.str().find(c) == std::string::npos);
}

TEST_CASE("audit run: damaged or hostile stored results are errors of the report, never a crash", "[audit][attack]") {
  auto store = audit::memory_store();
  audit::Plan plan;
  plan.registry = "127.0.0.1:1";
  plan.repositories = 1;
  const std::vector<std::string> results = {
      "not json",
      "{\"report\": 5, \"layers_read\": []}",
      "{\"report\": \"{}\", \"layers_read\": [1]}",
      "{\"report\": \"" + std::string(200000, '[') + "\", \"layers_read\": []}",
      "{\"report\": \"{\\\"schema_version\\\": 1, \\\"images\\\": [{\\\"reference\\\": 7}]}\", \"layers_read\": []}",
  };
  std::vector<cache::WorkItem> items;
  for (std::size_t i = 0; i < results.size(); ++i) {
    audit::PlannedImage image;
    image.repository = "app";
    image.manifest_digest = "sha256:" + std::string(63, '0') + std::to_string(i);
    image.tags = {"app:" + std::to_string(i)};
    plan.images.push_back(image);
    items.push_back({"run", image.manifest_digest, audit::encode_item(image)});
  }
  // Another worker (or someone with the store's password) completed every item with a damaged result.
  REQUIRE(store->enqueue("run", items));
  for (std::size_t i = 0; i < results.size(); ++i) REQUIRE(*store->complete("run", items[i].key, results[i]));
  audit::RunOptions options;
  options.run = "run";
  options.worker = "w";
  options.poll = std::chrono::milliseconds(10);
  const report::AuditReport report = audit::run_audit(plan, *store, fx::builtin_detector(), options);
  CHECK(report.scan.images.empty());
  CHECK_FALSE(report.complete());
  CHECK(report.errors.size() == results.size());
  for (const report::ErrorEntry& e : report.errors) CHECK(e.message.find("the stored result of sha256:") == 0);
  std::ostringstream json;
  CHECK(report::write_audit_report(report, report::Format::json, {}, json));
}
