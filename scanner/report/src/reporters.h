// The individual reporters; write_report() dispatches on the format. Internal to the report library.
#pragma once

#include "layerleak/report.h"

namespace layerleak::report {

// A location as a repository-style relative path: the file path without its leading slashes, or a
// pseudo path naming the metadata field ("image-config/config.Env[1]"). Shared by SARIF and GitLab.
std::string artifact_path(const Location& loc);

// How a finding's file is visible in the final image, in words: `what` ("deleted by layer 2") and, when
// it matters, the `consequence` ("still in the image: anyone who pulls it can read it"). The one wording
// of visibility for every human-readable format.
struct VisibilityWords {
  std::string what;
  std::string consequence;
};
VisibilityWords visibility_words(const Finding& f);
std::string visibility_phrase(const Finding& f);    // "deleted by layer 2 (still in the image: …)"
std::string visibility_sentence(const Finding& f);  // "Deleted by layer 2, still in the image: …."

// A report and options as they may leave the process: see redact_report. Also masks options.commit_sha
// (it comes from an image label). nullopt when there is nothing to mask and no redact_text hook, so
// write_report can skip the copy.
struct Redacted {
  ScanReport report;
  ReportOptions options;
};
std::optional<Redacted> redact_if_needed(const ScanReport& report, const ReportOptions& options);

// HTML shared by the scan and audit pages (html_reporter.cpp): text escaped for an element or a quoted
// attribute, and the document head up to <body> (CSP without scripts, the one style sheet).
std::string html_escape(std::string_view raw);
void write_html_head(const std::string& title, std::ostream& out);

Status write_json(const ScanReport& report, const ReportOptions& options, std::ostream& out);
Status write_text(const ScanReport& report, const ReportOptions& options, std::ostream& out);
Status write_sarif(const ScanReport& report, const ReportOptions& options, std::ostream& out);
Status write_gitlab(const ScanReport& report, const ReportOptions& options, std::ostream& out);
Status write_html(const ScanReport& report, const ReportOptions& options, std::ostream& out);

}  // namespace layerleak::report
