#include "file_scanner.h"

#include <algorithm>

#include "side_scanner.h"

namespace layerleak::pipeline {

namespace {

// Reads the data of the current entry of an EntryReader as a ByteReader (after a prefix already taken
// from it), remembering whether a failure came from that outer stream: such a failure is the layer's
// (or the enclosing archive's) error, not the nested archive's.
class EntryDataReader final : public ByteReader {
 public:
  // Keeps a copy of the first `record_limit` bytes it serves, so that a file that only looked like an
  // archive can still be scanned as plain bytes.
  EntryDataReader(archive::EntryReader& entries, std::string prefix, std::size_t record_limit)
      : entries_(entries), pending_(std::move(prefix)), record_limit_(record_limit) {}

  // All bytes served so far, if they fit under the record limit.
  std::optional<std::string_view> served() const {
    if (served_bytes_ > recorded_.size()) return std::nullopt;
    return std::string_view(recorded_);
  }
  // The next block of the entry that was never served (for the plain-bytes fallback).
  Result<std::span<const char>> next_unserved_block() {
    if (pending_pos_ < pending_.size()) {
      auto rest = std::span<const char>(pending_.data() + pending_pos_, pending_.size() - pending_pos_);
      pending_pos_ = pending_.size();
      return rest;
    }
    if (!block_.empty()) {
      auto rest = block_;
      block_ = {};
      return rest;
    }
    if (ended_) return std::span<const char>();
    auto block = entries_.read_block();
    if (!block) {
      outer_error_ = block.error();
      return std::move(block).error();
    }
    if (block->empty()) ended_ = true;
    return *block;
  }

  Result<std::size_t> read(std::span<char> out) override {
    auto n = read_unrecorded(out);
    if (n && *n > 0) {
      served_bytes_ += *n;
      if (recorded_.size() + *n <= record_limit_) recorded_.append(out.data(), *n);
    }
    return n;
  }

 private:
  Result<std::size_t> read_unrecorded(std::span<char> out) {
    if (pending_pos_ < pending_.size()) {
      const std::size_t n = std::min(out.size(), pending_.size() - pending_pos_);
      std::copy_n(pending_.data() + pending_pos_, n, out.data());
      pending_pos_ += n;
      return n;
    }
    while (block_.empty()) {
      if (ended_) return std::size_t{0};
      auto block = entries_.read_block();
      if (!block) {
        outer_error_ = block.error();
        return std::move(block).error();
      }
      if (block->empty()) {
        ended_ = true;
        return std::size_t{0};
      }
      block_ = *block;
    }
    const std::size_t n = std::min(out.size(), block_.size());
    std::copy_n(block_.data(), n, out.data());
    block_ = block_.subspan(n);
    return n;
  }


 public:
  const std::optional<Error>& outer_error() const { return outer_error_; }

 private:
  archive::EntryReader& entries_;
  std::string pending_;
  std::size_t pending_pos_ = 0;
  std::span<const char> block_;  // the unread rest of the last block
  bool ended_ = false;
  std::size_t record_limit_;
  std::string recorded_;
  std::uint64_t served_bytes_ = 0;
  std::optional<Error> outer_error_;
};

// Limits shared by everything nested inside one file of a layer.
struct NestBudget {
  std::uint64_t outer_size = 0;
  std::uint64_t bytes = 0;
  std::uint64_t members = 0;
  bool exhausted = false;

  // Decompressed bytes the outermost file may still produce before charge() refuses them.
  std::uint64_t left(const ScanOptions& options) const {
    std::uint64_t limit = UINT64_MAX;
    if (options.max_ratio != 0) limit = ratio_limit(options);
    if (options.max_archive_bytes != 0) limit = std::min(limit, options.max_archive_bytes);
    return limit > bytes ? limit - bytes : 0;
  }
  // Adds `n` inflated bytes; past a limit, marks the budget exhausted and says why.
  std::optional<std::string> charge(std::uint64_t n, const ScanOptions& options) {
    bytes += n;
    if (options.max_ratio != 0 && bytes > ratio_limit(options)) {
      exhausted = true;
      return "decompression ratio above " + std::to_string(options.max_ratio) +
             ":1 (--max-ratio); the rest of the archive was not scanned";
    }
    if (options.max_archive_bytes != 0 && bytes > options.max_archive_bytes) {
      exhausted = true;
      return "more than " + std::to_string(options.max_archive_bytes) +
             " decompressed bytes in one archive; the rest was not scanned";
    }
    return std::nullopt;
  }

 private:
  std::uint64_t ratio_limit(const ScanOptions& options) const {
    return options.max_ratio * std::max<std::uint64_t>(outer_size, 1) + (1u << 20);
  }
};

// The name of the only member of a single compressed file: "app.log.gz" -> "app.log".
std::string single_member_name(const std::string& path) {
  std::string name = path.substr(path.rfind('/') + 1);
  for (std::string_view ext : {".gz", ".tgz", ".zst", ".bz2", ".xz"}) {
    if (name.size() > ext.size() && name.ends_with(ext)) {
      name.resize(name.size() - ext.size());
      if (ext == ".tgz") name += ".tar";
      return name;
    }
  }
  return name + ".data";
}

// Enough of a file to recognise every supported archive (a tar header's "ustar" sits at 257).
constexpr std::size_t kSniffBytes = 512;

// Bytes of a would-be archive kept for the plain-bytes fallback (see FileScanner::scan_as_plain).
constexpr std::size_t kFallbackRecord = 1 << 20;
// Compressed input read at a time for a nested .gz/.zst (most are a few KiB).
constexpr std::size_t kNestedInputBuffer = 64 * 1024;

// Why one class of ~270 lines: scan, scan_nested, scan_members and scan_as_plain recurse into each other
// over the same session, result and budget; split, they would pass all four around.
class FileScanner {
 public:
  FileScanner(detect::DetectorSession& session, const ScanOptions& options, LayerResult& result, SideScanner* side)
      : session_(session), options_(options), result_(result), side_(side) {}

  // Scans the current entry's data as `path`. Returns false when the layer itself failed (result_.error).
  bool scan(archive::EntryReader& entries, const std::string& path, std::uint64_t size, bool exact_size,
            unsigned depth, NestBudget& budget) {
    if (depth == 0) entry_path_ = path;
    // The first bytes decide whether this is an archive. Why a view: most files arrive in one block,
    // which is sniffed where it lies; only heads split over several small blocks are copied.
    std::string joined;
    std::span<const char> head;
    bool ended = false;
    while (head.size() < kSniffBytes) {
      if (!head.empty() && joined.empty()) {
        // The next read_block() may reuse the buffer `head` points into: keep a copy first.
        joined.assign(head.data(), head.size());
        head = std::span<const char>(joined.data(), joined.size());
      }
      auto block = entries.read_block();
      if (!block) return fail_outer(std::move(block).error(), path);
      if (block->empty()) {
        ended = true;
        break;
      }
      if (!count(block->size(), path, depth, budget)) return true;  // next_entry() skips the rest
      if (head.empty()) {
        head = *block;
        continue;
      }
      joined.append(block->data(), block->size());
      head = std::span<const char>(joined.data(), joined.size());
    }
    archive::NestedKind kind = archive::sniff_git(path, head);
    if (kind == archive::NestedKind::none) kind = archive::sniff_nested(head);
    if (kind != archive::NestedKind::none && options_.max_archive_depth > 0) {
      if (kind == archive::NestedKind::git_pack && size > options_.max_zip_buffer) {
        // Why not streamed: deltas refer back anywhere in the pack, which must be in memory.
        skip(path, "git pack of " + std::to_string(size) + " bytes is larger than the in-memory limit of " +
                       std::to_string(options_.max_zip_buffer) + " bytes; scanned as plain bytes");
      } else if (depth >= options_.max_archive_depth) {
        skip(path, "archive nested deeper than --max-archive-depth " + std::to_string(options_.max_archive_depth) +
                       "; scanned as plain bytes");
      } else {
        // An archive's own bytes are not given to the detector (its members' are, counted as they are
        // read; scan_as_plain counts them if it turns out not to be one).
        result_.bytes_scanned -= head.size();
        if (depth == 0 && side_ && side_->accepts(size)) return hand_over(entries, head, ended, path);
        return scan_nested(entries, std::string(head.data(), head.size()), kind, path, size, depth, budget);
      }
    }
    // Plain file: feed the head, then the rest. Where the reader delivers exactly the entry's size (tar),
    // the block that reaches it is fed as the file's last: the detector then need not copy a gated file
    // aside. Why not trusted elsewhere: a zip member's declared size can be set to a block boundary
    // before a key, and a file of a directory can grow while it is read; all their bytes are scanned.
    session_.begin(path);
    std::uint64_t fed = head.size();
    bool last = ended || (exact_size && fed == size);
    if (!feed(head, last)) return false;
    while (!ended) {
      auto block = entries.read_block();
      if (!block) {
        collect(path);  // what was read of this file is still worth reporting
        return fail_outer(std::move(block).error(), path);
      }
      if (block->empty()) break;
      if (last) {  // cannot happen with an exact size; never scanned past quietly
        collect(path);
        return fail_outer(Error{Errc::malformed, "more data than its declared size of " + std::to_string(size) + " bytes"}, path);
      }
      if (options_.cancel && options_.cancel->load(std::memory_order_relaxed)) {
        collect(path);
        result_.error = make_error(Errc::io, "interrupted while reading " + path);
        return false;
      }
      if (!count(block->size(), path, depth, budget)) {
        collect(path);
        return true;  // next_entry() skips the rest
      }
      fed += block->size();
      last = exact_size && fed == size;
      if (!feed(*block, last)) return false;
    }
    collect(path);
    return true;
  }

 private:
  // Gives a small nested archive to the side scanner whole: the rest of its bytes are read here, since
  // the layer's stream must move on.
  bool hand_over(archive::EntryReader& entries, std::span<const char> head, bool ended, const std::string& path) {
    std::string content(head.data(), head.size());
    while (!ended) {
      auto block = entries.read_block();
      if (!block) return fail_outer(std::move(block).error(), path);
      if (block->empty()) break;
      // Only a file that grows while a directory is read can go past its size; what fits is scanned.
      if (content.size() + block->size() > SideScanner::kMaxFileBytes) {
        skip(path, "file grew past " + std::to_string(SideScanner::kMaxFileBytes) +
                       " bytes while being read; the first " + std::to_string(content.size()) + " bytes were scanned");
        break;
      }
      content.append(block->data(), block->size());
    }
    side_->submit(path, std::move(content), result_);
    return true;
  }

  bool scan_nested(archive::EntryReader& entries, std::string head, archive::NestedKind kind,
                   const std::string& path, std::uint64_t size, unsigned depth, NestBudget& budget) {
    EntryDataReader data(entries, std::move(head), kFallbackRecord);
    std::string buffered;  // zip: the whole file, read from memory for random access
    std::unique_ptr<ByteReader> decompressor;  // gzip, zstd: outlives `nested`, which reads from it
    Result<std::unique_ptr<archive::EntryReader>> nested = make_error(Errc::internal, "not opened");
    const bool git_pack = kind == archive::NestedKind::git_pack;
    if ((kind == archive::NestedKind::zip || git_pack) && size <= options_.max_zip_buffer) {
      auto all = read_all(data, options_.max_zip_buffer);
      if (!all) {
        if (data.outer_error()) return fail_outer(*data.outer_error(), path);
        skip(path, std::string(git_pack ? "cannot read git pack: " : "cannot read zip archive: ") + all.error().message);
        return true;
      }
      // Why not a fallback buffer: the whole file is in memory already.
      buffered = std::move(all).value();
      if (git_pack) {
        archive::GitLimits limits;
        // Inflated bytes that are not members (trees, deltas) count against the same budget.
        limits.charge = [this, &path, &budget](std::uint64_t n) { return charge(n, path, budget); };
        // The pass naming blobs by path is not charged (it inflates again what the serving pass charges)
        // but stays within what the budget has left, so --max-ratio bounds it too.
        limits.max_naming_bytes = std::min(limits.max_naming_bytes, budget.left(options_));
        nested = archive::open_git_pack(buffered, std::move(limits));
      } else {
        nested = archive::open_nested_memory(buffered, single_member_name(path));
      }
    } else if (kind == archive::NestedKind::git_loose) {
      nested = archive::open_git_loose(data, path);
    } else if (kind == archive::NestedKind::gzip || kind == archive::NestedKind::zstd) {
      // ISA-L and libzstd in front of libarchive, as for layers (libarchive's own gzip filter is zlib).
      archive::Compression compression = archive::Compression::none;
      // Trailing bytes after a nested .gz do not hide its content: gzip -d decompresses it too.
      auto plain = archive::open_decompressor(data, compression, {kNestedInputBuffer, /*ignore_trailing_garbage=*/true});
      if (plain) {
        decompressor = std::move(plain).value();
        nested = archive::open_nested_decompressed(*decompressor, single_member_name(path));
      } else {
        nested = std::move(plain).error();
      }
    } else {
      nested = archive::open_nested(data, single_member_name(path));
    }
    if (!nested) {
      if (data.outer_error()) return fail_outer(*data.outer_error(), path);
      return scan_as_plain(data, buffered, path, depth, budget, nested.error());
    }
    return scan_members(**nested, data, buffered, path, depth, budget);
  }

  // Scans every member of an opened nested archive (`buffered`: its bytes when it was read into memory).
  bool scan_members(archive::EntryReader& nested, EntryDataReader& data, const std::string& buffered,
                    const std::string& path, unsigned depth, NestBudget& budget) {
    bool any_member = false;
    while (!budget.exhausted) {
      auto member = nested.next_entry();
      if (!member) {
        if (data.outer_error()) return fail_outer(*data.outer_error(), path);
        if (budget.exhausted) return true;  // the limit was reported where it was hit
        if (!any_member) return scan_as_plain(data, buffered, path, depth, budget, member.error());
        skip(path, "archive member unreadable (truncated or corrupt), the rest of the archive was not scanned: " +
                       member.error().message);
        return true;
      }
      any_member = true;
      if (!*member) break;
      if (++budget.members > options_.max_archive_members) {
        skip(path, "more than --max-archive-members " + std::to_string(options_.max_archive_members) +
                       " members; the rest was not scanned");
        budget.exhausted = true;
        break;
      }
      const std::string member_path = path + "!" + (*member)->path;
      if (!(*member)->skip_reason.empty()) skip(member_path, (*member)->skip_reason);
      if ((*member)->type != archive::Entry::Type::file) continue;
      if (!scan(nested, member_path, (*member)->size, (*member)->exact_size, depth + 1, budget)) {
        // A failure inside the nested reader is this archive's problem unless it came from outside.
        if (data.outer_error()) return fail_outer(*data.outer_error(), path);
        const Error inner = *result_.error;
        result_.error.reset();
        skip(member_path, "archive member unreadable: " + inner.message);
        return true;
      }
    }
    return true;
  }

  // A file that started like an archive but is not one: scan its bytes as they are. The bytes already
  // consumed come from memory (the zip buffer or the fallback record), the rest from the entry.
  bool scan_as_plain(EntryDataReader& data, const std::string& buffered, const std::string& path, unsigned depth,
                     NestBudget& budget, const Error& why) {
    std::optional<std::string_view> consumed = buffered.empty() ? data.served() : std::optional<std::string_view>(buffered);
    if (!consumed) {
      skip(path, "looks like an archive but cannot be read, and too much was read to scan it as plain bytes: " + why.message);
      return true;
    }
    // Reported, because members a real but corrupt archive would hide were not looked at.
    skip(path, "looks like an archive but cannot be read (" + why.message + "); scanned as plain bytes");
    session_.begin(path);
    result_.bytes_scanned += consumed->size();
    if (!feed(*consumed)) return false;
    while (buffered.empty()) {
      auto block = data.next_unserved_block();
      if (!block) {
        collect(path);
        return fail_outer(std::move(block).error(), path);
      }
      if (block->empty()) break;
      if (!count(block->size(), path, depth, budget)) break;
      if (!feed(*block)) return false;
    }
    collect(path);
    return true;
  }

  // Adds decompressed bytes to the budget of the outermost file; false (and a skip) past a limit.
  bool count(std::uint64_t n, const std::string& path, unsigned depth, NestBudget& budget) {
    result_.bytes_scanned += n;
    if (depth == 0) return true;
    return charge(n, path, budget);
  }

  // Adds inflated bytes to the budget of the outermost file without scanning them (git trees, deltas).
  bool charge(std::uint64_t n, const std::string& path, NestBudget& budget) {
    auto refused = budget.charge(n, options_);
    if (refused) skip(path, std::move(*refused));
    return !refused;
  }

  bool feed(std::span<const char> bytes, bool last = false) {
    if (bytes.empty()) return true;
    if (auto st = session_.feed(bytes, last); !st) {
      result_.error = std::move(st).error();
      return false;
    }
    return true;
  }

  void collect(const std::string& path) {
    auto found = session_.finish();
    if (!found) {
      if (!result_.error) result_.error = std::move(found).error();
      return;
    }
    for (auto& d : *found) result_.detections.push_back(FoundSecret{path, entry_path_, std::move(d)});
  }

  bool fail_outer(Error error, const std::string& path) {
    result_.error = error.with_context("while reading " + path);
    return false;
  }

  void skip(const std::string& path, std::string reason) {
    result_.skipped.push_back({path, std::nullopt, std::move(reason)});
  }

  detect::DetectorSession& session_;
  const ScanOptions& options_;
  LayerResult& result_;
  SideScanner* side_;
  std::string entry_path_;  // the layer entry being scanned (depth 0)
};

}  // namespace

bool scan_file(archive::EntryReader& entries, const std::string& path, std::uint64_t size, bool exact_size,
               detect::DetectorSession& session, const ScanOptions& options, LayerResult& result, SideScanner* side) {
  NestBudget budget;
  budget.outer_size = size;
  return FileScanner(session, options, result, side).scan(entries, path, size, exact_size, 0, budget);
}

}  // namespace layerleak::pipeline
