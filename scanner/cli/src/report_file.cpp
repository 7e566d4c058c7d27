#include "report_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
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

// Closes the descriptor and removes the temporary file unless commit() ran.
class TempFile {
 public:
  TempFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }
  void commit() { committed_ = true; }

 private:
  int fd_;
  std::string path_;
  bool committed_ = false;
};

// A new file next to FILE, named ".<name>.tmp-<random>". Why random and O_EXCL: the directory may be
// shared; a name someone else created (a symlink planted there included) is never opened, only skipped.
Result<std::unique_ptr<TempFile>> create_temp(const std::string& path, bool secret) {
  const std::filesystem::path target(path);
  std::random_device random;
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[17];
    std::snprintf(suffix, sizeof suffix, "%08x%08x", random(), random());
    std::string name = target.filename().string();
    name.insert(0, 1, '.');
    name.append(".tmp-").append(suffix);
    const std::string temp = (std::filesystem::path(directory_of(path)) / name).string();
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, secret ? 0600 : 0644);
    if (fd >= 0) return std::make_unique<TempFile>(fd, temp);
    if (errno != EEXIST) return file_error(path, "cannot create a temporary file next to it: " + std::string(std::strerror(errno)));
  }
  return file_error(path, "cannot create a temporary file next to it: every name tried exists");
}

}  // namespace

Status check_report_path(const std::string& path) {
  if (auto st = check_target(path); !st) return st;
  const std::string dir = directory_of(path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return file_error(path, "directory " + dir + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return file_error(path, dir + " is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return file_error(path, "directory " + dir + ": " + std::strerror(errno));
  return Ok{};
}

Status write_report_file(const std::string& path, std::string_view content, bool secret) {
  if (auto st = check_target(path); !st) return st;
  auto temp = create_temp(path, secret);
  if (!temp) return std::move(temp).error();
  TempFile& file = **temp;
  while (!content.empty()) {
    const ssize_t n = ::write(file.fd(), content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return file_error(path, std::strerror(n < 0 ? errno : EIO));
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  // Why fsync before rename: after a crash FILE must be the old report or the whole new one, never empty.
  if (::fsync(file.fd()) != 0) return file_error(path, std::strerror(errno));
  if (!file.close()) return file_error(path, std::strerror(errno));
  // Checked again: a symlink planted while the scan ran is refused as one present at the start was.
  if (auto st = check_target(path); !st) return st;
  if (std::rename(file.path().c_str(), path.c_str()) != 0) return file_error(path, std::strerror(errno));
  file.commit();
  return Ok{};
}

}  // namespace layerleak::cli
