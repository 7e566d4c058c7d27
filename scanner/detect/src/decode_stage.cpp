#include "decode_stage.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "file_scanner.h"

namespace layerleak::detect {

namespace {
// Why 64 KiB: a logged request line or a notebook cell source line is far shorter; a minified bundle's
// one line is cut into segments rather than held whole.
constexpr std::size_t kMaxSegment = 64 * 1024;
// Decoded bytes per file, over all its lines: a file of escapes is decoded up to here.
constexpr std::uint64_t kMaxDecoded = 4 << 20;
// JSON inside JSON inside JSON: \\\" is two rounds away from a quote.
constexpr int kJsonRounds = 3;
}  // namespace

LineDecodeStage::LineDecodeStage(Kind kind, std::shared_ptr<const Detector> detector, int depth)
    : kind_(kind), detector_(std::move(detector)), depth_(depth) {}
LineDecodeStage::~LineDecodeStage() = default;

void LineDecodeStage::begin(std::string_view path) {
  path_.assign(path);
  child_begun_ = false;
  segment_.clear();
  segment_start_ = 0;
  segment_line_ = 1;
  segment_column_ = 1;
  child_size_ = 0;
  decoded_ = 0;
  segments_.clear();
}

bool LineDecodeStage::has_escape(std::string_view text) const {
  if (kind_ == Kind::json) return text.find('\\') != std::string_view::npos;
  for (std::size_t at = text.find('%'); at != std::string_view::npos; at = text.find('%', at + 1)) {
    if (at + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[at + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[at + 2]))) {
      return true;
    }
  }
  return false;
}

bool LineDecodeStage::decode(std::string_view in, std::string& out, OffsetMap& map) const {
  return kind_ == Kind::percent ? decode_percent(in, out, map) : decode_json_escapes(in, out, map);
}

Status LineDecodeStage::feed(std::span<const char> chunk, std::uint64_t at) {
  std::size_t i = 0;
  while (i < chunk.size()) {
    const void* nl = std::memchr(chunk.data() + i, '\n', chunk.size() - i);
    const std::size_t end = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - chunk.data()) : chunk.size();
    std::size_t take = std::min(end - i, kMaxSegment - segment_.size());
    segment_.append(chunk.data() + i, take);
    i += take;
    if (segment_.size() >= kMaxSegment) {  // a long line: cut, and go on in a new segment of it
      const std::uint64_t next_column = segment_column_ + segment_.size();
      const std::uint64_t next_start = segment_start_ + segment_.size();
      if (auto st = flush(); !st) return st;
      segment_start_ = next_start;
      segment_column_ = next_column;
      continue;
    }
    if (nl && i == end) {
      if (auto st = flush(); !st) return st;
      ++i;
      segment_start_ = at + i;
      ++segment_line_;
      segment_column_ = 1;
    }
  }
  return Ok{};
}

Status LineDecodeStage::flush() {
  std::string line = std::move(segment_);
  segment_.clear();
  if (decoded_ >= kMaxDecoded || !has_escape(line)) return Ok{};
  Segment segment{child_size_, segment_start_, segment_line_, segment_column_, {}};
  std::string decoded;
  for (int round = 0; round < (kind_ == Kind::json ? kJsonRounds : 1); ++round) {
    OffsetMap map;
    if (!decode(line, decoded, map)) break;
    segment.rounds.push_back(std::move(map));
    line.swap(decoded);
  }
  if (segment.rounds.empty()) return Ok{};
  if (!child_) {
    child_ = std::make_unique<FileScanner>(detector_, depth_);
    if (auto st = child_->open(); !st) return st;
  }
  if (!child_begun_) {
    child_->begin(path_);
    child_begun_ = true;
  }
  line.push_back('\n');
  decoded_ += line.size();
  child_size_ += line.size();
  segments_.push_back(std::move(segment));
  return child_->feed(std::span<const char>(line.data(), line.size()));
}

Detection LineDecodeStage::place(Detection d) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), d.offset,
                             [](std::uint64_t offset, const Segment& s) { return offset < s.child_start; });
  if (it == segments_.begin()) return d;
  --it;
  std::uint32_t within = static_cast<std::uint32_t>(d.offset - it->child_start);
  for (auto round = it->rounds.rbegin(); round != it->rounds.rend(); ++round) within = round->source(within);
  d.offset = it->source_start + within;
  d.line = it->line;
  d.column = it->column + within;
  return d;
}

Result<std::vector<Detection>> LineDecodeStage::finish(const std::vector<bool>& anchors) {
  if (auto st = flush(); !st) return std::move(st).error();
  std::vector<Detection> out;
  if (!child_begun_) return out;
  child_begun_ = false;
  child_->add_anchors(anchors);
  auto found = child_->finish();
  if (!found) return std::move(found).error();
  const std::string name = kind_ == Kind::percent ? "percent" : "json-escape";
  for (Detection& d : *found) {
    Detection placed = place(std::move(d));
    placed.encoding = placed.encoding == "plain" ? name : name + "+" + placed.encoding;
    out.push_back(std::move(placed));
  }
  return out;
}

namespace {
// Bytes held at a file's start to decide whether it is UTF-16 text.
constexpr std::size_t kSniffBytes = 128;
}  // namespace

Utf16Stage::Utf16Stage(std::shared_ptr<const Detector> detector, int depth)
    : detector_(std::move(detector)), depth_(depth) {}
Utf16Stage::~Utf16Stage() = default;

void Utf16Stage::begin(std::string_view path) {
  path_.assign(path);
  sniff_.clear();
  sniffed_ = false;
  order_ = Utf16::none;
  bom_ = 0;
  narrower_.reset();
}

Status Utf16Stage::feed(std::span<const char> chunk, const TextSink& text) {
  if (!sniffed_) {
    const std::size_t take = std::min(chunk.size(), kSniffBytes - sniff_.size());
    sniff_.append(chunk.data(), take);
    chunk = chunk.subspan(take);
    if (sniff_.size() < kSniffBytes) return Ok{};
    if (auto st = decide(false, text); !st) return st;
  }
  if (!narrower_) return text(chunk);
  std::string narrow;
  narrower_->feed(chunk, narrow);
  return child_->feed(std::span<const char>(narrow.data(), narrow.size()));
}

Status Utf16Stage::decide(bool at_end, const TextSink& text) {
  sniffed_ = true;
  std::string head = std::move(sniff_);
  sniff_.clear();
  order_ = sniff_utf16(head, bom_);
  if (order_ == Utf16::none || (at_end && head.size() < 16)) {
    order_ = Utf16::none;
    return text(std::span<const char>(head.data(), head.size()));
  }
  narrower_ = std::make_unique<Utf16Narrower>(order_);
  if (!child_) {
    child_ = std::make_unique<FileScanner>(detector_, depth_);
    if (auto st = child_->open(); !st) return st;
  }
  child_->begin(path_);
  std::string narrow;
  narrower_->feed(std::span<const char>(head.data() + bom_, head.size() - bom_), narrow);
  return child_->feed(std::span<const char>(narrow.data(), narrow.size()));
}

Result<bool> Utf16Stage::finish(const TextSink& text) {
  if (!sniffed_) {
    if (auto st = decide(true, text); !st) return std::move(st).error();
  }
  return narrower_ != nullptr;
}

Result<std::vector<Detection>> Utf16Stage::findings(const std::vector<bool>& anchors) {
  narrower_.reset();
  child_->add_anchors(anchors);
  auto found = child_->finish();
  if (!found) return std::move(found).error();
  const std::string name = order_ == Utf16::le ? "utf16le" : "utf16be";
  for (Detection& d : *found) {
    // One narrowed byte per UTF-16 code unit: offsets and byte columns double (the mark precedes line 1).
    d.offset = bom_ + 2 * d.offset;
    d.column = 2 * (d.column - 1) + 1 + (d.line == 1 ? bom_ : 0);
    d.encoding = d.encoding == "plain" ? name : name + "+" + d.encoding;
  }
  return found;
}

BlobStage::BlobStage(std::shared_ptr<const Detector> detector, int depth)
    : detector_(std::move(detector)), depth_(depth) {}
BlobStage::~BlobStage() = default;

Result<std::vector<Detection>> BlobStage::decode(const Candidate& c, std::string_view path) {
  // A run whose start lies beyond kBackScan is decoded from each of the 4 possible alignments.
  const std::size_t alignments = c.truncated_start ? 4 : 1;
  std::vector<Detection> out;
  for (std::size_t skip = 0; skip < alignments && skip < c.token.size(); ++skip) {
    std::string_view run(c.token);
    run.remove_prefix(skip);
    run.remove_suffix(c.truncated_start ? run.size() % 4 : 0);
    auto decoded = base64_decode(run);
    if (!decoded || decoded->empty()) continue;
    if (!child_) {
      child_ = std::make_unique<FileScanner>(detector_, depth_);
      if (auto st = child_->open(); !st) return std::move(st).error();
    }
    child_->begin(path);
    if (auto st = child_->feed(std::span<const char>(decoded->data(), decoded->size())); !st) {
      return std::move(st).error();
    }
    auto found = child_->finish();
    if (!found) return std::move(found).error();
    for (Detection& d : *found) {
      d.encoding = d.encoding == "plain" ? "base64" : "base64+" + d.encoding;
      d.offset = c.start;
      d.line = c.line;
      d.column = c.column;
      out.push_back(std::move(d));
    }
  }
  return out;
}

}  // namespace layerleak::detect
