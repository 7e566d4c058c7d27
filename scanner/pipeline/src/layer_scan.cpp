#include "layer_scan.h"

namespace layerleak::pipeline {

std::string default_media_type(const std::string& compression) {
  if (compression == "gzip") return "application/vnd.docker.image.rootfs.diff.tar.gzip";
  if (compression == "zstd") return "application/vnd.docker.image.rootfs.diff.tar.zstd";
  return "application/vnd.docker.image.rootfs.diff.tar";
}

void scan_entries(archive::EntryReader& entries, detect::DetectorSession& session, const ScanOptions& options,
                  LayerResult& result) {
  while (true) {
    auto next = entries.next_entry();
    if (!next) {
      result.error = std::move(next).error();
      return;
    }
    if (!*next) return;
    const archive::Entry& entry = **next;
    ++result.entries;
    result.changes.record(entry.path, entry.type == archive::Entry::Type::directory);
    if (entry.type == archive::Entry::Type::hardlink) result.hardlinks[entry.link].push_back(entry.path);
    if (entry.type != archive::Entry::Type::file || oci::is_whiteout(entry.path)) continue;
    if (options.max_file_size != 0 && entry.size > options.max_file_size) {
      result.skipped.push_back({entry.path, std::nullopt,
                                "file of " + std::to_string(entry.size) + " bytes exceeds --max-file-size " +
                                    std::to_string(options.max_file_size)});
      continue;
    }
    session.begin(entry.path);
    while (true) {
      auto block = entries.read_block();
      if (!block) {
        result.error = std::move(block).error().with_context("while reading " + entry.path);
        // What was read of this file is still worth reporting.
        if (auto partial = session.finish()) {
          for (auto& d : *partial) result.detections.emplace_back(entry.path, std::move(d));
        }
        return;
      }
      if (block->empty()) break;
      result.bytes_scanned += block->size();
      if (auto st = session.feed(*block); !st) {
        result.error = std::move(st).error();
        return;
      }
    }
    auto found = session.finish();
    if (!found) {
      result.error = std::move(found).error();
      return;
    }
    for (auto& d : *found) result.detections.emplace_back(entry.path, std::move(d));
  }
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
class CountingReader final : public ByteReader {
 public:
  CountingReader(ByteReader& inner, ProgressMeter& meter) : inner_(inner), meter_(meter) {}
  Result<std::size_t> read(std::span<char> out) override {
    auto n = inner_.read(out);
    if (n && *n > 0) meter_.add_bytes(*n);
    return n;
  }

 private:
  ByteReader& inner_;
  ProgressMeter& meter_;
};
}  // namespace

LayerResult scan_layer(oci::ImageSource& source, const oci::Image& image, const oci::Layer& layer,
                       detect::DetectorSession& session, const ScanOptions& options, ProgressMeter& progress) {
  LayerResult result;
  auto opened = source.open_blob(image, layer);
  if (!opened) {
    result.error = std::move(opened).error();
    return result;
  }
  CountingReader counted(**opened, progress);
  ByteReader* blob = &counted;
  std::optional<Digest> expected_blob;
  if (!layer.blob.digest.empty()) expected_blob = layer.blob.digest;
  HashingReader blob_reader(*blob, expected_blob, "layer blob");
  archive::Compression compression = archive::Compression::none;
  auto decompressed = archive::open_decompressor(blob_reader, compression);
  if (!decompressed) {
    result.error = std::move(decompressed).error();
    return result;
  }
  result.compression = std::string(archive::compression_name(compression));
  std::optional<Digest> expected_diff;
  if (!layer.diff_id.empty()) expected_diff = layer.diff_id;
  // Why: an uncompressed layer's diffID is its blob digest; hashing the same bytes twice cost a
  // third of the scan time on uncompressed layers.
  const bool same_bytes = compression == archive::Compression::none;
  HashingReader tar_reader(**decompressed, same_bytes ? std::nullopt : expected_diff,
                           "layer diffID (uncompressed content)");
  ByteReader& tar_stream = same_bytes ? **decompressed : static_cast<ByteReader&>(tar_reader);
  auto entries = archive::open_tar(tar_stream);
  if (!entries) {
    result.error = std::move(entries).error();
  } else {
    scan_entries(**entries, session, options, result);
  }
  if (!result.error) {
    // The tar reader consumed its stream; make sure the blob itself was read to its end too.
    if (auto st = archive::drain(blob_reader); !st) result.error = std::move(st).error();
  }
  result.compressed_bytes = blob_reader.bytes();
  result.blob_digest = blob_reader.digest();
  result.diff_id = same_bytes ? blob_reader.digest() : tar_reader.digest();
  if (!result.error && (!result.blob_digest || !result.diff_id)) {
    result.error = make_error(Errc::internal, "layer stream was not read to its end");
  }
  if (!result.error && same_bytes && expected_diff && *expected_diff != *result.diff_id) {
    result.error = make_error(Errc::digest_mismatch, "layer diffID (uncompressed content) digest mismatch: expected " +
                                                         expected_diff->str() + ", content hashes to " + result.diff_id->str());
  }
  return result;
}

}  // namespace layerleak::pipeline
