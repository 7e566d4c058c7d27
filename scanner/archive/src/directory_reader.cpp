// open_directory: a root filesystem on disk read as entries, like a layer. The tree may belong to
// someone else and change while it is read, so every name is opened relative to its parent directory's
// descriptor with O_NOFOLLOW: a directory or file swapped for a symlink after it was listed is never
// followed out of the tree, and a file swapped for a FIFO never blocks (O_NONBLOCK, then fstat).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "layerleak/archive.h"

namespace layerleak::archive {

namespace {

// One owned descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

Error errno_error(const std::string& what, const std::string& path) {
  return make_error(Errc::io, what + " " + path + ": " + std::strerror(errno));
}

// Reads an already opened regular file.
class FdReader final : public ByteReader {
 public:
  FdReader(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Result<std::size_t> read(std::span<char> out) override {
    while (true) {
      const ssize_t n = ::read(fd_.get(), out.data(), out.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return errno_error("cannot read", path_);
    }
  }

 private:
  Fd fd_;
  std::string path_;
};

// The names in an open directory (not "." or ".."), sorted. Why sorted: directory order depends on the
// filesystem; reports must not.
Result<std::vector<std::string>> list_names(int dir_fd, const std::string& path) {
  const int copy = ::dup(dir_fd);  // closedir closes the descriptor it was given
  if (copy < 0) return errno_error("cannot read directory", path);
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(copy));
  if (!dir) {
    ::close(copy);
    return errno_error("cannot read directory", path);
  }
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* item = ::readdir(dir.get());
    if (!item) break;
    const std::string_view name = item->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  if (errno != 0) return errno_error("cannot read directory", path);
  std::sort(names.begin(), names.end());
  return names;
}

std::string_view kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

constexpr const char* kReplaced = "replaced while the directory was read (not followed)";

class DirectoryReader final : public EntryReader {
 public:
  DirectoryReader(std::string root, Fd root_fd, std::vector<std::string> names) : root_(std::move(root)), buffer_(256 * 1024) {
    stack_.push_back(Frame{std::move(root_fd), "", std::move(names), 0});
  }

  // Why a function over 60 lines: one branch per file type, each short, reads best in one place.
  Result<std::optional<Entry>> next_entry() override {
    current_.reset();
    while (!stack_.empty() && stack_.back().next >= stack_.back().names.size()) stack_.pop_back();
    if (stack_.empty()) return std::optional<Entry>();
    Frame& parent = stack_.back();
    const std::string name = parent.names[parent.next++];
    const int parent_fd = parent.fd.get();
    Entry entry;
    entry.path = parent.path + "/" + name;
    const std::string disk_path = root_ + entry.path;
    struct stat st {};
    if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) return errno_error("cannot read", disk_path);
      entry.skip_reason = "removed while the directory was read";
      return std::optional<Entry>(std::move(entry));
    }
    if (S_ISLNK(st.st_mode)) {
      entry.type = Entry::Type::symlink;
      std::vector<char> target(static_cast<std::size_t>(std::max<off_t>(st.st_size, 0)) + 256);
      const ssize_t n = ::readlinkat(parent_fd, name.c_str(), target.data(), target.size());
      if (n >= 0) entry.link.assign(target.data(), static_cast<std::size_t>(n));
    } else if (S_ISDIR(st.st_mode)) {
      entry.type = Entry::Type::directory;
      Fd dir(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (dir.get() < 0) {
        if (errno == EACCES) {
          entry.skip_reason = "directory not readable: " + std::string(std::strerror(errno));
        } else if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT) {
          entry.skip_reason = kReplaced;
        } else {
          return errno_error("cannot open directory", disk_path);
        }
        return std::optional<Entry>(std::move(entry));
      }
      auto names = list_names(dir.get(), disk_path);
      if (!names) return std::move(names).error();
      // `parent` may dangle after this push; it is not used again.
      stack_.push_back(Frame{std::move(dir), entry.path, std::move(names).value(), 0});
    } else if (S_ISREG(st.st_mode)) {
      Fd file(::openat(parent_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      struct stat opened {};
      if (file.get() < 0) {
        if (errno != ELOOP && errno != ENOENT) return errno_error("cannot open", disk_path);
        entry.skip_reason = kReplaced;
        return std::optional<Entry>(std::move(entry));
      }
      // What was opened decides, not what was listed: the name may have been swapped in between.
      if (::fstat(file.get(), &opened) != 0) return errno_error("cannot read", disk_path);
      if (!S_ISREG(opened.st_mode)) {
        entry.skip_reason = kReplaced;
        return std::optional<Entry>(std::move(entry));
      }
      if (const int flags = ::fcntl(file.get(), F_GETFL); flags < 0 || ::fcntl(file.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
        return errno_error("cannot read", disk_path);
      }
      entry.type = Entry::Type::file;
      entry.size = static_cast<std::uint64_t>(opened.st_size);
      current_ = std::make_unique<FdReader>(std::move(file), disk_path);
    } else {
      entry.skip_reason = std::string(kind_of(st.st_mode)) + ", not a regular file: not read";
    }
    return std::optional<Entry>(std::move(entry));
  }

  Result<std::span<const char>> read_block() override {
    if (!current_) return std::span<const char>();
    auto n = current_->read(std::span<char>(buffer_.data(), buffer_.size()));
    if (!n) return std::move(n).error();
    return std::span<const char>(buffer_.data(), *n);
  }

 private:
  struct Frame {
    Fd fd;                           // the directory, opened relative to its parent without following links
    std::string path;                // its normalised path in the tree ("" for the root)
    std::vector<std::string> names;  // its entries, sorted
    std::size_t next = 0;
  };

  std::string root_;
  std::vector<Frame> stack_;  // the directories being walked, root first; each holds one descriptor
  std::unique_ptr<ByteReader> current_;
  std::vector<char> buffer_;
};

}  // namespace

Result<std::unique_ptr<EntryReader>> open_directory(const std::string& root) {
  // The root itself may be a symlink (the user named it); nothing below it is followed.
  Fd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return make_error(Errc::not_found, "no such directory: " + root);
    return errno_error("cannot read directory", root);
  }
  auto names = list_names(fd.get(), root);
  if (!names) return std::move(names).error();
  std::string prefix = root;
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  if (prefix == "/") prefix.clear();
  return std::unique_ptr<EntryReader>(std::make_unique<DirectoryReader>(std::move(prefix), std::move(fd), std::move(names).value()));
}

}  // namespace layerleak::archive
