// Git object stores as nested archives: loose objects (one zlib stream each) and packfiles (every
// object, deltas resolved). See archive.h for the member names and the bounds.
#include <isa-l/igzip_lib.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <vector>

#include "git_path_names.h"
#include "layerleak/archive.h"

namespace layerleak::archive {

namespace {

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Object types as numbered in packs (1..4); 0 = unknown.
enum ObjType : std::uint8_t { kNoType = 0, kCommit = 1, kTree = 2, kBlob = 3, kTag = 4, kOfsDelta = 6, kRefDelta = 7 };

std::string_view type_name(std::uint8_t type) {
  switch (type) {
    case kCommit: return "commit";
    case kTree: return "tree";
    case kBlob: return "blob";
    case kTag: return "tag";
    default: return "";
  }
}

// Trees hold binary ids and file names only: nothing a detector could match.
bool is_member(std::uint8_t type) { return type == kCommit || type == kBlob || type == kTag; }

// ---- loose objects ------------------------------------------------------------------------------------

// Why 64 KiB: loose objects are mostly a few KiB; the buffer is allocated per object.
constexpr std::size_t kLooseInput = 64 * 1024;
// "commit 18446744073709551615\0" is 28 bytes; anything longer is not a git object header.
constexpr std::size_t kMaxHeader = 32;

// One loose object: "<type> <size>\0<content>" behind a zlib header. One member (blob, commit, tag)
// whose data is inflated while it is read; a tree gives no member and is not inflated past its header.
class LooseObjectReader final : public EntryReader {
 public:
  LooseObjectReader(ByteReader& stream, std::string id)
      : stream_(stream), id_(std::move(id)), input_(new char[kLooseInput]), state_(std::make_unique<inflate_state>()) {
    isal_inflate_init(state_.get());
    state_->crc_flag = ISAL_ZLIB;
  }

  // Inflates up to the header's NUL and parses it.
  Status open() {
    std::string header;
    char byte = 0;
    while (true) {
      auto n = inflate(std::span<char>(&byte, 1));
      if (!n) return std::move(n).error();
      if (*n == 0) return make_error(Errc::malformed, "git object ends inside its header");
      if (byte == '\0') break;
      if (header.size() >= kMaxHeader) return make_error(Errc::malformed, "not a git object (no header)");
      header.push_back(byte);
    }
    const std::size_t space = header.find(' ');
    if (space == std::string::npos) return make_error(Errc::malformed, "not a git object (no type in header)");
    const std::string_view type(header.data(), space);
    const std::string_view digits = std::string_view(header).substr(space + 1);
    if (digits.empty() || digits.size() > 19 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return make_error(Errc::malformed, "not a git object (bad size in header)");
    }
    size_ = std::stoull(std::string(digits));
    for (std::uint8_t t : {kCommit, kTree, kBlob, kTag}) {
      if (type == type_name(t)) type_ = t;
    }
    if (type_ == kNoType) return make_error(Errc::malformed, "not a git object (unknown type)");
    return Ok{};
  }

  Result<std::optional<Entry>> next_entry() override {
    if (done_ || !is_member(type_)) return std::optional<Entry>();
    done_ = true;
    Entry entry;
    entry.path = "/" + id_;
    entry.type = Entry::Type::file;
    entry.size = size_;
    in_member_ = true;
    return std::optional<Entry>(std::move(entry));
  }

  Result<std::span<const char>> read_block() override {
    if (!in_member_) return std::span<const char>();
    if (!out_) out_.reset(new char[kLooseInput]);
    auto n = inflate(std::span<char>(out_.get(), kLooseInput));
    if (!n) return std::move(n).error();
    served_ += *n;
    if (served_ > size_) return make_error(Errc::malformed, "git object longer than its header says");
    if (*n == 0) {
      in_member_ = false;
      if (served_ != size_) return make_error(Errc::malformed, "git object shorter than its header says (truncated?)");
    }
    return std::span<const char>(out_.get(), *n);
  }

 private:
  Result<std::size_t> inflate(std::span<char> out) {
    while (state_->block_state != ISAL_BLOCK_FINISH) {
      if (in_pos_ == in_size_ && !eof_) {
        auto n = stream_.read(std::span<char>(input_.get(), kLooseInput));
        if (!n) return std::move(n).error();
        in_pos_ = 0;
        in_size_ = *n;
        eof_ = *n == 0;
      }
      state_->next_in = reinterpret_cast<std::uint8_t*>(input_.get() + in_pos_);
      state_->avail_in = static_cast<std::uint32_t>(in_size_ - in_pos_);
      state_->next_out = reinterpret_cast<std::uint8_t*>(out.data());
      state_->avail_out = static_cast<std::uint32_t>(out.size());
      const std::uint32_t before = state_->avail_in;
      const int rc = isal_inflate(state_.get());
      in_pos_ += before - state_->avail_in;
      if (rc < 0) return make_error(Errc::malformed, "corrupt zlib stream in git object (code " + std::to_string(rc) + ")");
      const std::size_t produced = out.size() - state_->avail_out;
      if (produced > 0) return produced;
      if (eof_ && in_pos_ == in_size_ && state_->block_state != ISAL_BLOCK_FINISH) {
        return make_error(Errc::malformed, "truncated zlib stream in git object");
      }
    }
    return std::size_t{0};
  }

  ByteReader& stream_;
  std::string id_;
  std::unique_ptr<char[]> input_;
  std::size_t in_pos_ = 0, in_size_ = 0;
  bool eof_ = false;
  std::unique_ptr<inflate_state> state_;  // ~40 KB: kept off the stack
  std::unique_ptr<char[]> out_;
  std::uint8_t type_ = kNoType;
  std::uint64_t size_ = 0, served_ = 0;
  bool done_ = false, in_member_ = false;
};

// ---- packfiles ----------------------------------------------------------------------------------------

constexpr std::size_t kPackHeader = 12;
constexpr std::size_t kPackTrailer = 20;  // SHA-1 of everything before it (not checked: content matters)
// Why 1 MiB blocks: the pipeline checks its budget per block; whole objects would pass it in one step.
constexpr std::size_t kServeBlock = 1 << 20;
// Why 32 MiB: rebuilt bases are reused by the next deltas of the same chain (git keeps 96 MiB, for
// packs far larger than the ones held in memory here); evicted oldest first.
constexpr std::uint64_t kBaseCacheBytes = 32ull << 20;

using git::Content;
using git::hex;
using git::IdHash;
using git::ObjectId;

constexpr std::uint32_t kNoIndex = 0xffffffffu;

struct PackObject {
  std::uint64_t offset = 0;  // where its header starts
  std::uint64_t data = 0;    // where its zlib stream starts
  std::uint64_t size = 0;    // inflated size (of the delta instructions for a delta)
  std::uint32_t base = kNoIndex;  // a delta's base, once found
  std::uint8_t kind = kNoType;    // as stored: 1..4, 6, 7
  std::uint8_t type = kNoType;    // once resolved: 1..4
  enum State : std::uint8_t { pending, resolved, failed } state = pending;
  std::uint16_t depth = 0;        // delta links down to a whole object
};

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// Serves the members of a pack (names from `names`, which may be null), or, given `collect`, is the naming
// pass: blobs are inflated only to find where they end, commits and trees go to `collect`, nothing is served.
class PackReader final : public EntryReader {
 public:
  PackReader(std::string_view pack, GitLimits limits, std::shared_ptr<const git::GitPathNamer> names,
             git::GitPathNamer* collect = nullptr)
      : pack_(pack), limits_(std::move(limits)), state_(std::make_unique<inflate_state>()), sha_(EVP_MD_CTX_new()),
        names_(std::move(names)), collect_(collect) {
    if (names_ && !names_->limited().empty()) {
      note_ = "git history not fully named by path: " + names_->limited() + "; the other blobs are named by object id";
    }
  }

  Status open() {
    if (pack_.size() < kPackHeader + kPackTrailer || pack_.substr(0, 4) != "PACK") {
      return make_error(Errc::malformed, "not a git pack (no PACK header)");
    }
    const std::uint32_t version = be32(4);
    if (version != 2 && version != 3) return make_error(Errc::unsupported, "git pack version " + std::to_string(version));
    count_ = be32(8);
    if (count_ > limits_.max_objects) {
      return make_error(Errc::limit, "git pack declares " + std::to_string(count_) + " objects, more than the limit of " +
                                         std::to_string(limits_.max_objects));
    }
    end_ = pack_.size() - kPackTrailer;
    next_ = kPackHeader;
    if (!sha_) return make_error(Errc::internal, "cannot allocate a SHA-1 context");
    return Ok{};
  }

  Result<std::optional<Entry>> next_entry() override {
    current_.reset();
    if (error_) return *error_;
    if (!note_.empty()) {
      Entry entry;
      entry.path = "/";
      entry.type = Entry::Type::other;
      entry.skip_reason = std::move(note_);
      note_.clear();
      return std::optional<Entry>(std::move(entry));
    }
    auto next = advance();
    if (!next) error_ = next.error();
    return next;
  }

  Result<std::span<const char>> read_block() override {
    if (!current_ || served_ >= current_->size()) return std::span<const char>();
    const std::size_t n = std::min<std::size_t>(kServeBlock, current_->size() - served_);
    std::span<const char> block(current_->data() + served_, n);
    served_ += n;
    return block;
  }

 private:
  // Walks objects until one is a member (or skipped with a reason); deferred REF_DELTAs come last.
  Result<std::optional<Entry>> advance() {
    while (walked_ < count_) {
      const std::uint32_t index = walked_++;
      auto object = walk(index);
      if (!object) return std::move(object).error();
      auto entry = settle(index, std::move(*object));
      if (!entry) return std::move(entry).error();
      if (*entry) return entry;
    }
    if (next_ != end_) return malformed(next_, "bytes after the last object (count in the header is wrong)");
    while (!deferred_.empty()) {
      bool progress = false;
      for (std::size_t i = 0; i < deferred_.size();) {
        const std::uint32_t index = deferred_[i];
        const PackObject* base = base_of(index);
        if (base == nullptr || base->state == PackObject::pending) {
          ++i;
          continue;
        }
        deferred_.erase(deferred_.begin() + static_cast<std::ptrdiff_t>(i));
        progress = true;
        const PackObject& o = objects_[index];
        auto own = inflate_charged(o);
        if (!own) return std::move(own).error();
        auto entry = settle(index, std::move(*own));
        if (!entry) return std::move(entry).error();
        if (*entry) return entry;
      }
      if (!progress && collect_) break;  // bases never hashed in the naming pass are blobs (or missing)
      if (!progress) {
        const std::uint32_t index = deferred_.front();
        deferred_.erase(deferred_.begin());
        objects_[index].state = PackObject::failed;
        const auto ref = ref_bases_.find(index);
        return skipped(index, "delta base " + (ref == ref_bases_.end() ? std::string("?") : hex(ref->second)) +
                                  " is not in this pack (a thin pack); not scanned");
      }
    }
    return std::optional<Entry>();
  }

  // Reads the header of the next object and inflates its own data (content, or delta instructions).
  Result<std::optional<std::string>> walk(std::uint32_t index) {
    PackObject o;
    o.offset = next_;
    std::uint64_t pos = next_;
    if (pos >= end_) return malformed(pos, "pack ends before its " + std::to_string(count_) + " objects");
    unsigned char c = byte(pos++);
    o.kind = (c >> 4) & 7;
    o.size = c & 15;
    for (unsigned shift = 4; c & 0x80; shift += 7) {
      if (pos >= end_ || shift > 57) return malformed(o.offset, "bad object header");
      c = byte(pos++);
      o.size |= static_cast<std::uint64_t>(c & 0x7f) << shift;
    }
    if (o.kind == kOfsDelta) {
      if (pos >= end_) return malformed(o.offset, "truncated delta base offset");
      c = byte(pos++);
      std::uint64_t back = c & 0x7f;
      while (c & 0x80) {
        if (pos >= end_ || back > (1ull << 50)) return malformed(o.offset, "bad delta base offset");
        c = byte(pos++);
        back = ((back + 1) << 7) | (c & 0x7f);
      }
      if (back == 0 || back > o.offset) return malformed(o.offset, "delta base offset outside the pack");
      o.base = find_offset(o.offset - back);
      if (o.base == kNoIndex) return malformed(o.offset, "delta base offset does not start an object");
    } else if (o.kind == kRefDelta) {
      if (pos + 20 > end_) return malformed(o.offset, "truncated delta base id");
      ObjectId id;
      std::memcpy(id.data(), pack_.data() + pos, 20);
      pos += 20;
      ref_bases_[index] = id;
    } else if (o.kind < kCommit || o.kind > kTag) {
      return malformed(o.offset, "unknown object type " + std::to_string(o.kind));
    }
    o.data = pos;
    objects_.push_back(o);
    const bool oversized = o.size > limits_.max_object_bytes;
    // Whole objects that are members are served as they are (the reader of the members counts them),
    // so only the rest is charged: trees, delta instructions, and objects inflated only to skip them.
    // The naming pass charges everything to its own bound, and skims blobs: inflated, not kept.
    const PackObject* base = o.base == kNoIndex ? nullptr : &objects_[o.base];
    const bool skim = collect_ && (o.kind == kBlob || (base && base->state == PackObject::resolved && base->type == kBlob));
    if (oversized || collect_ || o.kind == kTree || o.kind == kOfsDelta || o.kind == kRefDelta) {
      if (auto st = charge(o.size, o.offset); !st) return std::move(st).error();
    }
    auto own = inflate_at(objects_.back(), !oversized && !skim);
    if (!own) return std::move(own).error();
    next_ = *own;
    if (oversized) return std::optional<std::string>();
    return std::optional<std::string>(std::move(scratch_));
  }

  // Resolves object `index` whose own data is `own` (nullopt: too large to hold) and records its id.
  Result<std::optional<Entry>> settle(std::uint32_t index, std::optional<std::string> own) {
    PackObject& o = objects_[index];
    if (!own) {
      o.state = PackObject::failed;
      return skipped(index, "object of " + std::to_string(o.size) + " bytes, more than the per-object limit of " +
                                std::to_string(limits_.max_object_bytes) + "; not scanned");
    }
    if (collect_ && skim_blob(index)) return std::optional<Entry>();
    Content content;
    if (o.kind == kOfsDelta || o.kind == kRefDelta) {
      const PackObject* base = base_of(index);
      if (base == nullptr || base->state == PackObject::pending) {
        if (std::find(deferred_.begin(), deferred_.end(), index) == deferred_.end()) deferred_.push_back(index);
        return std::optional<Entry>();
      }
      o.base = static_cast<std::uint32_t>(base - objects_.data());
      if (base->state == PackObject::failed) {
        o.state = PackObject::failed;
        return skipped(index, "its delta base was not scanned; not scanned");
      }
      if (base->depth + 1u > limits_.max_delta_depth) {
        o.state = PackObject::failed;
        return skipped(index, "delta chain deeper than " + std::to_string(limits_.max_delta_depth) + " links; not scanned");
      }
      o.depth = static_cast<std::uint16_t>(base->depth + 1);
      o.type = base->type;
      auto base_content = content_of(o.base);
      if (!base_content) return std::move(base_content).error();
      auto rebuilt = apply_delta(**base_content, *own, o, !is_member(o.type));
      if (!rebuilt) return std::move(rebuilt).error();
      content = std::make_shared<const std::string>(std::move(*rebuilt));
    } else {
      o.type = o.kind;
      content = std::make_shared<const std::string>(std::move(*own));
    }
    remember(index, content);  // bases mostly come just before their deltas
    o.state = PackObject::resolved;
    const ObjectId id = object_id(o.type, *content);
    ids_.emplace(id, index);
    if (collect_) {
      if (o.type == kTree) collect_->add_tree(id, content);
      if (o.type == kCommit) collect_->add_commit(id, *content);
      return std::optional<Entry>();
    }
    if (!is_member(o.type)) return std::optional<Entry>();
    current_ = std::move(content);
    served_ = 0;
    Entry entry;
    entry.path = "/" + member_name(o.type, id);
    entry.type = Entry::Type::file;
    entry.size = current_->size();
    return std::optional<Entry>(std::move(entry));
  }

  // Naming pass: a whole blob, or a delta whose base is a blob, is resolved without its content or id.
  bool skim_blob(std::uint32_t index) {
    PackObject& o = objects_[index];
    if (o.kind != kBlob) {
      const PackObject* base = base_of(index);
      if (base == nullptr || base->state != PackObject::resolved || base->type != kBlob) return false;
      o.base = static_cast<std::uint32_t>(base - objects_.data());
      o.depth = static_cast<std::uint16_t>(std::min<unsigned>(base->depth + 1u, UINT16_MAX));
    }
    o.type = kBlob;
    o.state = PackObject::resolved;
    return true;
  }

  // "<path>@<commit>#<id>" for a blob the naming pass named, else "<id>" (see archive.h).
  std::string member_name(std::uint8_t type, const ObjectId& id) const {
    std::string name = hex(id);
    if (type != kBlob || !names_) return name;
    const std::string* path = names_->name(id);
    return path == nullptr ? name : *path + "#" + name;
  }

  // The content of a resolved object: from the cache, or rebuilt from its whole base up.
  Result<Content> content_of(std::uint32_t index) {
    std::vector<std::uint32_t> chain;  // deltas still to apply, top first
    Content content;
    std::uint32_t at = index;
    while (true) {
      if (auto hit = cache_.find(at); hit != cache_.end()) {
        content = hit->second;
        break;
      }
      const PackObject& o = objects_[at];
      if (o.kind != kOfsDelta && o.kind != kRefDelta) {
        auto whole = inflate_charged(o);
        if (!whole) return std::move(whole).error();
        content = std::make_shared<const std::string>(std::move(*whole));
        remember(at, content);
        break;
      }
      chain.push_back(at);
      at = o.base;  // resolved objects have their base, and depth bounds this walk
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      const PackObject& o = objects_[*it];
      auto delta = inflate_charged(o);
      if (!delta) return std::move(delta).error();
      auto rebuilt = apply_delta(*content, *delta, o, /*charge_result=*/true);
      if (!rebuilt) return std::move(rebuilt).error();
      content = std::make_shared<const std::string>(std::move(*rebuilt));
      remember(*it, content);
    }
    return content;
  }

  // Applies git's delta format: source size, result size, then copy (from the base) and insert ops.
  Result<std::string> apply_delta(const std::string& base, const std::string& delta, const PackObject& o, bool charge_result) {
    std::size_t pos = 0;
    auto varint = [&](std::uint64_t& out) {
      out = 0;
      for (unsigned shift = 0; pos < delta.size(); shift += 7) {
        const unsigned char c = static_cast<unsigned char>(delta[pos++]);
        if (shift > 57) return false;
        out |= static_cast<std::uint64_t>(c & 0x7f) << shift;
        if (!(c & 0x80)) return true;
      }
      return false;
    };
    std::uint64_t source_size = 0, result_size = 0;
    if (!varint(source_size) || !varint(result_size)) return malformed(o.offset, "truncated delta header");
    if (source_size != base.size()) return malformed(o.offset, "delta expects a base of " + std::to_string(source_size) + " bytes, the base has " + std::to_string(base.size()));
    if (result_size > limits_.max_object_bytes) {
      return make_error(Errc::limit, "git pack: object at offset " + std::to_string(o.offset) + " rebuilds to " +
                                         std::to_string(result_size) + " bytes, more than the per-object limit of " +
                                         std::to_string(limits_.max_object_bytes));
    }
    if (charge_result) {
      if (auto st = charge(result_size, o.offset); !st) return std::move(st).error();
    }
    std::string out;
    // Why the whole size: growing by doubling copied each large result several times. result_size is
    // bounded by max_object_bytes above, and untouched reserved pages cost no memory.
    out.reserve(result_size);
    while (pos < delta.size()) {
      const unsigned char op = static_cast<unsigned char>(delta[pos++]);
      if (op & 0x80) {
        std::uint64_t offset = 0, size = 0;
        for (unsigned i = 0; i < 7; ++i) {
          if (!(op & (1u << i))) continue;
          if (pos >= delta.size()) return malformed(o.offset, "truncated delta copy op");
          const std::uint64_t b = static_cast<unsigned char>(delta[pos++]);
          if (i < 4) offset |= b << (8 * i);
          else size |= b << (8 * (i - 4));
        }
        if (size == 0) size = 0x10000;
        if (offset + size > base.size()) return malformed(o.offset, "delta copies from outside its base");
        if (out.size() + size > result_size) return malformed(o.offset, "delta result longer than its header says");
        out.append(base, offset, size);
      } else if (op != 0) {
        if (pos + op > delta.size()) return malformed(o.offset, "truncated delta insert op");
        if (out.size() + op > result_size) return malformed(o.offset, "delta result longer than its header says");
        out.append(delta, pos, op);
        pos += op;
      } else {
        return malformed(o.offset, "reserved delta op 0");
      }
    }
    if (out.size() != result_size) return malformed(o.offset, "delta result shorter than its header says");
    return out;
  }

  // Inflates an object's own data again (a base the cache dropped, a deferred delta), charged.
  Result<std::string> inflate_charged(const PackObject& o) {
    if (auto st = charge(o.size, o.offset); !st) return std::move(st).error();
    auto end = inflate_at(o, true);
    if (!end) return std::move(end).error();
    return std::move(scratch_);
  }

  // Inflates the zlib stream of `o` into scratch_ (or, with keep false, only to find its end).
  // Returns the offset just past the stream. Exactly o.size bytes must come out.
  Result<std::uint64_t> inflate_at(const PackObject& o, bool keep) {
    const std::uint64_t available = end_ - o.data;
    // Deflate expands at most ~1032:1; a larger declared size is a lie that would only cost memory.
    if (o.size > available * 1032 + 64) return malformed(o.offset, "declares " + std::to_string(o.size) + " bytes, more than its compressed data can hold");
    isal_inflate_init(state_.get());
    state_->crc_flag = ISAL_ZLIB;
    state_->next_in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(pack_.data() + o.data));
    state_->avail_in = static_cast<std::uint32_t>(std::min<std::uint64_t>(available, UINT32_MAX));
    scratch_.clear();
    std::uint64_t produced = 0;
    char sink[16 * 1024];
    if (keep) scratch_.resize(o.size);
    while (true) {
      if (keep) {
        state_->next_out = reinterpret_cast<std::uint8_t*>(scratch_.data() + produced);
        // One byte of room past the end shows a stream longer than its header.
        state_->avail_out = static_cast<std::uint32_t>(std::min<std::uint64_t>(o.size - produced, UINT32_MAX));
      } else {
        state_->next_out = reinterpret_cast<std::uint8_t*>(sink);
        state_->avail_out = sizeof sink;
      }
      const std::uint32_t room = state_->avail_out;
      const std::uint32_t input = state_->avail_in;
      const int rc = isal_inflate(state_.get());
      if (rc < 0) return malformed(o.offset, "corrupt zlib stream (code " + std::to_string(rc) + ")");
      produced += room - state_->avail_out;
      if (state_->block_state == ISAL_BLOCK_FINISH) break;
      if (keep && produced == o.size) {
        // Room is used up but the stream has not ended: either it is longer than declared, or only its
        // end markers are left. One more call without room tells them apart.
        char extra = 0;
        state_->next_out = reinterpret_cast<std::uint8_t*>(&extra);
        state_->avail_out = 1;
        const std::uint32_t input_before = state_->avail_in;
        const int rc2 = isal_inflate(state_.get());
        if (rc2 < 0) return malformed(o.offset, "corrupt zlib stream (code " + std::to_string(rc2) + ")");
        if (state_->avail_out == 0) return malformed(o.offset, "object longer than its header says");
        if (state_->block_state == ISAL_BLOCK_FINISH) break;
        if (state_->avail_in == input_before) {
          return malformed(o.offset, state_->avail_in == 0 ? "truncated object data" : "zlib stream makes no progress");
        }
        continue;
      }
      if (room == state_->avail_out && input == state_->avail_in) {
        return malformed(o.offset, state_->avail_in == 0 ? "truncated object data" : "zlib stream makes no progress");
      }
      if (!keep && produced > o.size) return malformed(o.offset, "object longer than its header says");
    }
    if (produced != o.size) return malformed(o.offset, "object data is " + std::to_string(produced) + " bytes, its header says " + std::to_string(o.size));
    // ISA-L reads input ahead into a bit buffer; whole bytes still in it belong to the next object.
    const std::uint64_t unread = state_->read_in_length > 0 ? static_cast<std::uint64_t>(state_->read_in_length) / 8 : 0;
    return static_cast<std::uint64_t>(reinterpret_cast<const char*>(state_->next_in) - pack_.data()) - unread;
  }

  ObjectId object_id(std::uint8_t type, const std::string& content) {
    const std::string header = std::string(type_name(type)) + " " + std::to_string(content.size()) + '\0';
    ObjectId id{};
    unsigned int len = 0;
    EVP_DigestInit_ex(sha_.get(), EVP_sha1(), nullptr);
    EVP_DigestUpdate(sha_.get(), header.data(), header.size());
    EVP_DigestUpdate(sha_.get(), content.data(), content.size());
    EVP_DigestFinal_ex(sha_.get(), id.data(), &len);
    return id;
  }

  // The base of a delta if it has been walked (nullptr: a REF_DELTA whose base is not known yet).
  const PackObject* base_of(std::uint32_t index) const {
    const PackObject& o = objects_[index];
    if (o.base != kNoIndex) return &objects_[o.base];
    const auto ref = ref_bases_.find(index);
    if (ref == ref_bases_.end()) return nullptr;
    const auto found = ids_.find(ref->second);
    return found == ids_.end() ? nullptr : &objects_[found->second];
  }

  std::uint32_t find_offset(std::uint64_t offset) const {
    auto it = std::lower_bound(objects_.begin(), objects_.end(), offset,
                               [](const PackObject& o, std::uint64_t value) { return o.offset < value; });
    if (it == objects_.end() || it->offset != offset) return kNoIndex;
    return static_cast<std::uint32_t>(it - objects_.begin());
  }

  void remember(std::uint32_t index, const Content& content) {
    if (content->size() > kBaseCacheBytes / 2 || cache_.contains(index)) return;
    cache_.emplace(index, content);
    order_.push_back(index);
    cached_bytes_ += content->size();
    while (cached_bytes_ > kBaseCacheBytes && !order_.empty()) {
      auto it = cache_.find(order_.front());
      order_.pop_front();
      if (it == cache_.end()) continue;
      cached_bytes_ -= it->second->size();
      cache_.erase(it);
    }
  }

  Status charge(std::uint64_t n, std::uint64_t offset) {
    if (!limits_.charge || limits_.charge(n)) return Ok{};
    return make_error(Errc::limit, "git pack: decompression budget used up at the object at offset " + std::to_string(offset));
  }

  Result<std::optional<Entry>> skipped(std::uint32_t index, std::string reason) {
    Entry entry;
    entry.path = "/object-at-offset-" + std::to_string(objects_[index].offset);
    entry.type = Entry::Type::other;
    entry.skip_reason = std::move(reason);
    return std::optional<Entry>(std::move(entry));
  }

  static Error malformed(std::uint64_t offset, const std::string& what) {
    return make_error(Errc::malformed, "git pack: object at offset " + std::to_string(offset) + ": " + what);
  }

  unsigned char byte(std::uint64_t pos) const { return static_cast<unsigned char>(pack_[pos]); }
  std::uint32_t be32(std::size_t pos) const {
    return (std::uint32_t{byte(pos)} << 24) | (std::uint32_t{byte(pos + 1)} << 16) | (std::uint32_t{byte(pos + 2)} << 8) | byte(pos + 3);
  }

  std::string_view pack_;
  GitLimits limits_;
  std::unique_ptr<inflate_state> state_;  // ~40 KB: kept off the stack
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> sha_;
  std::uint32_t count_ = 0;
  std::uint32_t walked_ = 0;
  std::uint64_t end_ = 0;
  std::uint64_t next_ = 0;
  std::vector<PackObject> objects_;  // in pack order, so sorted by offset
  std::unordered_map<ObjectId, std::uint32_t, IdHash> ids_;
  std::unordered_map<std::uint32_t, ObjectId> ref_bases_;  // REF_DELTA index -> base id
  std::vector<std::uint32_t> deferred_;                    // deltas whose base came later (or never)
  std::unordered_map<std::uint32_t, Content> cache_;
  std::deque<std::uint32_t> order_;
  std::uint64_t cached_bytes_ = 0;
  std::string scratch_;
  Content current_;
  std::size_t served_ = 0;
  std::optional<Error> error_;
  std::shared_ptr<const git::GitPathNamer> names_;
  git::GitPathNamer* collect_ = nullptr;
  std::string note_;  // why naming stopped short: served first, as a skipped entry
};

// The naming pass: walks the whole pack once under its own bound, then names the blobs. Errors are left
// to the serving pass, which meets them at the same object after serving what comes before.
std::shared_ptr<const git::GitPathNamer> name_blobs(std::string_view bytes, const GitLimits& limits) {
  auto namer = std::make_shared<git::GitPathNamer>(limits);
  GitLimits first = limits;
  std::uint64_t used = 0;
  bool over = false;
  first.charge = [&used, &over, cap = limits.max_naming_bytes](std::uint64_t n) {
    used += n;
    over = used > cap;
    return !over;
  };
  {
    PackReader pass(bytes, std::move(first), nullptr, namer.get());
    if (!pass.open()) return nullptr;
    while (namer->limited().empty()) {
      auto entry = pass.next_entry();
      if (!entry || !*entry) break;
    }
  }
  if (over) {
    namer->abandon("the history inflates to more than the naming limit of " + std::to_string(limits.max_naming_bytes) + " bytes");
  }
  namer->build();
  return namer;
}

// ".../objects/ab/<38 hex>" in a directory named ".git" or "<name>.git" (a bare repository).
std::optional<std::string> loose_object_id(std::string_view path) {
  if (path.size() < 41 + 9 || path[path.size() - 39] != '/' || path[path.size() - 42] != '/') return std::nullopt;
  const std::string_view tail = path.substr(path.size() - 41);  // "ab/<38>"
  if (!is_lower_hex(tail.substr(0, 2)) || !is_lower_hex(tail.substr(3))) return std::nullopt;
  const std::string_view dir = path.substr(0, path.size() - 42);  // ".../x.git/objects"
  if (!dir.ends_with(".git/objects")) return std::nullopt;
  return std::string(tail.substr(0, 2)) + std::string(tail.substr(3));
}

}  // namespace

NestedKind sniff_git(std::string_view path, std::span<const char> head) {
  auto byte = [&](std::size_t i) { return i < head.size() ? static_cast<unsigned char>(head[i]) : 0u; };
  if (path.ends_with(".pack") && head.size() >= 8 && std::string_view(head.data(), 4) == "PACK" && byte(4) == 0 &&
      byte(5) == 0 && byte(6) == 0 && (byte(7) == 2 || byte(7) == 3)) {
    return NestedKind::git_pack;
  }
  // A zlib header: deflate with a window of at most 32 KiB, no preset dictionary, check bits valid.
  if (head.size() >= 2 && (byte(0) & 0x0f) == 8 && (byte(0) >> 4) <= 7 && !(byte(1) & 0x20) &&
      ((byte(0) << 8) | byte(1)) % 31 == 0 && loose_object_id(path)) {
    return NestedKind::git_loose;
  }
  return NestedKind::none;
}

Result<std::unique_ptr<EntryReader>> open_git_loose(ByteReader& stream, std::string_view path) {
  auto id = loose_object_id(path);
  if (!id) return make_error(Errc::invalid_argument, "not the path of a loose git object: " + std::string(path));
  auto reader = std::make_unique<LooseObjectReader>(stream, std::move(*id));
  if (auto st = reader->open(); !st) return std::move(st).error();
  return std::unique_ptr<EntryReader>(std::move(reader));
}

Result<std::unique_ptr<EntryReader>> open_git_pack(std::string_view bytes, GitLimits limits) {
  std::shared_ptr<const git::GitPathNamer> names;
  if (limits.name_paths) names = name_blobs(bytes, limits);
  auto reader = std::make_unique<PackReader>(bytes, std::move(limits), std::move(names));
  if (auto st = reader->open(); !st) return std::move(st).error();
  return std::unique_ptr<EntryReader>(std::move(reader));
}

}  // namespace layerleak::archive
