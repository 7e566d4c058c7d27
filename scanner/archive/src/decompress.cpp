#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "layerleak/archive.h"

namespace layerleak::archive {

std::string_view compression_name(Compression c) noexcept {
  switch (c) {
    case Compression::none: return "none";
    case Compression::gzip: return "gzip";
    case Compression::zstd: return "zstd";
  }
  return "unknown";
}

namespace {

// Why 256 KiB: large enough that per-call overhead of the decompressors disappears, small enough to
// stay in L2 next to the matcher's tables.
constexpr std::size_t kInputBuffer = 256 * 1024;

// Buffers input from the compressed reader; `prefix` holds the sniffed bytes, served first. From a
// reader that lends its blocks (a read-ahead ring), the blocks are read in place instead of copied.
class InputBuffer {
 public:
  // Why not std::vector: it would zero the buffer, which costs more than inflating a small nested .gz.
  InputBuffer(ByteReader& inner, std::string prefix, std::size_t capacity)
      : inner_(inner), lender_(dynamic_cast<BlockReader*>(&inner)), capacity_(std::max(capacity, prefix.size())),
        buffer_(new char[lender_ != nullptr ? prefix.size() : capacity_]) {
    std::memcpy(buffer_.get(), prefix.data(), prefix.size());
    data_ = buffer_.get();
    size_ = prefix.size();
  }
  // Ensures at least one unread byte unless the inner stream ended. Returns false at end.
  Result<bool> fill() {
    if (pos_ < size_) return true;
    if (eof_) return false;
    pos_ = 0;
    if (lender_ != nullptr) {
      auto block = lender_->read_block();  // valid until the next fill(): consumers use data() before it
      if (!block) return std::move(block).error();
      data_ = block->data();
      size_ = block->size();
    } else {
      auto n = inner_.read(std::span<char>(buffer_.get(), capacity_));
      if (!n) return std::move(n).error();
      data_ = buffer_.get();
      size_ = *n;
    }
    if (size_ == 0) eof_ = true;
    return size_ > 0;
  }
  const char* data() const { return data_ + pos_; }
  std::size_t available() const { return size_ - pos_; }
  void consume(std::size_t n) { pos_ += n; }

 private:
  ByteReader& inner_;
  BlockReader* lender_;
  std::size_t capacity_;
  std::unique_ptr<char[]> buffer_;
  const char* data_ = nullptr;
  std::size_t pos_ = 0;
  std::size_t size_ = 0;
  bool eof_ = false;
};

// gzip through ISA-L's streaming inflate (~4x zlib here). Handles multi-member streams; trailing
// zero padding is accepted, any other trailing bytes are an error unless `ignore_trailing` (then they
// end the stream, as `gzip -d` does with a warning).
class GzipReader final : public ByteReader {
 public:
  GzipReader(ByteReader& inner, std::string prefix, std::size_t buffer, bool ignore_trailing)
      : input_(inner, std::move(prefix), buffer), state_(new inflate_state), ignore_trailing_(ignore_trailing) {
    start_member();
  }

  Result<std::size_t> read(std::span<char> out) override {
    if (done_ || out.empty()) return std::size_t{0};
    while (true) {
      if (state_->block_state == ISAL_BLOCK_FINISH) {
        auto more = next_member();
        if (!more) return std::move(more).error();
        if (!*more) {
          done_ = true;
          return std::size_t{0};
        }
      }
      auto filled = input_.fill();
      if (!filled) return std::move(filled).error();
      state_->next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(input_.data()));
      state_->avail_in = static_cast<uint32_t>(input_.available());
      state_->next_out = reinterpret_cast<uint8_t*>(out.data());
      state_->avail_out = static_cast<uint32_t>(std::min<std::size_t>(out.size(), UINT32_MAX));
      const uint32_t before_in = state_->avail_in;
      int rc = isal_inflate(state_.get());
      input_.consume(before_in - state_->avail_in);
      if (rc < 0) return make_error(Errc::malformed, error_text(rc));
      std::size_t produced = out.size() - state_->avail_out;
      if (produced > 0) return produced;
      if (!*filled && state_->block_state != ISAL_BLOCK_FINISH) {
        return make_error(Errc::malformed, "truncated gzip stream (unexpected end of compressed data)");
      }
    }
  }

 private:
  void start_member() {
    isal_inflate_init(state_.get());
    state_->crc_flag = ISAL_GZIP;
  }

  // After a member ended: true if another gzip member follows, false at a clean end.
  Result<bool> next_member() {
    while (true) {
      auto filled = input_.fill();
      if (!filled) return std::move(filled).error();
      if (!*filled) return false;
      const unsigned char c = static_cast<unsigned char>(input_.data()[0]);
      if (c == 0) {
        input_.consume(1);
        continue;
      }
      if (c == 0x1f) {
        start_member();
        return true;
      }
      if (ignore_trailing_) return false;
      return make_error(Errc::malformed, "unexpected bytes after the end of the gzip stream");
    }
  }

  static std::string error_text(int rc) {
    switch (rc) {
      case ISAL_INCORRECT_CHECKSUM: return "corrupt gzip stream (CRC mismatch)";
      case ISAL_INVALID_WRAPPER: return "corrupt gzip stream (invalid gzip header)";
      case ISAL_UNSUPPORTED_METHOD: return "unsupported gzip compression method";
      default: return "corrupt gzip stream (invalid deflate data, code " + std::to_string(rc) + ")";
    }
  }

  InputBuffer input_;
  // 87 KB: kept off the stack, and not zeroed (isal_inflate_init sets what inflating reads; zeroing it
  // cost more than inflating a small nested .gz, of which a Debian image has a thousand).
  std::unique_ptr<inflate_state> state_;
  bool ignore_trailing_;
  bool done_ = false;
};

class ZstdReader final : public ByteReader {
 public:
  ZstdReader(ByteReader& inner, std::string prefix, std::size_t buffer)
      : input_(inner, std::move(prefix), buffer), ctx_(ZSTD_createDCtx()) {}

  Result<std::size_t> read(std::span<char> out) override {
    if (out.empty()) return std::size_t{0};
    if (!ctx_) return make_error(Errc::internal, "cannot allocate a zstd context");
    while (true) {
      auto filled = input_.fill();
      if (!filled) return std::move(filled).error();
      if (!*filled) {
        if (frame_open_) return make_error(Errc::malformed, "truncated zstd stream (unexpected end of compressed data)");
        return std::size_t{0};
      }
      ZSTD_inBuffer in{input_.data(), input_.available(), 0};
      ZSTD_outBuffer outbuf{out.data(), out.size(), 0};
      std::size_t rc = ZSTD_decompressStream(ctx_.get(), &outbuf, &in);
      input_.consume(in.pos);
      if (ZSTD_isError(rc)) {
        return make_error(Errc::malformed, std::string("corrupt zstd stream: ") + ZSTD_getErrorName(rc));
      }
      frame_open_ = rc != 0;
      if (outbuf.pos > 0) return outbuf.pos;
    }
  }

 private:
  struct DCtxDeleter {
    void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
  };
  InputBuffer input_;
  std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx_;
  bool frame_open_ = false;
};

}  // namespace

Result<std::string> read_head(ByteReader& reader, std::size_t bytes) {
  std::string head(bytes, '\0');
  std::size_t have = 0;
  while (have < head.size()) {
    auto n = reader.read(std::span<char>(head.data() + have, head.size() - have));
    if (!n) return std::move(n).error();
    if (*n == 0) break;
    have += *n;
  }
  head.resize(have);
  return head;
}

Compression sniff_compression(std::string_view head) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(head[i]); };
  if (head.size() >= 2 && byte(0) == 0x1f && byte(1) == 0x8b) return Compression::gzip;
  if (head.size() >= 4 && byte(0) == 0x28 && byte(1) == 0xb5 && byte(2) == 0x2f && byte(3) == 0xfd) return Compression::zstd;
  return Compression::none;
}

Result<std::unique_ptr<ByteReader>> open_decompressor(ByteReader& compressed, Compression& detected,
                                                      const DecompressOptions& options) {
  const std::size_t input_buffer = options.input_buffer == 0 ? kInputBuffer : options.input_buffer;
  auto head = read_head(compressed, 4);
  if (!head) return std::move(head).error();
  std::string prefix = std::move(head).value();
  detected = sniff_compression(prefix);
  if (detected == Compression::gzip) {
    return std::unique_ptr<ByteReader>(std::make_unique<GzipReader>(compressed, std::move(prefix), input_buffer, options.ignore_trailing_garbage));
  }
  if (detected == Compression::zstd) {
    return std::unique_ptr<ByteReader>(std::make_unique<ZstdReader>(compressed, std::move(prefix), input_buffer));
  }
  return std::unique_ptr<ByteReader>(std::make_unique<PrefixedReader>(compressed, std::move(prefix)));
}

Status drain(ByteReader& reader) {
  if (auto* lender = dynamic_cast<BlockReader*>(&reader)) {
    while (true) {
      auto block = lender->read_block();
      if (!block) return std::move(block).error();
      if (block->empty()) return Ok{};
    }
  }
  // Why not a vector: zeroing it cost more than draining the end of a small nested .gz (once per file).
  constexpr std::size_t kSink = 16 * 1024;
  char sink[kSink];
  while (true) {
    auto n = reader.read(std::span<char>(sink, kSink));
    if (!n) return std::move(n).error();
    if (*n == 0) return Ok{};
  }
}

}  // namespace layerleak::archive
