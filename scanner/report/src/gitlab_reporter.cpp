#include "reporters.h"

namespace layerleak::report {

Status write_gitlab(const ScanReport&, const ReportOptions&, std::ostream&) {
  return make_error(Errc::unsupported, "the gitlab format is not implemented yet");
}

}  // namespace layerleak::report
