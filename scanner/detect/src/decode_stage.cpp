#include "decode_stage.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>

#include "confirm.h"
#include "file_scanner.h"

namespace layerleak::detect {

namespace {
// Why 8 KiB: a logged request line or a notebook cell source line is far shorter; a minified bundle's
// one line is cut into segments. At most kBackScan, so a segment is always still in the window.
constexpr std::size_t kMaxSegment = kBackScan;
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
  cursor_chunk_ = ~std::uint64_t{0};
  child_begun_ = false;
  escape_seen_ = false;
  segment_start_ = 0;
  child_size_ = 0;
  decoded_ = 0;
  segments_.clear();
}

namespace {

constexpr std::string_view kCredentialWords[] = {"scw", "scaleway", "secret", "token", "passw", "api_key", "apikey", "auth", "nkey"};

bool credential_word_at(std::string_view text, std::size_t i) {
  for (std::string_view word : kCredentialWords) {
    if (text.size() - i < word.size()) continue;
    std::size_t k = 0;
    while (k < word.size() && ascii_lower(text[i + k]) == word[k]) ++k;
    if (k == word.size()) return true;
  }
  return false;
}

}  // namespace

// Why 16 bytes at a time: every "line" of a binary holds a backslash byte (one byte in 256), so this runs
// for most of them; a lowered copy searched nine times was 2% of a layer scan's CPU, a byte loop more.
// Only where two bytes start a word (sc, se, to, pa, ap, au, nk in any case: OR-ing 0x20 lowers a letter
// and turns no other byte into one) are the words compared.
bool names_a_credential(std::string_view text) {
  // A long line (minified bundle, binary data): its words may lie further on. Why first: lowering
  // 4 KiB of a binary's "line" for each backslash in it was 3% of a layer scan.
  if (text.size() > 4096) return true;
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i case_bit = _mm_set1_epi8(0x20);
  const auto is = [](__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); };
  for (; i + 17 <= text.size(); i += 16) {
    const __m128i a = _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + i)), case_bit);
    const __m128i b = _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + i + 1)), case_bit);
    __m128i starts = _mm_and_si128(is(a, 's'), _mm_or_si128(is(b, 'c'), is(b, 'e')));
    starts = _mm_or_si128(starts, _mm_and_si128(is(a, 't'), is(b, 'o')));
    starts = _mm_or_si128(starts, _mm_and_si128(is(a, 'p'), is(b, 'a')));
    starts = _mm_or_si128(starts, _mm_and_si128(is(a, 'a'), _mm_or_si128(is(b, 'p'), is(b, 'u'))));
    starts = _mm_or_si128(starts, _mm_and_si128(is(a, 'n'), is(b, 'k')));
    for (unsigned bits = static_cast<unsigned>(_mm_movemask_epi8(starts)); bits != 0; bits &= bits - 1) {
      if (credential_word_at(text, i + static_cast<std::size_t>(std::countr_zero(bits)))) return true;
    }
  }
#endif
  for (; i < text.size(); ++i) {
    if (credential_word_at(text, i)) return true;
  }
  return false;
}

bool LineDecodeStage::has_escape(std::string_view text) const {
  if (kind_ == Kind::json) return text.find('\\') != std::string_view::npos && names_a_credential(text);
  for (std::size_t at = text.find('%'); at != std::string_view::npos; at = text.find('%', at + 1)) {
    if (at + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[at + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[at + 2]))) {
      return names_a_credential(text);
    }
  }
  return false;
}

bool LineDecodeStage::decode(std::string_view in, std::string& out, OffsetMap& map) const {
  return kind_ == Kind::percent ? decode_percent(in, out, map) : decode_json_escapes(in, out, map);
}

// Why no per-line work: most lines hold no escape byte, so one memchr over the chunk finds the next
// escape and only the line around it is looked at; its line and column come from the position
// tracker when it is decoded. A line is never copied before it is known to hold an escape.
Status LineDecodeStage::feed(const Window& window, const PositionTracker& position) {
  const std::span<const char> chunk = window.chunk;
  const char escape = kind_ == Kind::json ? '\\' : '%';
  const char* data = chunk.data();
  std::size_t pos = 0;
  while (pos < chunk.size()) {
    if (!escape_seen_) {
      const void* hit = std::memchr(data + pos, escape, chunk.size() - pos);
      const std::size_t upto = hit ? static_cast<std::size_t>(static_cast<const char*>(hit) - data) : chunk.size();
      if (const void* nl = upto > pos ? memrchr(data + pos, '\n', upto - pos) : nullptr) {
        segment_start_ = window.chunk_start + static_cast<std::size_t>(static_cast<const char*>(nl) - data) + 1;
      }
      if (!hit) return Ok{};
      const std::uint64_t at = window.chunk_start + upto;
      // A very long line: start its segment shortly before the escape.
      if (at - segment_start_ > kMaxSegment / 2) segment_start_ = at - kMaxSegment / 2;
      escape_seen_ = true;
      pos = upto;
    }
    const void* nl = std::memchr(data + pos, '\n', chunk.size() - pos);
    const std::size_t end = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - data) : chunk.size();
    if (window.chunk_start + end - segment_start_ >= kMaxSegment) {  // cut a long line into segments
      const std::uint64_t cut = segment_start_ + kMaxSegment;
      if (auto st = flush(window, position, cut); !st) return st;
      segment_start_ = cut;
      pos = static_cast<std::size_t>(std::max<std::uint64_t>(cut, window.chunk_start) - window.chunk_start);
      continue;
    }
    if (!nl) return Ok{};  // the line goes on in the next chunk
    if (auto st = flush(window, position, window.chunk_start + end); !st) return st;
    segment_start_ = window.chunk_start + end + 1;
    pos = end + 1;
  }
  return Ok{};
}

Status LineDecodeStage::flush(const Window& window, const PositionTracker& position, std::uint64_t end) {
  const bool seen = escape_seen_;
  escape_seen_ = false;
  if (!seen || decoded_ >= kMaxDecoded || end <= segment_start_) return Ok{};
  // Why a view first: most segments with an escape byte name no credential and end here, uncopied.
  if (!has_escape(window.view(segment_start_, end, scratch_))) return Ok{};
  std::string line = window.slice(segment_start_, end);
  // The cursor moves forward through the chunk, so each newline is counted once per chunk.
  if (cursor_chunk_ != window.chunk_start || cursor_.at > segment_start_) {
    cursor_ = position.cursor();
    cursor_chunk_ = window.chunk_start;
  }
  position.locate(segment_start_, window, cursor_, segment_line_, segment_column_);
  return decode_segment(std::move(line));
}

Status LineDecodeStage::decode_segment(std::string line) {
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

Result<std::vector<Detection>> LineDecodeStage::finish(const Window& last, const PositionTracker& position,
                                                       const std::vector<bool>& anchors) {
  if (auto st = flush(last, position, last.end()); !st) return std::move(st).error();
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

Status Utf16Stage::feed(std::span<const char> chunk, const TextSink& text, bool last) {
  if (!sniffed_) {
    const std::size_t take = std::min(chunk.size(), kSniffBytes - sniff_.size());
    sniff_.append(chunk.data(), take);
    chunk = chunk.subspan(take);
    if (sniff_.size() < kSniffBytes && !last) return Ok{};
    if (auto st = decide(last && sniff_.size() < kSniffBytes, text, last && chunk.empty()); !st) return st;
    if (chunk.empty() && last) return Ok{};
  }
  if (!narrower_) return text(chunk, last);
  std::string narrow;
  narrower_->feed(chunk, narrow);
  return child_->feed(std::span<const char>(narrow.data(), narrow.size()));
}

Status Utf16Stage::decide(bool at_end, const TextSink& text, bool last) {
  sniffed_ = true;
  std::string head = std::move(sniff_);
  sniff_.clear();
  order_ = sniff_utf16(head, bom_);
  if (order_ == Utf16::none || (at_end && head.size() < 16)) {
    order_ = Utf16::none;
    return text(std::span<const char>(head.data(), head.size()), last);
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
    if (auto st = decide(true, text, false); !st) return std::move(st).error();
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
