#include <map>
#include <set>

#include "reporters.h"

namespace layerleak::report {

namespace {

struct Style {
  bool color;
  std::string operator()(const char* code, const std::string& text) const {
    return color ? std::string("\x1b[") + code + "m" + text + "\x1b[0m" : text;
  }
};

const char* severity_color(rules::Severity s) {
  switch (s) {
    case rules::Severity::critical: return "1;31";
    case rules::Severity::high: return "31";
    case rules::Severity::medium: return "33";
    case rules::Severity::low: return "36";
    case rules::Severity::info: return "2";
  }
  return "0";
}

std::string short_digest(const std::string& digest) {
  return digest.size() > 19 ? digest.substr(0, 19) : digest;
}

// "      verified LIVE (HTTP 403) 2026-…Z: reason" and, from a 200, the API key's owner and dates.
void write_verification(const Verification& v, const Style& style, std::ostream& out) {
  std::string status = v.status == "live" ? style("1;31", "LIVE") : v.status;
  out << "      verified " << status;
  if (v.http_status) out << " (HTTP " << *v.http_status << ")";
  if (!v.checked_at.empty()) out << " at " << v.checked_at;
  if (!v.reason.empty()) out << ": " << terminal_safe(v.reason);
  out << '\n';
  if (!v.api_key) return;
  const ApiKeyInfo& k = *v.api_key;
  out << "      API key " << k.access_key;
  if (!k.description.empty()) out << " \"" << terminal_safe(k.description) << '"';
  if (!k.application_id.empty()) out << ", application " << k.application_id;
  if (!k.user_id.empty()) out << ", user " << k.user_id;
  if (!k.default_project_id.empty()) out << ", default project " << k.default_project_id;
  if (!k.created_at.empty()) out << ", created " << k.created_at;
  out << ", " << (k.expires_at.empty() ? std::string("never expires") : "expires " + k.expires_at) << '\n';
}

// The plan for each credential (plan_remediation): its status, where it is, and the four steps.
void write_plans(const ScanReport& report, const ReportOptions& options, const Style& style, std::ostream& out) {
  const std::vector<RemediationPlan> plans = plan_remediation(report, options);
  if (plans.empty()) return;
  out << style("1", "Remediation plan") << " (" << plans.size() << (plans.size() == 1 ? " credential" : " credentials")
      << ")\n";
  for (const RemediationPlan& p : plans) {
    out << "\n  " << style("1", p.title) << " [" << p.rule_id << "] " << p.fingerprint.substr(0, 19);
    if (!p.access_key.empty()) out << "  access key " << p.access_key;
    if (!p.verification_status.empty()) {
      out << "  " << (p.verification_status == "live" ? style("1;41", "LIVE") : p.verification_status);
    }
    out << '\n';
    for (const CredentialLocation& l : p.locations) {
      out << "    in " << terminal_safe(l.image);
      if (l.layer_index) out << " layer " << *l.layer_index;
      out << " " << terminal_safe(l.where) << " (" << l.visibility << ")\n";
    }
    std::size_t number = 0;
    for (const RemediationStep& s : p.steps) {
      out << "    " << ++number << ". " << s.title << ": " << s.text << '\n';
      for (const std::string& c : s.commands) out << "         $ " << c << '\n';
    }
  }
  out << '\n';
}

void write_image(const ImageReport& image, const ReportOptions& options, const Style& style, std::ostream& out) {
  out << style("1", "Image " + terminal_safe(image.reference)) << '\n';
  if (!image.manifest_digest.empty()) out << "  manifest " << image.manifest_digest << '\n';
  if (!image.platform.empty()) out << "  platform " << image.platform << '\n';
  std::optional<std::size_t> current_layer;
  bool layer_header_printed = false;
  for (const Finding& f : image.findings) {
    if (!layer_header_printed || f.location.layer_index != current_layer) {
      current_layer = f.location.layer_index;
      layer_header_printed = true;
      if (f.location.kind == "layer" && f.location.layer_index) {
        std::string step = f.location.created_by.empty() ? "(unknown build step)" : terminal_safe(f.location.created_by);
        if (step.size() > 100) step = step.substr(0, 97) + "...";
        out << "\n  " << style("1", "Layer " + std::to_string(*f.location.layer_index)) << "  "
            << short_digest(f.location.layer_digest) << "  " << step << '\n';
      } else {
        out << "\n  " << style("1", f.location.kind == "file" ? "Files" : "Image metadata") << '\n';
      }
    }
    const std::string where = terminal_safe(f.location.path.empty() ? f.location.field : f.location.path);
    const bool live = f.verification && f.verification->status == "live";
    out << "    " << where << ':' << f.location.line << ':' << f.location.column << "  "
        << style(severity_color(f.severity), std::string(rules::severity_name(f.severity))) << "  "
        << (live ? style("1;41", "LIVE") + "  " : std::string()) << f.title
        << " [" << f.rule_id << "]\n";
    out << "      secret " << (options.show_secrets ? f.secret : redact(f.secret))
        << "  confidence " << rules::confidence_name(f.confidence);
    if (!f.paired_access_key.empty()) {
      out << "  access key " << (options.show_secrets ? f.paired_access_key : redact(f.paired_access_key));
    }
    out << '\n';
    if (f.verification) write_verification(*f.verification, style, out);
    out << "      " << visibility_phrase(f) << '\n';
    for (const std::string& alias : f.aliases) out << "      also linked as " << terminal_safe(alias) << '\n';
  }
  if (!image.suppressed.empty()) out << '\n';
  for (const Finding& f : image.suppressed) {
    const std::string where = terminal_safe(f.location.path.empty() ? f.location.field : f.location.path);
    out << "  suppressed " << where << ':' << f.location.line << ':' << f.location.column << "  " << f.rule_id
        << "  (" << f.suppressed_by << ")\n";
  }
  for (const ErrorEntry& e : image.errors) {
    out << "  " << style("1;31", "error") << ": " << terminal_safe(e.message) << '\n';
  }
  for (const Skipped& s : image.skipped) {
    out << "  skipped " << terminal_safe(s.path) << ": " << terminal_safe(s.reason) << '\n';
  }
  std::uint64_t mib10 = image.bytes_scanned * 10 / (1024 * 1024);
  out << "\n  " << image.layers.size() << " layers, " << image.entries << " entries, " << mib10 / 10 << '.'
      << mib10 % 10 << " MiB scanned in " << image.duration_ms << " ms; " << image.findings.size()
      << (image.findings.size() == 1 ? " finding" : " findings")
      << (image.suppressed.empty() ? "" : ", " + std::to_string(image.suppressed.size()) + " suppressed")
      << (image.skipped.empty() ? "" : ", " + std::to_string(image.skipped.size()) + " skipped")
      << (image.complete ? "" : "; SCAN INCOMPLETE")
      << "\n\n";
}

// Each remediation once per rule id (sorted), for the rules of the active findings: a report with a hundred
// copies of one key would otherwise repeat the same paragraph a hundred times.
void write_fixes(const ScanReport& report, const Style& style, std::ostream& out) {
  std::map<std::string, std::string> fixes;
  for (const ImageReport& image : report.images) {
    for (const Finding& f : image.findings) {
      std::string& fix = fixes[f.rule_id];
      if (fix.empty()) fix = f.remediation;
    }
  }
  bool header = false;
  for (const auto& [rule_id, fix] : fixes) {
    if (fix.empty()) continue;
    if (!header) out << style("1", "How to fix") << '\n';
    header = true;
    out << "  [" << rule_id << "] " << fix << '\n';
  }
  if (header) out << '\n';
}

void write_summary(const ScanReport& report, std::ostream& out) {
  std::map<rules::Severity, std::size_t> by_severity;
  std::size_t suppressed = 0;
  std::set<std::string> live;  // distinct credentials verified live (an access key counts with its secret key)
  for (const ImageReport& image : report.images) {
    for (const Finding& f : image.findings) {
      ++by_severity[f.severity];
      if (f.verification && f.verification->status == "live" && f.rule_id != "scaleway.access-key") {
        live.insert(f.fingerprint);
      }
    }
    suppressed += image.suppressed.size();
  }
  std::size_t total = 0;
  std::string parts;
  for (auto it = by_severity.rbegin(); it != by_severity.rend(); ++it) {
    total += it->second;
    parts += (parts.empty() ? "" : ", ") + std::to_string(it->second) + " " + std::string(rules::severity_name(it->first));
  }
  out << "Summary: " << total << (total == 1 ? " finding" : " findings");
  if (!parts.empty()) out << " (" << parts << ")";
  if (suppressed > 0) out << "; " << suppressed << " suppressed";
  if (!live.empty()) out << "; " << live.size() << (live.size() == 1 ? " LIVE key" : " LIVE keys");
  out << (report.complete() ? "" : "; the scan is INCOMPLETE (see errors above)") << '\n';
}

}  // namespace

Status write_text(const ScanReport& report, const ReportOptions& options, std::ostream& out) {
  const Style style{options.color};
  if (!options.summary_only) {
    for (const ImageReport& image : report.images) write_image(image, options, style, out);
    write_fixes(report, style, out);
    write_plans(report, options, style, out);
  }
  write_summary(report, out);
  out.flush();
  if (!out) return make_error(Errc::io, "cannot write the report");
  return Ok{};
}

namespace {

Status write_format(const ScanReport& report, Format format, const ReportOptions& options, std::ostream& out) {
  switch (format) {
    case Format::json: return write_json(report, options, out);
    case Format::text: return write_text(report, options, out);
    case Format::sarif: return write_sarif(report, options, out);
    case Format::gitlab: return write_gitlab(report, options, out);
    case Format::html: return write_html(report, options, out);
  }
  return make_error(Errc::invalid_argument, "unknown report format");
}

}  // namespace

Status write_report(const ScanReport& report, Format format, const ReportOptions& options, std::ostream& out) {
  // Why here and not in each reporter: one pass that no present or future format can forget.
  if (!options.show_secrets) {
    if (std::optional<Redacted> shown = redact_if_needed(report, options)) {
      return write_format(shown->report, format, shown->options, out);
    }
  }
  return write_format(report, format, options, out);
}

}  // namespace layerleak::report
