#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "layerleak/core.h"

namespace layerleak {

namespace {
Error errno_error(const std::string& what, const std::string& path) {
  int saved = errno;
  return make_error(saved == ENOENT ? Errc::not_found : Errc::io,
                    what + " " + path + ": " + std::strerror(saved));
}
}  // namespace

FileReader::FileReader(int fd, std::string path, std::uint64_t offset, std::uint64_t length)
    : fd_(fd), path_(std::move(path)), begin_(offset), position_(offset), end_(offset + length) {}

FileReader::~FileReader() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {
std::string_view file_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISDIR(mode)) return "a directory";
  return "a special file";
}
}  // namespace

Result<std::unique_ptr<FileReader>> FileReader::open(const std::string& path) {
  // Why O_NONBLOCK: opening a FIFO without a writer (or some devices) blocks forever in open(2) itself,
  // before fstat could tell what it is. The flag is dropped again once the file is known to be regular.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Error e = errno_error("cannot stat", path);
    ::close(fd);
    return e;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(Errc::unsupported, path + " is " + std::string(file_kind(st.st_mode)) +
                                             ", not a regular file: refused");
  }
  if (const int flags = ::fcntl(fd, F_GETFL); flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    Error e = errno_error("cannot set flags of", path);
    ::close(fd);
    return e;
  }
  return std::unique_ptr<FileReader>(new FileReader(fd, path, 0, static_cast<std::uint64_t>(st.st_size)));
}

Result<std::unique_ptr<FileReader>> FileReader::open_range(const std::string& path, std::uint64_t offset,
                                                           std::uint64_t length) {
  auto whole = open(path);
  if (!whole) return std::move(whole).error();
  auto& reader = **whole;
  if (offset > reader.end_ || length > reader.end_ - offset) {
    return make_error(Errc::malformed, "byte range beyond the end of " + path);
  }
  reader.begin_ = offset;
  reader.position_ = offset;
  reader.end_ = offset + length;
  return std::move(whole).value();
}

Result<std::size_t> FileReader::read(std::span<char> out) {
  std::uint64_t left = end_ - position_;
  std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, out.size()));
  if (want == 0) return std::size_t{0};
  while (true) {
    ssize_t n = ::pread(fd_, out.data(), want, static_cast<off_t>(position_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("cannot read", path_);
    if (n == 0) return make_error(Errc::io, "unexpected end of file in " + path_);
    position_ += static_cast<std::uint64_t>(n);
    return static_cast<std::size_t>(n);
  }
}

Status FileReader::read_exact_at(std::uint64_t offset, std::span<char> out) {
  if (offset > size() || out.size() > size() - offset) {
    return make_error(Errc::malformed, "unexpected end of " + path_);
  }
  std::size_t have = 0;
  while (have < out.size()) {
    ssize_t n = ::pread(fd_, out.data() + have, out.size() - have, static_cast<off_t>(begin_ + offset + have));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("cannot read", path_);
    if (n == 0) return make_error(Errc::io, "unexpected end of file in " + path_);
    have += static_cast<std::size_t>(n);
  }
  return Ok{};
}

std::string list_line_where(std::string_view option, const std::string& path, std::size_t number) {
  return std::string(option) + ": " + path + ": line " + std::to_string(number);
}

Result<std::vector<ListedLine>> read_list_file(const std::string& path, std::string_view option) {
  constexpr std::size_t kMaxBytes = 16u << 20;
  const std::string prefix(option);
  auto reader = FileReader::open(path);
  if (!reader) return make_error(reader.error().code, prefix + ": cannot read " + path + ": " + reader.error().message);
  auto text = read_all(**reader, kMaxBytes);
  if (!text) return make_error(text.error().code, prefix + ": " + path + ": " + text.error().message);
  std::vector<ListedLine> lines;
  std::size_t number = 0;
  for (std::size_t at = 0; at < text->size();) {
    const std::size_t end = std::min(text->find('\n', at), text->size());
    const std::string_view line = std::string_view(*text).substr(at, end - at);
    at = end + 1;
    ++number;
    if (line.find('\0') != std::string_view::npos) {
      return make_error(Errc::invalid_argument, list_line_where(option, path, number) + ": contains a NUL byte");
    }
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#') continue;
    lines.push_back({std::string(line.substr(first, line.find_last_not_of(" \t\r") - first + 1)), number});
  }
  return lines;
}

}  // namespace layerleak
