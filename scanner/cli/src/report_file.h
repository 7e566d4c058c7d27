// Writing `scan -o FILE`: a report may carry full secret values (--show-secrets), so the file is written
// the way a secret must be: never through a symlink, never visible half-written, never readable by
// others when it holds secrets.
//
// Not responsible for: rendering the report (report::write_report), choosing the mode (the caller says
// whether the content is secret).
#pragma once

#include <string>
#include <string_view>

#include "layerleak/core.h"

namespace layerleak::cli {

// Checks, before any scanning, that FILE can be written: its directory exists and is writable, and FILE
// is either absent or a regular file (a symlink, directory or device is refused). Errc::io, the message
// names FILE.
Status check_report_path(const std::string& path);

// Writes `content` to a new temporary file in FILE's directory (O_CREAT|O_EXCL|O_NOFOLLOW; mode 0600
// when `secret`, otherwise 0644 less the umask), syncs it, and renames it over FILE, so FILE is always
// either the old file or the whole new one. Refuses (Errc::io, naming FILE) when FILE is by then a
// symlink or not a regular file. The temporary file is removed on every failure.
Status write_report_file(const std::string& path, std::string_view content, bool secret);

}  // namespace layerleak::cli
