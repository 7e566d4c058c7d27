#include "reporters.h"

namespace layerleak::report {

Status write_sarif(const ScanReport&, const ReportOptions&, std::ostream&) {
  return make_error(Errc::unsupported, "the sarif format is not implemented yet");
}

}  // namespace layerleak::report
