#include "layer_scan.h"

#include <algorithm>
#include <atomic>

#include "file_scanner.h"
#include "side_scanner.h"

namespace layerleak::pipeline {

std::string default_media_type(const std::string& compression) {
  if (compression == "gzip") return "application/vnd.docker.image.rootfs.diff.tar.gzip";
  if (compression == "zstd") return "application/vnd.docker.image.rootfs.diff.tar.zstd";
  return "application/vnd.docker.image.rootfs.diff.tar";
}

namespace {

void scan_each_entry(archive::EntryReader& entries, detect::DetectorSession& session, const ScanOptions& options,
                     LayerResult& result, SideScanner* side) {
  while (true) {
    auto next = entries.next_entry();
    if (!next) {
      result.error = std::move(next).error();
      return;
    }
    if (!*next) return;
    if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
      result.error = make_error(Errc::io, "interrupted before the layer was read completely");
      return;
    }
    const archive::Entry& entry = **next;
    ++result.entries;
    result.changes.record(entry.path, entry.type == archive::Entry::Type::directory);
    if (entry.type == archive::Entry::Type::hardlink) result.hardlinks[entry.link].push_back(entry.path);
    if (!entry.skip_reason.empty()) result.skipped.push_back({entry.path, std::nullopt, entry.skip_reason});
    if (entry.type != archive::Entry::Type::file || oci::is_whiteout(entry.path)) continue;
    ++result.files;
    if (options.max_file_size != 0 && entry.size > options.max_file_size) {
      result.skipped.push_back({entry.path, std::nullopt,
                                "file of " + std::to_string(entry.size) + " bytes exceeds --max-file-size " +
                                    std::to_string(options.max_file_size)});
      continue;
    }
    if (!scan_file(entries, entry.path, entry.size, entry.exact_size, session, options, result, side)) return;
  }
}

}  // namespace

void scan_entries(archive::EntryReader& entries, detect::DetectorSession& session, const ScanOptions& options,
                  LayerResult& result, SideScanner* side) {
  scan_each_entry(entries, session, options, result, side);
  // Also after an error: what the side scanner found of this layer is reported, and it starts the next
  // layer empty.
  if (side) side->finish(result);
}

ProgressMeter::ProgressMeter(const ScanOptions& options, std::size_t layers, std::uint64_t bytes) : options_(options) {
  totals_.layers_total = layers;
  totals_.bytes_total = bytes;
}

void ProgressMeter::add_bytes(std::uint64_t n) {
  bytes_ += n;
  maybe_report(false);
}

void ProgressMeter::layer_done() {
  ++layers_;
  maybe_report(false);
}

void ProgressMeter::finish() { maybe_report(true); }

void ProgressMeter::maybe_report(bool force) {
  if (!options_.on_progress) return;
  std::unique_lock lock(mutex_, std::defer_lock);
  if (force) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return;  // another worker is reporting right now
  }
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  Progress p = totals_;
  p.bytes_done = bytes_;
  p.layers_done = layers_;
  options_.on_progress(p);
}

namespace {
// Counts the compressed bytes a layer reader pulls, for progress.
// Also holds the blob to the size its descriptor declares (when it declares one): a registry or archive
// that sends more (an endless stream of zeros after a valid gzip member, or after the tar's end, would
// otherwise be read for ever) ends the layer with an error as soon as it does, and one that sends less
// at its end, though the bytes match their digest (the size is what a pull checks a blob against, and
// what orders the scan).
class CountingReader final : public ByteReader {
 public:
  CountingReader(ByteReader& inner, ProgressLink& meter, std::int64_t declared)
      : inner_(inner), meter_(meter), declared_(declared) {}
  Result<std::size_t> read(std::span<char> out) override {
    auto n = inner_.read(out);
    if (!n) return n;
    if (*n == 0) {
      if (declared_ >= 0 && read_ < static_cast<std::uint64_t>(declared_)) {
        return make_error(Errc::digest_mismatch, "layer blob is " + std::to_string(read_) + " bytes, shorter than the " +
                                                     std::to_string(declared_) + " bytes its descriptor declares");
      }
      return n;
    }
    meter_.add(*n);
    read_ += *n;
    if (declared_ >= 0 && read_ > static_cast<std::uint64_t>(declared_)) {
      return make_error(Errc::digest_mismatch, "layer blob is longer than the " + std::to_string(declared_) +
                                                   " bytes its descriptor declares");
    }
    return n;
  }

 private:
  ByteReader& inner_;
  ProgressLink& meter_;
  std::int64_t declared_;  // -1: unknown
  std::uint64_t read_ = 0;
};

// How far inflating may run ahead of tar parsing and matching: 8 MiB for a layer while the layers the
// process reads at once (scan's -j, audit's images in flight) hold less than 16 MiB in all, 2 MiB
// otherwise. Why: matching is bursty (a large binary or package list goes through the full matcher)
// and inflating is the one step that cannot be split; with 2 MiB the inflating thread waited for room
// ~20 times a layer. Why not more: every fresh page of the ring is zeroed by the kernel on the
// inflating thread (clear_page was 6% of its time at 16 MiB). Measured on the Debian bench image
// (bench/README.md), 20 runs each: 2 MiB 0.360 s, 4 MiB 0.350 s, 8 MiB 0.340 s, 16 MiB 0.350 s. The
// process-wide budget keeps peak memory flat whatever the number of cores or images in flight.
class LookaheadBudget {
 public:
  LookaheadBudget() {
    std::size_t used = used_.load();
    do {
      bytes_ = used + kLarge <= kTotal ? kLarge : ReadAheadReader::kDefaultBufferBytes;
    } while (!used_.compare_exchange_weak(used, used + bytes_));
  }
  ~LookaheadBudget() { used_ -= bytes_; }
  LookaheadBudget(const LookaheadBudget&) = delete;
  LookaheadBudget& operator=(const LookaheadBudget&) = delete;
  std::size_t bytes() const { return bytes_; }

 private:
  static constexpr std::size_t kLarge = 8u << 20;
  static constexpr std::size_t kTotal = 16u << 20;
  inline static std::atomic<std::size_t> used_{0};
  std::size_t bytes_ = 0;
};

// SHA-256 of the blocks a read-ahead ring's tap thread sees.
class DigestTap {
 public:
  ReadAheadReader::Tap callback() {
    return [this](std::span<const char> block) {
      hash_.update(block);
      bytes_ += block.size();
    };
  }
  Digest finish() { return hash_.finish(); }
  std::uint64_t bytes() const { return bytes_; }

 private:
  Sha256 hash_;
  std::uint64_t bytes_ = 0;
};

Error digest_mismatch(const std::string& what, const Digest& expected, const Digest& computed) {
  return make_error(Errc::digest_mismatch,
                    what + " digest mismatch: expected " + expected.str() + ", content hashes to " + computed.str());
}

}  // namespace

void ProgressLink::add(std::uint64_t n) {
  std::lock_guard lock(mutex_);
  if (meter_) {
    meter_->add_bytes(n);
  } else {
    pending_ += n;
  }
}

void ProgressLink::attach(ProgressMeter& meter) {
  std::lock_guard lock(mutex_);
  meter_ = &meter;
  if (pending_ != 0) meter.add_bytes(pending_);
  pending_ = 0;
}

// What a blob layer's scan reads through, declared in the order each part is made: each reads the one
// before it, so the members go in reverse (the rings join their threads before what those threads read).
struct OpenedLayer::Streams {
  std::unique_ptr<ByteReader> blob;
  std::optional<CountingReader> counted;
  std::optional<PrefixedReader> prefixed;
  DigestTap blob_tap, tar_tap;
  std::unique_ptr<ReadAheadReader> blob_ahead;
  std::unique_ptr<ByteReader> decompressed;
  std::optional<LookaheadBudget> lookahead;
  std::unique_ptr<ReadAheadReader> ahead;
};

OpenedLayer::OpenedLayer(std::size_t image_index, std::size_t layer_index, const oci::Layer& layer)
    : image_index_(image_index), layer_index_(layer_index), declared_(layer) {}

OpenedLayer::~OpenedLayer() = default;

std::unique_ptr<OpenedLayer> OpenedLayer::open(oci::ImageSource& source, const oci::Image& image, std::size_t image_index,
                                               std::size_t layer_index) {
  const oci::Layer& layer = image.layers[layer_index];
  std::unique_ptr<OpenedLayer> self(new OpenedLayer(image_index, layer_index, layer));
  if (auto direct = source.open_entries(image, layer); !direct || *direct) {
    if (!direct) {
      self->error_ = std::move(direct).error();
    } else {
      self->direct_ = std::move(direct).value();
    }
    return self;
  }
  auto opened = source.open_blob(image, layer);
  if (!opened) {
    self->error_ = std::move(opened).error();
    return self;
  }
  self->streams_ = std::make_unique<Streams>();
  Streams& s = *self->streams_;
  s.blob = std::move(opened).value();
  s.counted.emplace(*s.blob, self->progress_, layer.blob.size);
  auto head = archive::read_head(*s.counted, 4);
  if (!head) {
    self->error_ = std::move(head).error();
    return self;
  }
  const archive::Compression compression = archive::sniff_compression(*head);
  self->compression_ = std::string(archive::compression_name(compression));
  s.prefixed.emplace(*s.counted, std::move(head).value());
  // The threads of a layer pass buffers, never copies: a ring reads the blob ahead, and for a
  // compressed blob a second ring inflates it ahead; each ring's tap thread hashes its bytes in place
  // (the blob digest, the diffID) while the scanning thread parses the tar and matches, reading the last
  // ring's buffers (libarchive is lent them). Why so many threads: inflating is the one step that
  // cannot be split, so the inflating thread does nothing else (bench/README.md has the measurements).
  // An uncompressed layer's diffID is its blob digest: one hash (hashing the same bytes twice cost a
  // third of the scan time on uncompressed layers).
  if (compression != archive::Compression::none) {
    s.blob_ahead = std::make_unique<ReadAheadReader>(
        *s.prefixed, s.blob_tap.callback(),
        ReadAheadReader::Options{ReadAheadReader::kDefaultBufferBytes, "ll-blob-read", "ll-blob-sha256"});
    archive::Compression detected = archive::Compression::none;
    auto opened_stream = archive::open_decompressor(*s.blob_ahead, detected);
    if (!opened_stream) {
      self->error_ = std::move(opened_stream).error();
      return self;
    }
    s.decompressed = std::move(opened_stream).value();
  }
  s.lookahead.emplace();
  ByteReader& tar = s.decompressed ? *s.decompressed : static_cast<ByteReader&>(*s.prefixed);
  s.ahead = std::make_unique<ReadAheadReader>(
      tar, s.tar_tap.callback(),
      ReadAheadReader::Options{s.lookahead->bytes(), s.decompressed ? "ll-inflate" : "ll-layer-read", "ll-diffid"});
  return self;
}

LayerResult OpenedLayer::scan(detect::DetectorSession& session, SideScanner* side, const ScanOptions& options) {
  LayerResult result;
  result.compression = compression_;
  if (scanned_) {
    result.error = make_error(Errc::internal, "a layer was scanned twice");
    return result;
  }
  scanned_ = true;
  if (error_) {
    result.error = std::move(error_);
    return result;
  }
  if (direct_) {
    scan_entries(*direct_, session, options, result, side);
    return result;
  }
  Streams& s = *streams_;
  {
    auto entries = archive::open_tar(*s.ahead);
    if (!entries) {
      result.error = std::move(entries).error();
    } else {
      scan_entries(**entries, session, options, result, side);
    }
  }
  // Joins the inflating and tap threads: the decompressor, the blob ring and the diffID are ours again.
  s.ahead.reset();
  if (result.error) return result;
  if (s.blob_ahead) {
    // The tar reader consumed its stream to its end (libarchive drains what follows the end-of-archive
    // blocks); make sure the blob itself was read to its end too.
    if (auto st = archive::drain(*s.blob_ahead); !st) {
      result.error = std::move(st).error();
      return result;
    }
    s.blob_ahead.reset();
  }
  const Digest content = s.tar_tap.finish();
  result.diff_id = content;
  result.blob_digest = s.decompressed ? s.blob_tap.finish() : content;
  result.compressed_bytes = s.decompressed ? s.blob_tap.bytes() : s.tar_tap.bytes();
  if (!declared_.blob.digest.empty() && declared_.blob.digest != *result.blob_digest) {
    result.error = digest_mismatch("layer blob", declared_.blob.digest, *result.blob_digest);
  } else if (!declared_.diff_id.empty() && declared_.diff_id != content) {
    result.error = digest_mismatch("layer diffID (uncompressed content)", declared_.diff_id, content);
  }
  return result;
}

}  // namespace layerleak::pipeline
