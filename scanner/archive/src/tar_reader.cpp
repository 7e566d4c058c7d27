#include <archive.h>
#include <archive_entry.h>

#include <vector>

#include "layerleak/archive.h"

namespace layerleak::archive {

namespace {

struct ArchiveDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

constexpr std::size_t kReadBuffer = 256 * 1024;

class TarReader final : public EntryReader {
 public:
  explicit TarReader(ByteReader& stream) : stream_(stream), buffer_(kReadBuffer) {}

  Status open() {
    handle_.reset(archive_read_new());
    if (!handle_) return make_error(Errc::internal, "cannot allocate a libarchive reader");
    // Why only tar and no filters: compression was removed in front of us (faster, and digests need
    // the exact decompressed bytes); anything that is not a tar is an error, not a guess.
    archive_read_support_format_tar(handle_.get());
    archive_read_support_format_gnutar(handle_.get());
    if (archive_read_open(handle_.get(), this, nullptr, &TarReader::read_callback, nullptr) != ARCHIVE_OK) {
      return failure("cannot read the layer as a tar archive");
    }
    return Ok{};
  }

  Result<std::optional<Entry>> next_entry() override {
    if (finished_) return std::optional<Entry>();
    struct archive_entry* raw = nullptr;
    int rc = archive_read_next_header(handle_.get(), &raw);
    if (rc == ARCHIVE_EOF) {
      finished_ = true;
      // libarchive stops at the end-of-archive blocks; hash whatever padding follows too.
      if (auto st = drain(stream_); !st) return std::move(st).error();
      return std::optional<Entry>();
    }
    if (rc == ARCHIVE_WARN && raw != nullptr) {
      // Warnings (e.g. unconvertible names, odd header fields) do not lose data: keep going.
    } else if (rc != ARCHIVE_OK) {
      return failure(entries_ == 0 ? "not a tar archive" : "corrupt tar stream after " + std::to_string(entries_) + " entries");
    }
    ++entries_;
    Entry entry;
    const char* name = archive_entry_pathname(raw);
    if (name == nullptr) name = archive_entry_pathname_utf8(raw);
    entry.path = normalize_path(name ? name : "");
    const char* hardlink = archive_entry_hardlink(raw);
    if (hardlink == nullptr) hardlink = archive_entry_hardlink_utf8(raw);
    const mode_t type = archive_entry_filetype(raw);
    if (hardlink != nullptr) {
      entry.type = Entry::Type::hardlink;
      entry.link = normalize_path(hardlink);
    } else if (type == AE_IFREG) {
      entry.type = Entry::Type::file;
    } else if (type == AE_IFDIR) {
      entry.type = Entry::Type::directory;
    } else if (type == AE_IFLNK) {
      entry.type = Entry::Type::symlink;
      const char* target = archive_entry_symlink(raw);
      if (target == nullptr) target = archive_entry_symlink_utf8(raw);
      entry.link = target ? target : "";
    } else {
      entry.type = Entry::Type::other;
    }
    entry.size = archive_entry_size_is_set(raw) ? static_cast<std::uint64_t>(archive_entry_size(raw)) : 0;
    return std::optional<Entry>(std::move(entry));
  }

  Result<std::span<const char>> read_block() override {
    const void* data = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int rc = archive_read_data_block(handle_.get(), &data, &size, &offset);
    if (rc == ARCHIVE_EOF) return std::span<const char>();
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return failure("corrupt or truncated file data");
    return std::span<const char>(static_cast<const char*>(data), size);
  }

 private:
  static la_ssize_t read_callback(struct archive* a, void* self_ptr, const void** out) {
    auto* self = static_cast<TarReader*>(self_ptr);
    auto n = self->stream_.read(std::span<char>(self->buffer_.data(), self->buffer_.size()));
    if (!n) {
      self->stream_error_ = std::move(n).error();
      archive_set_error(a, EIO, "%s", self->stream_error_->message.c_str());
      return -1;
    }
    *out = self->buffer_.data();
    return static_cast<la_ssize_t>(*n);
  }

  // The error to report: the underlying stream's own error (digest, decompression, I/O) wins over
  // libarchive's description of its consequence.
  Error failure(const std::string& what) {
    if (stream_error_) return *stream_error_;
    const char* detail = archive_error_string(handle_.get());
    return make_error(Errc::malformed, what + (detail ? std::string(": ") + detail : std::string()));
  }

  ByteReader& stream_;
  std::vector<char> buffer_;
  std::unique_ptr<struct archive, ArchiveDeleter> handle_;
  std::optional<Error> stream_error_;
  std::uint64_t entries_ = 0;
  bool finished_ = false;
};

}  // namespace

Result<std::unique_ptr<EntryReader>> open_tar(ByteReader& stream) {
  auto reader = std::make_unique<TarReader>(stream);
  if (auto st = reader->open(); !st) return std::move(st).error();
  return std::unique_ptr<EntryReader>(std::move(reader));
}

std::string normalize_path(std::string_view raw) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i <= raw.size()) {
    std::size_t slash = raw.find('/', i);
    if (slash == std::string_view::npos) slash = raw.size();
    std::string_view part = raw.substr(i, slash - i);
    if (part.empty() || part == ".") {
      // skip
    } else if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else {
      parts.push_back(part);
    }
    i = slash + 1;
  }
  std::string out;
  for (std::string_view part : parts) {
    out.push_back('/');
    out.append(part);
  }
  return out.empty() ? "/" : out;
}

}  // namespace layerleak::archive
