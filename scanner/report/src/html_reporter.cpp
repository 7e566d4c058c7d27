// HTML output: one self-contained page for auditors, readable in a browser without a network.
//
// Inline CSS only: no script, no external font, image or link; a Content-Security-Policy meta element
// forbids loading anything even if an injected value got through. Every value from the report (paths and
// build steps are attacker-controlled) goes through escape(). Per image: its identity, its layer stack
// drawn as bars (width ~ layer size, colour = worst severity of the layer's findings), the findings, what
// was suppressed, skipped or failed. Each rule's remediation is printed once, at the end.
//
// The output depends on the report only (no clock): the same report gives the same bytes.
#include <algorithm>
#include <map>
#include <set>

#include "reporters.h"

namespace layerleak::report {

namespace {

constexpr const char* kCsp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

// Text for an HTML element or a quoted attribute value. Invalid UTF-8 becomes "\xNN" (escape_invalid_utf8);
// control characters other than tab and newline become "\xNN" too (they are not allowed in HTML text).
std::string escape(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string text = escape_invalid_utf8(raw);
  std::string out;
  out.reserve(text.size() + 16);
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if ((c < 0x20 && ch != '\t' && ch != '\n') || c == 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  return out;
}

std::string shown(const std::string& secret, const ReportOptions& options) {
  return options.show_secrets ? secret : redact(secret);
}

std::string human_size(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  std::uint64_t tenths = bytes * 10 / 1024;
  std::size_t unit = 0;
  while (tenths >= 10240 && unit + 1 < std::size(units)) {
    tenths /= 1024;
    ++unit;
  }
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " " + units[unit];
}

const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;padding:24px 32px;color:#1b1f24;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:2px solid #d0d7de;padding-bottom:4px}
h3{font-size:16px;margin:20px 0 8px}.meta{color:#57606a;font-size:13px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;font-size:13px;margin:0}dt{color:#57606a}dd{margin:0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.summary{display:flex;gap:8px;flex-wrap:wrap;margin:12px 0}.pill{padding:4px 10px;border-radius:12px;font-size:13px;font-weight:600;color:#fff}
.stack{border:1px solid #d0d7de;border-radius:6px;padding:8px;background:#f6f8fa}
.layer{display:grid;grid-template-columns:56px 1fr 96px 88px;gap:8px;align-items:center;font-size:12px;margin:3px 0}
.track{background:#eaeef2;border-radius:3px;height:22px;position:relative;overflow:hidden}
.bar{height:22px;border-radius:3px;min-width:4px}.step{position:absolute;left:6px;top:3px;max-width:calc(100% - 20px);padding:0 4px;border-radius:2px;background:rgba(255,255,255,.8);white-space:nowrap;overflow:hidden;text-overflow:ellipsis;font-family:ui-monospace,Menlo,Consolas,monospace}
table{border-collapse:collapse;width:100%;font-size:13px;margin:4px 0}th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa}.sev{color:#fff;font-weight:600;border-radius:4px;padding:1px 6px;font-size:12px}
.critical{background:#a40e26}.high{background:#d1242f}.medium{background:#bc4c00}.low{background:#9a6700}.info{background:#57606a}.none{background:#8fb996}
.incomplete{color:#a40e26;font-weight:700}.fix{margin:6px 0;font-size:13px}
.verify{font-weight:700;border-radius:4px;padding:1px 6px;font-size:12px}.live{color:#fff;background:#a40e26}.notlive{color:#57606a;border:1px solid #d0d7de}
.plan{border:1px solid #d0d7de;border-radius:6px;padding:4px 12px;margin:8px 0;font-size:13px}pre{margin:4px 0;background:#f6f8fa;padding:4px 6px;white-space:pre-wrap}
)";

void write_head(const ScanReport& report, std::ostream& out) {
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"" << kCsp << "\">\n"
      << "<meta name=\"referrer\" content=\"no-referrer\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<title>layerleak report";
  if (report.images.size() == 1) out << ": " << escape(report.images[0].reference);
  out << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n";
}

void write_summary(const ScanReport& report, std::ostream& out) {
  std::map<rules::Severity, std::size_t> counts;
  std::size_t suppressed = 0;
  for (const ImageReport& image : report.images) {
    for (const Finding& f : image.findings) ++counts[f.severity];
    suppressed += image.suppressed.size();
  }
  std::size_t total = 0;
  for (const auto& [severity, n] : counts) total += n;
  out << "<header>\n<h1>layerleak: Scaleway credentials in container images</h1>\n<p class=\"meta\">layerleak "
      << escape(report.tool_version.empty() ? "unknown" : report.tool_version) << ", rules <code>"
      << escape(report.rules_digest) << "</code>; " << report.images.size()
      << (report.images.size() == 1 ? " image" : " images") << "</p>\n<div class=\"summary\">";
  out << "<span class=\"pill " << (total == 0 ? "none" : rules::severity_name(counts.rbegin()->first)) << "\">"
      << total << (total == 1 ? " finding" : " findings") << "</span>";
  for (auto it = counts.rbegin(); it != counts.rend(); ++it) {
    const std::string name(rules::severity_name(it->first));
    out << "<span class=\"pill " << name << "\">" << it->second << ' ' << name << "</span>";
  }
  if (suppressed > 0) out << "<span class=\"pill info\">" << suppressed << " suppressed</span>";
  std::set<std::string> live;  // distinct secret keys verified live (--verify)
  for (const ImageReport& image : report.images) {
    for (const Finding& f : image.findings) {
      if (f.verification && f.verification->status == "live" && f.rule_id != "scaleway.access-key") live.insert(f.fingerprint);
    }
  }
  if (!live.empty()) {
    out << "<span class=\"pill critical\">" << live.size() << (live.size() == 1 ? " live key" : " live keys") << "</span>";
  }
  out << "</div>\n";
  if (!report.complete()) {
    out << "<p class=\"incomplete\">The scan is INCOMPLETE: some content could not be read (see the errors "
           "below). A missing finding does not mean the image is clean.</p>\n";
  }
  out << "</header>\n";
}

void write_identity(const ImageReport& image, std::ostream& out) {
  out << "<dl>\n";
  auto row = [&](const char* name, const std::string& value, bool mono) {
    if (value.empty()) return;
    out << "<dt>" << name << "</dt><dd" << (mono ? " class=\"mono\"" : "") << ">" << escape(value) << "</dd>\n";
  };
  row("Reference", image.reference, true);
  row("Transport", image.transport, false);
  row("Manifest digest", image.manifest_digest, true);
  row("Index digest", image.index_digest, true);
  row("Config digest", image.config_digest, true);
  row("Platform", image.platform, false);
  std::string tags;
  for (const std::string& tag : image.tags) tags += (tags.empty() ? "" : ", ") + tag;
  row("Tags", tags, true);
  const std::uint64_t mib10 = image.bytes_scanned * 10 / (1024 * 1024);
  row("Scanned", std::to_string(image.layers.size()) + " layers, " + std::to_string(image.entries) + " entries, " +
                     std::to_string(mib10 / 10) + "." + std::to_string(mib10 % 10) + " MiB in " +
                     std::to_string(image.duration_ms) + " ms",
      false);
  out << "</dl>\n";
  if (!image.complete) out << "<p class=\"incomplete\">This image could not be scanned completely.</p>\n";
}

// The layer stack: one row per layer, bar width proportional to the layer's size (compressed size, else
// the bytes scanned), colour the worst severity among its active findings.
void write_layers(const ImageReport& image, std::ostream& out) {
  if (image.layers.empty()) return;
  auto size_of = [](const LayerSummary& l) {
    return l.compressed_size > 0 ? static_cast<std::uint64_t>(l.compressed_size) : l.bytes_scanned;
  };
  std::uint64_t largest = 1;
  for (const LayerSummary& l : image.layers) largest = std::max(largest, size_of(l));
  out << "<h3>Layers</h3>\n<div class=\"stack\">\n";
  for (const LayerSummary& l : image.layers) {
    std::size_t count = 0;
    std::optional<rules::Severity> worst;
    for (const Finding& f : image.findings) {
      if (f.location.kind != "layer" || f.location.layer_index != l.index) continue;
      ++count;
      if (!worst || f.severity > *worst) worst = f.severity;
    }
    const std::uint64_t size = size_of(l);
    const std::uint64_t permille = std::max<std::uint64_t>(size * 1000 / largest, 10);
    const std::string colour = worst ? std::string(rules::severity_name(*worst)) : std::string("none");
    const std::string step = l.created_by.empty() ? "(unknown build step)" : l.created_by;
    out << "<div class=\"layer\"><span>Layer " << l.index << "</span><div class=\"track\" title=\""
        << escape(l.digest) << "\"><div class=\"bar " << colour << "\" style=\"width:" << permille / 10 << '.'
        << permille % 10 << "%\"></div><span class=\"step\">" << escape(step) << "</span></div><span>"
        << human_size(size) << (l.complete ? "" : " (incomplete)") << "</span><span>" << count
        << (count == 1 ? " finding" : " findings") << "</span></div>\n";
  }
  out << "</div>\n";
}

std::string where(const Finding& f) {
  const Location& loc = f.location;
  if (loc.kind == "config") return "image configuration " + loc.field;
  if (loc.kind == "manifest") return "manifest " + loc.field;
  return loc.path;
}

// The verification under the secret: LIVE in red, the HTTP status, the reason, the key's owner (from a 200).
void write_verification_cell(const Verification& v, std::ostream& out) {
  out << "<br><span class=\"verify " << (v.status == "live" ? "live" : "notlive") << "\">"
      << (v.status == "live" ? std::string("LIVE") : escape(v.status)) << "</span>";
  if (v.http_status) out << " HTTP " << *v.http_status;
  if (!v.reason.empty()) out << ": " << escape(v.reason);
  if (!v.api_key) return;
  const ApiKeyInfo& k = *v.api_key;
  out << "<br>API key <code>" << escape(k.access_key) << "</code>";
  if (!k.description.empty()) out << " &ldquo;" << escape(k.description) << "&rdquo;";
  if (!k.application_id.empty()) out << ", application <code>" << escape(k.application_id) << "</code>";
  if (!k.user_id.empty()) out << ", user <code>" << escape(k.user_id) << "</code>";
  if (!k.default_project_id.empty()) out << ", project <code>" << escape(k.default_project_id) << "</code>";
  if (!k.created_at.empty()) out << ", created " << escape(k.created_at);
  out << ", " << (k.expires_at.empty() ? std::string("never expires") : "expires " + escape(k.expires_at));
}

void write_finding_row(const Finding& f, const ReportOptions& options, bool suppressed, std::ostream& out) {
  const Location& loc = f.location;
  const std::string severity(rules::severity_name(f.severity));
  out << "<tr><td><span class=\"sev " << severity << "\">" << severity << "</span></td><td>" << escape(f.title)
      << "<br><code>" << escape(f.rule_id) << "</code></td><td>";
  if (loc.kind == "layer" && loc.layer_index) {
    out << *loc.layer_index << "<br><code>" << escape(loc.layer_digest.substr(0, 19)) << "</code>";
  } else {
    out << "&ndash;";
  }
  out << "</td><td><code>" << escape(where(f)) << "</code>";
  for (const std::string& alias : f.aliases) out << "<br>also linked as <code>" << escape(alias) << "</code>";
  out << "</td><td>" << loc.line << ':' << loc.column << "</td><td>"
      << (suppressed ? "suppressed: " + escape(f.suppressed_by) : escape(visibility_phrase(f)))
      << "</td><td><code>" << escape(shown(f.secret, options)) << "</code>";
  if (!f.paired_access_key.empty()) {
    out << "<br>access key <code>" << escape(shown(f.paired_access_key, options)) << "</code>";
  }
  out << "<br>" << escape(rules::confidence_name(f.confidence)) << " confidence, " << escape(f.encoding);
  if (f.verification) write_verification_cell(*f.verification, out);
  out << "</td></tr>\n";
}

void write_findings(const char* heading, const std::vector<Finding>& findings, const ReportOptions& options,
                    bool suppressed, std::ostream& out) {
  out << "<h3>" << heading << " (" << findings.size() << ")</h3>\n";
  if (findings.empty()) {
    out << "<p class=\"meta\">None.</p>\n";
    return;
  }
  out << "<table>\n<tr><th>Severity</th><th>Rule</th><th>Layer</th><th>Path</th><th>Line:col</th>"
         "<th>Visibility</th><th>Secret</th></tr>\n";
  // Live keys first (verified with --verify), the report's order otherwise.
  std::vector<const Finding*> ordered;
  for (const Finding& f : findings) ordered.push_back(&f);
  std::stable_partition(ordered.begin(), ordered.end(),
                        [](const Finding* f) { return f->verification && f->verification->status == "live"; });
  for (const Finding* f : ordered) write_finding_row(*f, options, suppressed, out);
  out << "</table>\n";
}

void write_problems(const ImageReport& image, std::ostream& out) {
  auto layer_cell = [](const std::optional<std::size_t>& index) {
    return index ? std::to_string(*index) : std::string("&ndash;");
  };
  if (!image.errors.empty()) {
    out << "<h3>Errors (" << image.errors.size() << ")</h3>\n<table>\n<tr><th>Code</th><th>Layer</th>"
           "<th>Message</th></tr>\n";
    for (const ErrorEntry& e : image.errors) {
      out << "<tr><td><code>" << escape(e.code) << "</code></td><td>" << layer_cell(e.layer_index) << "</td><td>"
          << escape(e.message) << "</td></tr>\n";
    }
    out << "</table>\n";
  }
  if (!image.skipped.empty()) {
    out << "<h3>Skipped files (" << image.skipped.size() << ")</h3>\n<table>\n<tr><th>Path</th><th>Layer</th>"
           "<th>Reason</th></tr>\n";
    for (const Skipped& s : image.skipped) {
      out << "<tr><td><code>" << escape(s.path) << "</code></td><td>" << layer_cell(s.layer_index) << "</td><td>"
          << escape(s.reason) << "</td></tr>\n";
    }
    out << "</table>\n";
  }
}

void write_image(const ImageReport& image, std::size_t number, const ReportOptions& options, std::ostream& out) {
  out << "<section class=\"image\" id=\"image-" << number << "\">\n<h2>Image " << escape(image.reference)
      << "</h2>\n";
  write_identity(image, out);
  write_layers(image, out);
  write_findings("Findings", image.findings, options, false, out);
  if (!image.suppressed.empty()) write_findings("Suppressed", image.suppressed, options, true, out);
  write_problems(image, out);
  out << "</section>\n";
}

// Each rule's remediation once, whatever the number of findings and images.
void write_remediation(const ScanReport& report, std::ostream& out) {
  std::map<std::string, std::pair<std::string, std::string>> by_rule;  // id -> (title, remediation)
  for (const ImageReport& image : report.images) {
    for (const std::vector<Finding>* list : {&image.findings, &image.suppressed}) {
      for (const Finding& f : *list) {
        auto& [title, remediation] = by_rule[f.rule_id];
        if (title.empty()) title = f.title;
        if (remediation.empty()) remediation = f.remediation;
      }
    }
  }
  if (by_rule.empty()) return;
  out << "<section id=\"remediation\">\n<h2>How to fix</h2>\n";
  for (const auto& [id, entry] : by_rule) {
    out << "<p class=\"fix\"><strong>" << escape(entry.first) << "</strong> (<code>" << escape(id) << "</code>): "
        << escape(entry.second.empty() ? "Revoke the credential, rotate it, and rebuild the image without it."
                                       : entry.second)
        << "</p>\n";
  }
  out << "<p class=\"fix\">Deleting a file in a later layer does not remove it: every layer stays readable to "
         "anyone who can pull the image. Rebuild without the secret and pass credentials at run time from a "
         "secret manager.</p>\n</section>\n";
}

// One plan per credential (plan_remediation), live keys first: status, locations, the four steps.
void write_plans(const ScanReport& report, const ReportOptions& options, std::ostream& out) {
  const std::vector<RemediationPlan> plans = plan_remediation(report, options);
  if (plans.empty()) return;
  out << "<section id=\"plans\">\n<h2>Remediation plan (" << plans.size()
      << (plans.size() == 1 ? " credential" : " credentials") << ")</h2>\n";
  for (const RemediationPlan& p : plans) {
    const std::string severity(rules::severity_name(p.severity));
    out << "<div class=\"plan\"><h3><span class=\"sev " << severity << "\">" << severity << "</span> "
        << escape(p.title) << " <code>" << escape(p.fingerprint.substr(0, 19)) << "</code>";
    if (!p.access_key.empty()) out << " access key <code>" << escape(p.access_key) << "</code>";
    if (!p.verification_status.empty()) {
      out << " <span class=\"verify " << (p.verification_status == "live" ? "live" : "notlive") << "\">"
          << (p.verification_status == "live" ? std::string("LIVE") : escape(p.verification_status)) << "</span>";
    }
    out << "</h3>\n<ul>\n";
    for (const CredentialLocation& l : p.locations) {
      out << "<li><code>" << escape(l.image) << "</code>";
      if (l.layer_index) out << " layer " << *l.layer_index;
      out << " <code>" << escape(l.where) << "</code> (" << escape(l.visibility) << ")</li>\n";
    }
    out << "</ul>\n<ol>\n";
    for (const RemediationStep& s : p.steps) {
      out << "<li><strong>" << escape(s.title) << "</strong>: " << escape(s.text);
      for (const std::string& c : s.commands) out << "<pre><code>" << escape(c) << "</code></pre>";
      out << "</li>\n";
    }
    out << "</ol></div>\n";
  }
  out << "</section>\n";
}

}  // namespace

std::string html_escape(std::string_view raw) { return escape(raw); }

void write_html_head(const std::string& title, std::ostream& out) {
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"" << kCsp << "\">\n"
      << "<meta name=\"referrer\" content=\"no-referrer\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<title>" << escape(title) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n";
}

Status write_html(const ScanReport& report, const ReportOptions& options, std::ostream& out) {
  write_head(report, out);
  write_summary(report, out);
  for (std::size_t i = 0; i < report.images.size(); ++i) write_image(report.images[i], i, options, out);
  write_remediation(report, out);
  write_plans(report, options, out);
  out << "</body>\n</html>\n";
  out.flush();
  if (!out) return make_error(Errc::io, "cannot write the report");
  return Ok{};
}

}  // namespace layerleak::report
