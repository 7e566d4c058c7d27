// The individual reporters; write_report() dispatches on the format. Internal to the report library.
#pragma once

#include "layerleak/report.h"

namespace layerleak::report {

Status write_json(const ScanReport& report, const ReportOptions& options, std::ostream& out);
Status write_text(const ScanReport& report, const ReportOptions& options, std::ostream& out);
Status write_sarif(const ScanReport& report, const ReportOptions& options, std::ostream& out);
Status write_gitlab(const ScanReport& report, const ReportOptions& options, std::ostream& out);

}  // namespace layerleak::report
