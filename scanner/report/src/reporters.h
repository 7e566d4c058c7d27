// The individual reporters; write_report() dispatches on the format. Internal to the report library.
#pragma once

#include "layerleak/report.h"

namespace layerleak::report {

// A location as a repository-style relative path: the file path without its leading slashes, or a
// pseudo path naming the metadata field ("image-config/config.Env[1]"). Shared by SARIF and GitLab.
std::string artifact_path(const Location& loc);

Status write_json(const ScanReport& report, const ReportOptions& options, std::ostream& out);
Status write_text(const ScanReport& report, const ReportOptions& options, std::ostream& out);
Status write_sarif(const ScanReport& report, const ReportOptions& options, std::ostream& out);
Status write_gitlab(const ScanReport& report, const ReportOptions& options, std::ostream& out);

}  // namespace layerleak::report
