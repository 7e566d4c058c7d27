// Writing the report: `scan -o FILE` and standard output. A report may carry full secret values
// (--show-secrets), so a file is written the way a secret must be: created before the scan (a bad path
// fails at once), mode 0600 whatever the umask, never through a symlink, never visible half-written.
//
// Not responsible for: rendering the report (report::write_report).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "layerleak/core.h"

namespace layerleak::cli {

// The report file being written. create() makes a temporary file next to FILE
// (O_CREAT|O_EXCL|O_NOFOLLOW, then fchmod 0600); commit() writes the content, syncs it and renames it over
// FILE, so FILE is always either the old file or the whole new one. Destroyed without a successful
// commit(): the temporary file is removed. Not thread-safe; owns its descriptor.
class ReportFile {
 public:
  // Refuses (Errc::io, the message names FILE and gives the system's reason) when FILE is a symlink, a
  // directory or not a regular file, or when its directory cannot take a new file.
  static Result<std::unique_ptr<ReportFile>> create(const std::string& path);

  // Writes `content` and renames the temporary file over FILE; refuses when FILE has meanwhile become a
  // symlink or something other than a regular file. Errc::io naming FILE.
  Status commit(std::string_view content);

  ~ReportFile();
  ReportFile(const ReportFile&) = delete;
  ReportFile& operator=(const ReportFile&) = delete;

 private:
  ReportFile(int fd, std::string path, std::string temp_path);
  int fd_;
  std::string path_;
  std::string temp_path_;
  bool committed_ = false;
};

// Writes all of `content` to `fd`, retrying short writes and EINTR. Returns 0, or the errno of the
// failure (EPIPE when the reader went away, with SIGPIPE ignored).
int write_all(int fd, std::string_view content);

}  // namespace layerleak::cli
