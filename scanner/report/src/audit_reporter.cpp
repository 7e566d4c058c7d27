// The audit report (`layerleak audit`) in every format it has: JSON (the scan report's image objects
// under {"kind": "audit"}), text and HTML (each credential once, with every image and tag carrying it),
// SARIF (one run per image, exactly as scan writes it). Redaction is write_report's: the image part is
// masked by redact_if_needed, the audit's own free text by options.redact_text.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "reporters.h"

namespace layerleak::report {

namespace {

using nlohmann::ordered_json;

// "docker://HOST/REPO@sha256:…" -> "REPO"; other references as they are.
std::string repository_of(const ImageReport& image) {
  std::string_view ref = image.reference;
  if (!ref.starts_with("docker://")) return std::string(ref);
  ref.remove_prefix(9);
  const auto slash = ref.find('/');
  if (slash == std::string_view::npos) return std::string(ref);
  ref.remove_prefix(slash + 1);
  return std::string(ref.substr(0, ref.find('@')));
}

std::string short_digest(const std::string& digest) { return digest.size() > 19 ? digest.substr(0, 19) : digest; }

// The audit's own strings as they may leave the process (the images are redact_if_needed's).
struct AuditText {
  std::string registry;
  std::vector<AuditSkip> skipped;
  std::vector<ErrorEntry> errors;
};

AuditText audit_text(const AuditReport& report, const ReportOptions& options) {
  AuditText text{report.registry, report.skipped, report.errors};
  if (options.show_secrets) return text;
  // As redact_report does for the images: every finding's secret and access key (8 characters or more)
  // masked wherever it appears, then the free-text hook.
  std::set<std::string> values;
  for (const ImageReport& image : report.scan.images) {
    for (const std::vector<Finding>* list : {&image.findings, &image.suppressed}) {
      for (const Finding& f : *list) {
        for (const std::string* v : {&f.secret, &f.paired_access_key}) {
          if (v->size() >= 8) values.insert(*v);
        }
      }
    }
  }
  auto mask = [&](std::string& s) {
    for (const std::string& v : values) {
      const std::string masked = redact(v);
      for (auto at = s.find(v); at != std::string::npos; at = s.find(v, at + masked.size())) s.replace(at, v.size(), masked);
    }
    if (options.redact_text) s = options.redact_text(s);
  };
  mask(text.registry);
  for (AuditSkip& s : text.skipped) {
    mask(s.tag);
    mask(s.reason);
  }
  for (ErrorEntry& e : text.errors) mask(e.message);
  return text;
}

// Every active finding grouped by credential (fingerprint): the images carrying it and where.
struct Occurrence {
  const ImageReport* image;
  const Finding* finding;
};
struct Credential {
  const Finding* first = nullptr;
  std::vector<Occurrence> occurrences;  // image order, then the image's finding order
};

bool is_live(const Finding& f) { return f.verification && f.verification->status == "live"; }

std::vector<Credential> credentials(const ScanReport& scan) {
  std::map<std::string, Credential> by_fingerprint;
  for (const ImageReport& image : scan.images) {
    for (const Finding& f : image.findings) {
      Credential& c = by_fingerprint[f.fingerprint];
      if (c.first == nullptr || f.severity > c.first->severity) c.first = &f;
      c.occurrences.push_back({&image, &f});
    }
  }
  std::vector<Credential> out;
  for (auto& [fp, c] : by_fingerprint) out.push_back(std::move(c));
  // Worst first; ties by rule id then fingerprint: a fixed order whatever the scheduling was.
  std::stable_sort(out.begin(), out.end(), [](const Credential& a, const Credential& b) {
    if (is_live(*a.first) != is_live(*b.first)) return is_live(*a.first);  // --verify: live keys first
    if (a.first->severity != b.first->severity) return a.first->severity > b.first->severity;
    if (a.first->rule_id != b.first->rule_id) return a.first->rule_id < b.first->rule_id;
    return a.first->fingerprint < b.first->fingerprint;
  });
  return out;
}

// --verify's answer for a credential on one line: "verified LIVE (HTTP 403) at …: reason; API key SCW… "desc",
// application …, expires …" (the metadata only from a 200 naming the key).
std::string verification_line(const Verification& v) {
  std::ostringstream out;
  out << "verified " << (v.status == "live" ? std::string("LIVE") : v.status);
  if (v.http_status) out << " (HTTP " << *v.http_status << ")";
  if (!v.checked_at.empty()) out << " at " << v.checked_at;
  if (!v.reason.empty()) out << ": " << v.reason;
  if (v.api_key) {
    const ApiKeyInfo& k = *v.api_key;
    out << "; API key " << k.access_key;
    if (!k.description.empty()) out << " \"" << k.description << '"';
    if (!k.application_id.empty()) out << ", application " << k.application_id;
    if (!k.user_id.empty()) out << ", user " << k.user_id;
    out << ", " << (k.expires_at.empty() ? std::string("never expires") : "expires " + k.expires_at);
  }
  return out.str();
}

std::string tags_of(const ImageReport& image) {
  std::string out;
  for (const std::string& t : image.tags) out += (out.empty() ? "" : ", ") + t;
  return out.empty() ? "(no tag)" : out;
}

std::string where(const Finding& f) {
  std::string w = f.location.path.empty() ? f.location.field : f.location.path;
  std::ostringstream out;
  out << w;
  if (f.location.line > 0) out << ':' << f.location.line;
  if (f.location.kind == "layer" && f.location.layer_index) out << " (layer " << *f.location.layer_index << ')';
  return out.str();
}

std::string summary_line(const AuditReport& report, const std::string& registry, std::size_t keys) {
  const AuditSummary& s = report.summary;
  std::ostringstream out;
  out << "audit of " << registry << ": " << s.repositories << " repositories, " << s.images << " images, "
      << s.images_with_findings << " with findings, " << keys << (keys == 1 ? " credential" : " credentials")
      << "; layers " << s.layers_total << " (scanned " << s.layers_scanned << ", reused " << s.layers_reused << ")"
      << (report.complete() ? "" : "; INCOMPLETE");
  return out.str();
}

Status write_audit_json(const AuditReport& report, const ReportOptions& options, std::ostream& out) {
  std::ostringstream images_text;
  if (auto st = write_report(report.scan, Format::json, options, images_text); !st) return st;
  ordered_json scan = ordered_json::parse(images_text.str(), nullptr, false);
  if (scan.is_discarded()) return make_error(Errc::internal, "the audit's image objects are not JSON");
  const AuditText text = audit_text(report, options);
  ordered_json root;
  root["schema_version"] = 1;
  root["kind"] = "audit";
  root["tool"] = scan["tool"];
  root["registry"] = text.registry;
  root["images"] = scan["images"];
  if (scan.contains("remediation")) root["remediation"] = scan["remediation"];
  const AuditSummary& s = report.summary;
  root["summary"] = {{"repositories", s.repositories},         {"images", s.images},
                     {"images_with_findings", s.images_with_findings}, {"layers_total", s.layers_total},
                     {"layers_scanned", s.layers_scanned},     {"layers_reused", s.layers_reused}};
  ordered_json skipped = ordered_json::array();
  for (const AuditSkip& k : text.skipped) skipped.push_back({{"tag", k.tag}, {"reason", k.reason}});
  root["skipped"] = std::move(skipped);
  ordered_json errors = ordered_json::array();
  for (const ErrorEntry& e : text.errors) errors.push_back({{"code", e.code}, {"message", e.message}});
  root["errors"] = std::move(errors);
  root["complete"] = report.complete();
  out << root.dump(2, ' ', false, ordered_json::error_handler_t::replace) << '\n';
  out.flush();
  if (!out) return make_error(Errc::io, "cannot write the report");
  return Ok{};
}

Status write_audit_text(const AuditReport& report, const ScanReport& scan, const ReportOptions& options,
                        std::ostream& out) {
  const AuditText text = audit_text(report, options);
  const std::vector<Credential> keys = credentials(scan);
  auto shown = [&](const std::string& s) { return options.show_secrets ? s : redact(s); };
  if (!options.summary_only) {
    for (const Credential& c : keys) {
      const Finding& f = *c.first;
      out << rules::severity_name(f.severity) << "  " << terminal_safe(f.title) << " [" << terminal_safe(f.rule_id) << "]  "
          << terminal_safe(shown(f.secret));
      if (!f.paired_access_key.empty()) out << "  access key " << terminal_safe(shown(f.paired_access_key));
      out << "\n  fingerprint " << f.fingerprint << '\n';
      if (f.verification) out << "  " << terminal_safe(verification_line(*f.verification)) << '\n';
      const ImageReport* current = nullptr;
      for (const Occurrence& o : c.occurrences) {
        if (o.image != current) {
          current = o.image;
          out << "  " << terminal_safe(repository_of(*o.image)) << '@' << terminal_safe(short_digest(o.image->manifest_digest));
          if (!o.image->platform.empty()) out << ' ' << terminal_safe(o.image->platform);
          out << "  tags: " << terminal_safe(tags_of(*o.image)) << '\n';
        }
        out << "    " << terminal_safe(where(*o.finding)) << "  " << terminal_safe(visibility_phrase(*o.finding)) << '\n';
      }
      out << '\n';
    }
    for (const ImageReport& image : scan.images) {
      for (const ErrorEntry& e : image.errors) {
        out << "error: " << terminal_safe(repository_of(image)) << '@' << terminal_safe(short_digest(image.manifest_digest)) << ": "
            << terminal_safe(e.message) << '\n';
      }
    }
    for (const ErrorEntry& e : text.errors) out << "error: " << terminal_safe(e.message) << '\n';
    for (const AuditSkip& s : text.skipped) out << "skipped " << terminal_safe(s.tag) << ": " << terminal_safe(s.reason) << '\n';
  }
  out << terminal_safe(summary_line(report, text.registry, keys.size())) << '\n';
  out.flush();
  if (!out) return make_error(Errc::io, "cannot write the report");
  return Ok{};
}

Status write_audit_html(const AuditReport& report, const ScanReport& scan, const ReportOptions& options,
                        std::ostream& out) {
  const AuditText text = audit_text(report, options);
  const std::vector<Credential> keys = credentials(scan);
  auto shown = [&](const std::string& s) { return options.show_secrets ? s : redact(s); };
  write_html_head("layerleak audit: " + text.registry, out);
  out << "<h1>Audit of " << html_escape(text.registry) << "</h1>\n<p class=\"meta\">"
      << html_escape(summary_line(report, text.registry, keys.size())) << "</p>\n";

  // Repositories by risk: worst severity, then credentials, then name.
  struct Repo {
    std::optional<rules::Severity> worst;
    std::set<std::string> fingerprints;
    std::size_t images = 0;
    std::size_t tags = 0;
    bool complete = true;
  };
  std::map<std::string, Repo> repos;
  for (const ImageReport& image : scan.images) {
    Repo& r = repos[repository_of(image)];
    ++r.images;
    r.tags += image.tags.size();
    r.complete = r.complete && image.complete;
    for (const Finding& f : image.findings) {
      r.fingerprints.insert(f.fingerprint);
      if (!r.worst || f.severity > *r.worst) r.worst = f.severity;
    }
  }
  std::vector<std::pair<std::string, Repo>> ranked(repos.begin(), repos.end());
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    const int wa = a.second.worst ? static_cast<int>(*a.second.worst) : -1;
    const int wb = b.second.worst ? static_cast<int>(*b.second.worst) : -1;
    if (wa != wb) return wa > wb;
    return a.second.fingerprints.size() > b.second.fingerprints.size();
  });
  out << "<section id=\"repositories\">\n<h2>Repositories by risk</h2>\n<table>\n"
         "<tr><th>Repository</th><th>Worst</th><th>Credentials</th><th>Images</th><th>Tags</th></tr>\n";
  for (const auto& [name, r] : ranked) {
    const std::string sev = r.worst ? std::string(rules::severity_name(*r.worst)) : "none";
    out << "<tr><td><code>" << html_escape(name) << "</code>" << (r.complete ? "" : " <span class=\"incomplete\">incomplete</span>")
        << "</td><td><span class=\"sev " << sev << "\">" << sev << "</span></td><td>" << r.fingerprints.size()
        << "</td><td>" << r.images << "</td><td>" << r.tags << "</td></tr>\n";
  }
  out << "</table>\n</section>\n";

  out << "<section id=\"credentials\">\n<h2>Credentials</h2>\n";
  if (keys.empty()) out << "<p>No credential found.</p>\n";
  for (const Credential& c : keys) {
    const Finding& f = *c.first;
    const std::string sev(rules::severity_name(f.severity));
    out << "<h3><span class=\"sev " << sev << "\">" << sev << "</span> " << html_escape(f.title) << " <code>"
        << html_escape(shown(f.secret)) << "</code></h3>\n<p class=\"meta\">rule <code>" << html_escape(f.rule_id)
        << "</code>, fingerprint <code>" << html_escape(f.fingerprint) << "</code>";
    if (!f.paired_access_key.empty()) out << ", access key <code>" << html_escape(shown(f.paired_access_key)) << "</code>";
    out << "</p>\n";
    if (f.verification) {
      out << "<p class=\"" << (is_live(f) ? "sev critical" : "meta") << "\">" << html_escape(verification_line(*f.verification))
          << "</p>\n";
    }
    out << "<table>\n<tr><th>Image</th><th>Tags</th><th>Where</th></tr>\n";
    const ImageReport* current = nullptr;
    for (const Occurrence& o : c.occurrences) {
      const bool first = o.image != current;
      current = o.image;
      out << "<tr><td>";
      if (first) {
        out << "<code>" << html_escape(repository_of(*o.image) + "@" + o.image->manifest_digest) << "</code>";
        if (!o.image->platform.empty()) out << ' ' << html_escape(o.image->platform);
      }
      out << "</td><td>" << (first ? html_escape(tags_of(*o.image)) : "") << "</td><td><code>"
          << html_escape(where(*o.finding)) << "</code> " << html_escape(visibility_phrase(*o.finding)) << "</td></tr>\n";
    }
    out << "</table>\n";
  }
  out << "</section>\n";

  bool problems = !text.errors.empty() || !text.skipped.empty();
  for (const ImageReport& image : scan.images) problems = problems || !image.errors.empty();
  if (problems) {
    out << "<section id=\"problems\">\n<h2>Not scanned</h2>\n<ul>\n";
    for (const ImageReport& image : scan.images) {
      for (const ErrorEntry& e : image.errors) {
        out << "<li class=\"incomplete\"><code>" << html_escape(repository_of(image) + "@" + image.manifest_digest)
            << "</code>: " << html_escape(e.message) << "</li>\n";
      }
    }
    for (const ErrorEntry& e : text.errors) out << "<li class=\"incomplete\">" << html_escape(e.message) << "</li>\n";
    for (const AuditSkip& s : text.skipped) {
      out << "<li><code>" << html_escape(s.tag) << "</code>: " << html_escape(s.reason) << "</li>\n";
    }
    out << "</ul>\n</section>\n";
  }
  out << "</body>\n</html>\n";
  out.flush();
  if (!out) return make_error(Errc::io, "cannot write the report");
  return Ok{};
}

}  // namespace

Status write_audit_report(const AuditReport& report, Format format, const ReportOptions& options, std::ostream& out) {
  switch (format) {
    case Format::json: return write_audit_json(report, options, out);
    case Format::sarif: return write_report(report.scan, Format::sarif, options, out);
    case Format::gitlab: return make_error(Errc::unsupported, "the gitlab format describes one image: audit has json, text, html and sarif");
    case Format::text:
    case Format::html: {
      std::optional<Redacted> redacted = redact_if_needed(report.scan, options);
      const ScanReport& scan = redacted ? redacted->report : report.scan;
      return format == Format::text ? write_audit_text(report, scan, options, out) : write_audit_html(report, scan, options, out);
    }
  }
  return make_error(Errc::internal, "unknown format");
}

}  // namespace layerleak::report
