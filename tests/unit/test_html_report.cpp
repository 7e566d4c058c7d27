// The HTML report: self-contained (no script, nothing loaded from elsewhere), everything escaped, and the
// content auditors need (image identity, the layer stack, findings, remediation once per rule, skips and
// errors). The browser-level checks (rendering, no network request) are in tests/cli/test_html_report.py.
#include <catch2/catch.hpp>
#include <regex>
#include <sstream>

#include "layerleak/report.h"

using namespace layerleak;

namespace {

const std::string kSecret = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c";
const std::string kSecret2 = "9a8b7c6d-1e2f-4a3b-8c5d-6e7f8a9b0c1d";
const std::string kRemediation = "Revoke the API key in the Scaleway console & rotate it <now>.";
const std::string kHostilePath = "/app/<script>alert(\"x\")</script>'quoted'.env";
const std::string kHostileStep = "RUN echo '<img src=http://evil.example/x.png>' \"&\" > /etc/motd";

std::string digest(char c) { return "sha256:" + std::string(64, c); }

report::Finding finding(std::size_t layer, const std::string& path, const std::string& secret, rules::Severity severity) {
  report::Finding f;
  f.rule_id = "scaleway.secret-key";
  f.title = "Scaleway API secret key";
  f.remediation = kRemediation;
  f.severity = severity;
  f.secret = secret;
  f.fingerprint = report::fingerprint(f.rule_id, secret);
  f.location.layer_index = layer;
  f.location.layer_digest = digest(static_cast<char>('1' + layer));
  f.location.created_by = kHostileStep;
  f.location.path = path;
  f.location.line = 3;
  f.location.column = 16;
  return f;
}

report::ScanReport hostile_report() {
  report::ScanReport r;
  r.tool_version = "0.1.0";
  r.rules_digest = digest('d');
  for (int n = 0; n < 2; ++n) {
    report::ImageReport image;
    image.reference = n == 0 ? "oci-archive:app.tar" : "docker://registry.example/second@" + digest('9');
    image.transport = n == 0 ? "oci-archive" : "docker";
    image.manifest_digest = digest(n == 0 ? 'a' : 'b');
    image.config_digest = digest('c');
    image.platform = "linux/amd64";
    image.tags = {"example/app:<latest>"};
    for (std::size_t l = 0; l < 3; ++l) {
      report::LayerSummary layer;
      layer.index = l;
      layer.digest = digest(static_cast<char>('1' + l));
      layer.created_by = l == 1 ? kHostileStep : "COPY app /app";
      layer.compressed_size = l == 0 ? 30'000'000 : 1'000;
      layer.complete = true;
      image.layers.push_back(layer);
    }
    image.findings = {finding(1, kHostilePath, kSecret, rules::Severity::critical),
                      finding(2, "/srv/second.env", kSecret2, rules::Severity::medium)};
    image.findings[1].visibility = "deleted";
    image.findings[1].hidden_by_layer = 2;
    image.skipped = {{"/srv/<big>.bin", 2, "larger than --max-file-size"}};
    image.errors = {{"digest_mismatch", "layer 2: content does not match \"its\" digest", 2}};
    image.complete = n == 0;
    r.images.push_back(image);
  }
  return r;
}

std::string html(const report::ScanReport& r, report::ReportOptions options = {}) {
  std::ostringstream out;
  auto status = report::write_report(r, report::Format::html, options, out);
  REQUIRE(status);
  return out.str();
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("html: self-contained, with a CSP that forbids loading anything", "[report][html]") {
  const std::string page = html(hostile_report());
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
                  "'unsafe-inline'; img-src data:\">") != std::string::npos);
  CHECK(page.find("<script") == std::string::npos);
  CHECK(page.find("<link") == std::string::npos);
  CHECK(page.find("<img") == std::string::npos);
  CHECK(page.find("@import") == std::string::npos);
  CHECK(page.find("@font-face") == std::string::npos);
  CHECK_FALSE(std::regex_search(page, std::regex(R"(<[^>]*\s(src|href|action)\s*=|url\()", std::regex::icase)));
  CHECK(page.find("</html>\n") == page.size() - 8);
}

TEST_CASE("html: attacker-controlled paths and build steps are escaped", "[report][html]") {
  const std::string page = html(hostile_report());
  CHECK(page.find(kHostilePath) == std::string::npos);
  CHECK(page.find(kHostileStep) == std::string::npos);
  CHECK(page.find("/app/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;quoted&#39;.env") != std::string::npos);
  CHECK(page.find("RUN echo &#39;&lt;img src=http://evil.example/x.png&gt;&#39; &quot;&amp;&quot; &gt; /etc/motd") !=
        std::string::npos);
  CHECK(page.find("example/app:&lt;latest&gt;") != std::string::npos);
  CHECK(page.find("/srv/&lt;big&gt;.bin") != std::string::npos);
  CHECK(page.find("does not match &quot;its&quot; digest") != std::string::npos);
  // Control characters and invalid UTF-8 in a name cannot break the page either.
  report::ScanReport r = hostile_report();
  r.images[0].findings[0].location.path = std::string("/bad\x01\xff/x\r.env");
  const std::string odd = html(r);
  CHECK(odd.find("/bad\\x01\\xff/x\\x0d.env") != std::string::npos);
}

TEST_CASE("html: images, layer stack, findings, remediation once, skips and errors", "[report][html]") {
  const std::string page = html(hostile_report());
  CHECK(count(page, "<section class=\"image\"") == 2);
  CHECK(page.find("<h2>Image oci-archive:app.tar</h2>") != std::string::npos);
  CHECK(page.find(digest('a')) != std::string::npos);
  CHECK(page.find(digest('b')) != std::string::npos);
  CHECK(page.find("linux/amd64") != std::string::npos);
  // The layer stack: a bar per layer, the largest full width, coloured by the worst severity in it.
  CHECK(count(page, "<div class=\"layer\">") == 6);
  CHECK(count(page, "class=\"bar none\" style=\"width:100.0%\"") == 2);  // layer 0: largest, no finding
  CHECK(count(page, "class=\"bar critical\" style=\"width:1.0%\"") == 2);
  CHECK(count(page, "class=\"bar medium\"") == 2);
  CHECK(count(page, "<span>1 finding</span>") == 4);
  CHECK(count(page, "<span>0 findings</span>") == 2);
  CHECK(page.find("28.6 MiB") != std::string::npos);
  // Findings: severity, rule, visibility, line:column, redacted secret.
  CHECK(count(page, "<code>scaleway.secret-key</code>") == 4 + 1);  // 4 findings + the remediation entry
  CHECK(page.find("<span class=\"sev critical\">critical</span>") != std::string::npos);
  CHECK(page.find("deleted by layer 2") != std::string::npos);
  CHECK(page.find("<td>3:16</td>") != std::string::npos);
  CHECK(page.find(kSecret) == std::string::npos);
  CHECK(page.find(report::redact(kSecret)) != std::string::npos);
  CHECK(count(page, "Scaleway console &amp; rotate it &lt;now&gt;.") == 1);
  CHECK(count(page, "<h3>Skipped files (1)</h3>") == 2);
  CHECK(count(page, "<h3>Errors (1)</h3>") == 2);
  CHECK(page.find("This image could not be scanned completely") != std::string::npos);
  CHECK(page.find("The scan is INCOMPLETE") != std::string::npos);
  CHECK(page.find("<span class=\"pill critical\">4 findings</span>") != std::string::npos);

  report::ReportOptions show;
  show.show_secrets = true;
  CHECK(html(hostile_report(), show).find(kSecret) != std::string::npos);
}
