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
// Nested files are mostly small (.gz man pages, jars): a smaller buffer that is not zeroed keeps the
// per-file setup below the cost of reading them.
constexpr std::size_t kNestedReadBuffer = 64 * 1024;

// Reads entries with libarchive: a layer's tar stream (tar only, no filters), or a nested archive
// inside a file (every filter and the tar, zip and raw formats), from a stream or from memory.
class LibarchiveReader final : public EntryReader {
 public:
  // nested_decompressed: a nested file whose compression was removed in front of libarchive, so a raw
  // "archive" without a filter is still the decompressed content, not plain data.
  enum class Mode { layer_tar, nested, nested_decompressed };

  LibarchiveReader(ByteReader* stream, Mode mode, std::string single_name)
      : stream_(stream), lender_(dynamic_cast<BlockReader*>(stream)), mode_(mode), single_name_(std::move(single_name)),
        buffer_size_(stream == nullptr || lender_ != nullptr ? 0 : mode == Mode::layer_tar ? kReadBuffer : kNestedReadBuffer),
        buffer_(buffer_size_ == 0 ? nullptr : new char[buffer_size_]) {}

  Status open(std::string_view memory = {}) {
    if (auto loaded = load_libarchive(); !loaded) return loaded;
    handle_.reset(archive_read_new());
    if (!handle_) return make_error(Errc::internal, "cannot allocate a libarchive reader");
    if (mode_ == Mode::layer_tar) {
      // Why only tar and no filters: compression was removed in front of us (faster, and digests
      // need the exact decompressed bytes); anything that is not a tar is an error, not a guess.
      archive_read_support_format_tar(handle_.get());
      archive_read_support_format_gnutar(handle_.get());
    } else {
      archive_read_support_filter_all(handle_.get());
      archive_read_support_format_tar(handle_.get());
      archive_read_support_format_gnutar(handle_.get());
      archive_read_support_format_zip(handle_.get());
      archive_read_support_format_raw(handle_.get());  // a single compressed file (.gz, .zst, ...)
    }
    const int rc = stream_ ? archive_read_open(handle_.get(), this, nullptr, &LibarchiveReader::read_callback, nullptr)
                           : archive_read_open_memory(handle_.get(), memory.data(), memory.size());
    if (rc != ARCHIVE_OK) return failure(mode_ == Mode::layer_tar ? "cannot read the layer as a tar archive" : "cannot read the archive");
    return Ok{};
  }

  Result<std::optional<Entry>> next_entry() override {
    if (finished_) return std::optional<Entry>();
    struct archive_entry* raw = nullptr;
    int rc = archive_read_next_header(handle_.get(), &raw);
    if (rc == ARCHIVE_EOF) {
      finished_ = true;
      // libarchive stops at the end-of-archive blocks; hash whatever padding follows too.
      if (stream_) {
        if (auto st = drain(*stream_); !st) return std::move(st).error();
      }
      return std::optional<Entry>();
    }
    if (rc == ARCHIVE_WARN && raw != nullptr) {
      // Warnings (e.g. unconvertible names, odd header fields) do not lose data: keep going.
    } else if (rc != ARCHIVE_OK) {
      const char* what = mode_ == Mode::layer_tar ? "a tar archive" : "an archive";
      return failure(entries_ == 0 ? std::string("not ") + what
                                   : std::string("corrupt data after ") + std::to_string(entries_) + " entries");
    }
    // The raw format accepts any bytes; without a decompression filter in front of it, the "archive"
    // was plain data that merely started like one (text beginning with "BZh9", say).
    if (mode_ == Mode::nested && entries_ == 0 && archive_format(handle_.get()) == ARCHIVE_FORMAT_RAW &&
        archive_filter_count(handle_.get()) <= 1) {
      return make_error(Errc::malformed, "not an archive or compressed file");
    }
    ++entries_;
    Entry entry;
    const char* name = archive_entry_pathname(raw);
    if (name == nullptr) name = archive_entry_pathname_utf8(raw);
    // The raw format names its only entry "data": use the name the caller derived instead.
    const bool raw_format = archive_format(handle_.get()) == ARCHIVE_FORMAT_RAW;
    entry.path = normalize_path(raw_format ? single_name_ : (name ? name : ""));
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
    entry.exact_size = archive_entry_size_is_set(raw) && !raw_format &&
                       (archive_format(handle_.get()) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_TAR;
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
    auto* self = static_cast<LibarchiveReader*>(self_ptr);
    if (self->lender_ != nullptr) {
      // Zero-copy: libarchive reads the lender's buffer, which stays valid until the next callback.
      auto block = self->lender_->read_block();
      if (!block) return self->stream_failed(a, std::move(block).error());
      *out = block->data();
      return static_cast<la_ssize_t>(block->size());
    }
    auto n = self->stream_->read(std::span<char>(self->buffer_.get(), self->buffer_size_));
    if (!n) return self->stream_failed(a, std::move(n).error());
    *out = self->buffer_.get();
    return static_cast<la_ssize_t>(*n);
  }

  la_ssize_t stream_failed(struct archive* a, Error error) {
    stream_error_ = std::move(error);
    archive_set_error(a, EIO, "%s", stream_error_->message.c_str());
    return -1;
  }

  // The error to report: the underlying stream's own error (digest, decompression, I/O) wins over
  // libarchive's description of its consequence.
  Error failure(const std::string& what) {
    if (stream_error_) return *stream_error_;
    const char* detail = archive_error_string(handle_.get());
    return make_error(Errc::malformed, what + (detail ? std::string(": ") + detail : std::string()));
  }

  ByteReader* stream_;  // null when reading from memory
  BlockReader* lender_;  // stream_, when it lends its own buffers
  Mode mode_;
  std::string single_name_;
  std::size_t buffer_size_;
  std::unique_ptr<char[]> buffer_;
  std::unique_ptr<struct archive, ArchiveDeleter> handle_;
  std::optional<Error> stream_error_;
  std::uint64_t entries_ = 0;
  bool finished_ = false;
};

}  // namespace

Result<std::unique_ptr<EntryReader>> open_tar(ByteReader& stream) {
  auto reader = std::make_unique<LibarchiveReader>(&stream, LibarchiveReader::Mode::layer_tar, "");
  if (auto st = reader->open(); !st) return std::move(st).error();
  return std::unique_ptr<EntryReader>(std::move(reader));
}

Result<std::unique_ptr<EntryReader>> open_nested(ByteReader& stream, std::string single_name) {
  auto reader = std::make_unique<LibarchiveReader>(&stream, LibarchiveReader::Mode::nested, std::move(single_name));
  if (auto st = reader->open(); !st) return std::move(st).error();
  return std::unique_ptr<EntryReader>(std::move(reader));
}

Result<std::unique_ptr<EntryReader>> open_nested_decompressed(ByteReader& stream, std::string single_name) {
  auto reader = std::make_unique<LibarchiveReader>(&stream, LibarchiveReader::Mode::nested_decompressed, std::move(single_name));
  if (auto st = reader->open(); !st) return std::move(st).error();
  return std::unique_ptr<EntryReader>(std::move(reader));
}

Result<std::unique_ptr<EntryReader>> open_nested_memory(std::string_view bytes, std::string single_name) {
  auto reader = std::make_unique<LibarchiveReader>(nullptr, LibarchiveReader::Mode::nested, std::move(single_name));
  if (auto st = reader->open(bytes); !st) return std::move(st).error();
  return std::unique_ptr<EntryReader>(std::move(reader));
}

NestedKind sniff_nested(std::span<const char> head) {
  auto byte = [&](std::size_t i) { return i < head.size() ? static_cast<unsigned char>(head[i]) : 0u; };
  auto starts = [&](std::initializer_list<unsigned> magic) {
    std::size_t i = 0;
    for (unsigned m : magic) {
      if (i >= head.size() || byte(i) != m) return false;
      ++i;
    }
    return true;
  };
  if (starts({'P', 'K', 3, 4}) || starts({'P', 'K', 5, 6})) return NestedKind::zip;
  if (starts({0x1f, 0x8b})) return NestedKind::gzip;
  if (starts({0x28, 0xb5, 0x2f, 0xfd})) return NestedKind::zstd;
  if (starts({'B', 'Z', 'h'}) && byte(3) >= '1' && byte(3) <= '9') return NestedKind::bzip2;
  if (starts({0xfd, '7', 'z', 'X', 'Z', 0})) return NestedKind::xz;
  if (head.size() >= 262 && std::string_view(head.data() + 257, 5) == "ustar") return NestedKind::tar;
  return NestedKind::none;
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
