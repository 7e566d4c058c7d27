#include <algorithm>
#include <filesystem>
#include <vector>

#include "layerleak/archive.h"

namespace layerleak::archive {

namespace {

namespace fs = std::filesystem;

class DirectoryReader final : public EntryReader {
 public:
  DirectoryReader(std::string root, std::vector<fs::path> paths)
      : root_(std::move(root)), paths_(std::move(paths)), buffer_(256 * 1024) {}

  Result<std::optional<Entry>> next_entry() override {
    current_.reset();
    if (next_ >= paths_.size()) return std::optional<Entry>();
    const fs::path& path = paths_[next_++];
    std::error_code ec;
    const fs::file_status status = fs::symlink_status(path, ec);
    Entry entry;
    entry.path = normalize_path(fs::relative(path, root_, ec).string());
    if (fs::is_symlink(status)) {
      entry.type = Entry::Type::symlink;
      entry.link = fs::read_symlink(path, ec).string();
    } else if (fs::is_directory(status)) {
      entry.type = Entry::Type::directory;
    } else if (fs::is_regular_file(status)) {
      entry.type = Entry::Type::file;
      entry.size = fs::file_size(path, ec);
      auto reader = FileReader::open(path.string());
      if (!reader) return std::move(reader).error();
      current_ = std::move(reader).value();
    } else {
      entry.type = Entry::Type::other;
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
  std::string root_;
  std::vector<fs::path> paths_;
  std::size_t next_ = 0;
  std::unique_ptr<FileReader> current_;
  std::vector<char> buffer_;
};

}  // namespace

Result<std::unique_ptr<EntryReader>> open_directory(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return make_error(Errc::not_found, "no such directory: " + root);
  std::vector<fs::path> paths;
  // Why collect then sort: directory iteration order is filesystem-dependent; reports must not be.
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) return make_error(Errc::io, "cannot read directory " + root + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return make_error(Errc::io, "cannot read directory " + root + ": " + ec.message());
    paths.push_back(it->path());
  }
  std::sort(paths.begin(), paths.end());
  return std::unique_ptr<EntryReader>(std::make_unique<DirectoryReader>(root, std::move(paths)));
}

}  // namespace layerleak::archive
