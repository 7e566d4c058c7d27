#include "report_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

namespace layerleak::cli {

namespace {

Error file_error(const std::string& path, const std::string& why) {
  return make_error(Errc::io, "cannot write the report to " + path + ": " + why);
}

std::string directory_of(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? std::string(".") : parent;
}

// FILE must be absent or a regular file that is not a symlink.
Status check_target(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Ok{};
    return file_error(path, std::strerror(errno));
  }
  if (S_ISLNK(st.st_mode)) return file_error(path, "it is a symbolic link; refusing to follow or replace it");
  if (S_ISDIR(st.st_mode)) return file_error(path, "it is a directory");
  if (!S_ISREG(st.st_mode)) return file_error(path, "it is not a regular file");
  return Ok{};
}

}  // namespace

ReportFile::ReportFile(int fd, std::string path, std::string temp_path)
    : fd_(fd), path_(std::move(path)), temp_path_(std::move(temp_path)) {}

ReportFile::~ReportFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

// A new file next to FILE, named ".<name>.tmp-<random>". Why random and O_EXCL: the directory may be
// shared; a name someone else created (a symlink planted there included) is never opened, only skipped.
// Why fchmod: the umask could leave 0400 or less; the owner must be able to read and replace the report,
// nobody else may read it, whether or not it holds full secrets (a redacted report still maps them).
Result<std::unique_ptr<ReportFile>> ReportFile::create(const std::string& path) {
  if (auto st = check_target(path); !st) return std::move(st).error();
  const std::filesystem::path target(path);
  std::random_device random;
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[17];
    std::snprintf(suffix, sizeof suffix, "%08x%08x", random(), random());
    std::string name = target.filename().string();
    name.insert(0, 1, '.');
    name.append(".tmp-").append(suffix);
    const std::string temp = (std::filesystem::path(directory_of(path)) / name).string();
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
      std::unique_ptr<ReportFile> file(new ReportFile(fd, path, temp));
      if (::fchmod(fd, 0600) != 0) return file_error(path, std::strerror(errno));
      return file;
    }
    if (errno != EEXIST) return file_error(path, std::strerror(errno));
  }
  return file_error(path, "cannot create a temporary file next to it: every name tried exists");
}

Status ReportFile::commit(std::string_view content) {
  if (const int err = write_all(fd_, content); err != 0) return file_error(path_, std::strerror(err));
  // Why fsync before rename: after a crash FILE must be the old report or the whole new one, never empty.
  if (::fsync(fd_) != 0) return file_error(path_, std::strerror(errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return file_error(path_, std::strerror(errno));
  // Checked again: a symlink planted while the scan ran is refused as one present at the start was.
  if (auto st = check_target(path_); !st) return st;
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) return file_error(path_, std::strerror(errno));
  committed_ = true;
  return Ok{};
}

int write_all(int fd, std::string_view content) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

}  // namespace layerleak::cli
