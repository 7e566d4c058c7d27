#include <hs/hs.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "confirm.h"
#include "layerleak/detect.h"

namespace layerleak::detect {

namespace {

struct DatabaseDeleter {
  void operator()(hs_database_t* db) const { hs_free_database(db); }
};
struct ScratchDeleter {
  void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
};
struct StreamDeleter {
  void operator()(hs_stream_t* s) const { hs_close_stream(s, nullptr, nullptr, nullptr); }
};
struct CompileErrorDeleter {
  void operator()(hs_compile_error_t* e) const { hs_free_compile_error(e); }
};

// Why 16 KiB: the longest fixed secret plus its key name fits many times over, and so do a Serverless
// JWT and a base64-encoded env file (kBackScan); copying it per chunk is noise next to decompression.
constexpr std::size_t kWindow = 16 * 1024;
// Files are held back (copied) up to this size while the prefilter has not matched: a file that ends
// without a prefilter hit never reaches the full matcher. Larger files go through it from the start.
constexpr std::size_t kGateBytes = 1 << 20;
// The longest open-shape token (JWT, docker auth) followed past the match end, and for base64 blobs.
constexpr std::size_t kMaxToken = 4096;
constexpr std::size_t kMaxBlob = 64 * 1024;
// How far back an open-shape token is followed from the match end. Why less than kWindow: the window
// always holds this much before any match, whatever the chunk sizes, so results never depend on them.
constexpr std::size_t kBackScan = 8 * 1024;
// The host name after a URL's userinfo, read to check it.
constexpr std::size_t kMaxHost = 256;
// Bytes of the line before a secret kept for key-name checks.
constexpr std::size_t kLineBefore = 160;
constexpr std::uint64_t kNoNewline = ~std::uint64_t{0};

// Why blocks of 255 with a byte counter: GCC turns the inner loop into byte compares and byte
// subtractions (16 bytes per instruction); std::count widens every match to 64 bits and ran at a third
// of Hyperscan's speed.
std::uint64_t count_newlines(std::span<const char> bytes) {
  std::uint64_t total = 0;
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  while (n > 0) {
    const std::size_t block = std::min<std::size_t>(n, 255);
    unsigned char count = 0;
    for (std::size_t i = 0; i < block; ++i) count = static_cast<unsigned char>(count + (p[i] == '\n'));
    total += count;
    p += block;
    n -= block;
  }
  return total;
}

// What a Hyperscan id stands for: a rule pattern, or an anchor pattern.
struct PatternRef {
  const rules::Rule* rule = nullptr;        // null for anchors
  const rules::Pattern* pattern = nullptr;  // for rules
  std::size_t anchor = 0;                   // for anchors: index into RuleSet::anchors
};

}  // namespace

struct Detector::Impl {
  rules::RuleSet rules;
  std::unique_ptr<hs_database_t, DatabaseDeleter> database;
  std::unique_ptr<hs_database_t, DatabaseDeleter> prefilter;  // null when the rules have no gate
  std::unique_ptr<hs_scratch_t, ScratchDeleter> prototype_scratch;
  std::vector<PatternRef> patterns;  // by Hyperscan id
  // Resolved `requires_any`: per rule pattern, anchor indexes and rule pointers.
  struct Requirement {
    std::vector<std::size_t> anchors;
    std::vector<const rules::Rule*> rules;
  };
  std::map<const rules::Pattern*, Requirement> requirements;
};

Detector::Detector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Detector::~Detector() = default;
const rules::RuleSet& Detector::rules() const { return impl_->rules; }

Result<std::shared_ptr<const Detector>> Detector::compile(rules::RuleSet rule_set) {
  auto impl = std::make_unique<Impl>();
  impl->rules = std::move(rule_set);
  std::vector<const char*> expressions;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  auto add = [&](const rules::Pattern& p, PatternRef ref) {
    expressions.push_back(p.regex.c_str());
    flags.push_back(p.caseless ? HS_FLAG_CASELESS : 0u);
    ids.push_back(static_cast<unsigned>(impl->patterns.size()));
    impl->patterns.push_back(ref);
  };
  for (const rules::Rule& rule : impl->rules.rules) {
    for (const rules::Pattern& p : rule.patterns) {
      add(p, PatternRef{&rule, &p, 0});
      Impl::Requirement& need = impl->requirements[&p];
      for (const std::string& name : p.requires_any) {
        if (name.rfind("rule:", 0) == 0) {
          const rules::Rule* target = impl->rules.find(std::string_view(name).substr(5));
          if (!target) return make_error(Errc::invalid_argument, rule.id + " requires unknown rule \"" + name + "\"");
          need.rules.push_back(target);
        } else {
          const rules::Anchor* anchor = impl->rules.find_anchor(name);
          if (!anchor) return make_error(Errc::invalid_argument, rule.id + " requires unknown anchor \"" + name + "\"");
          need.anchors.push_back(static_cast<std::size_t>(anchor - impl->rules.anchors.data()));
        }
      }
    }
  }
  for (std::size_t a = 0; a < impl->rules.anchors.size(); ++a) {
    for (const rules::Pattern& p : impl->rules.anchors[a].patterns) add(p, PatternRef{nullptr, nullptr, a});
  }
  if (expressions.empty()) return make_error(Errc::invalid_argument, "no rule patterns to compile");

  hs_database_t* db = nullptr;
  hs_compile_error_t* raw_error = nullptr;
  hs_error_t rc = hs_compile_multi(expressions.data(), flags.data(), ids.data(),
                                   static_cast<unsigned>(expressions.size()), HS_MODE_STREAM, nullptr, &db,
                                   &raw_error);
  std::unique_ptr<hs_compile_error_t, CompileErrorDeleter> error(raw_error);
  if (rc != HS_SUCCESS) {
    std::string which = "a rule";
    if (error && error->expression >= 0 && static_cast<std::size_t>(error->expression) < impl->patterns.size()) {
      const PatternRef& ref = impl->patterns[static_cast<std::size_t>(error->expression)];
      which = ref.rule ? "rule " + ref.rule->id : "anchor " + impl->rules.anchors[ref.anchor].id;
    }
    return make_error(Errc::invalid_argument, "Hyperscan rejected a pattern of " + which + ": " +
                                                  (error ? error->message : "unknown error"));
  }
  impl->database.reset(db);
  hs_scratch_t* scratch = nullptr;
  if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) {
    return make_error(Errc::internal, "Hyperscan could not allocate scratch space");
  }
  impl->prototype_scratch.reset(scratch);

  if (!impl->rules.prefilter.empty()) {
    std::vector<const char*> gate_expressions;
    std::vector<unsigned> gate_flags;
    std::vector<unsigned> gate_ids;
    for (const rules::Pattern& p : impl->rules.prefilter) {
      gate_expressions.push_back(p.regex.c_str());
      gate_flags.push_back(HS_FLAG_SINGLEMATCH | (p.caseless ? HS_FLAG_CASELESS : 0u));
      gate_ids.push_back(static_cast<unsigned>(gate_ids.size()));
    }
    hs_database_t* gate = nullptr;
    hs_compile_error_t* raw_gate_error = nullptr;
    rc = hs_compile_multi(gate_expressions.data(), gate_flags.data(), gate_ids.data(),
                          static_cast<unsigned>(gate_expressions.size()), HS_MODE_STREAM, nullptr, &gate, &raw_gate_error);
    std::unique_ptr<hs_compile_error_t, CompileErrorDeleter> gate_error(raw_gate_error);
    if (rc != HS_SUCCESS) {
      return make_error(Errc::invalid_argument, std::string("Hyperscan rejected a prefilter pattern: ") +
                                                    (gate_error ? gate_error->message : "unknown error"));
    }
    impl->prefilter.reset(gate);
    // One scratch serves both databases.
    if (hs_alloc_scratch(gate, &scratch) != HS_SUCCESS) {
      return make_error(Errc::internal, "Hyperscan could not allocate scratch space");
    }
    impl->prototype_scratch.release();
    impl->prototype_scratch.reset(scratch);
  }
  return std::shared_ptr<const Detector>(new Detector(std::move(impl)));
}

namespace {

// A hit being confirmed: the bytes known so far and what is still needed.
struct Candidate {
  const rules::Rule* rule = nullptr;
  const rules::Pattern* pattern = nullptr;
  std::uint64_t start = 0;   // offset of the secret's (or token's) first byte
  std::string token;         // bytes from `start` on; grows while an open shape continues
  std::string line_before;   // up to kLineBefore bytes of the same line before `start`
  char left = '\n';          // byte before `start` ('\n' at the start of the file)
  std::uint64_t line = 0, column = 0;
  bool need_boundary = false;  // fixed shape waiting for the byte after the secret
  bool need_host = false;      // waiting for the host name after the match (Pattern::host_after)
  std::string host;
  bool truncated_start = false;  // open shape whose start lies beyond kBackScan
  bool rejected = false;         // the secret runs on past its shape: not this secret
};

// A detection that still depends on file-level context.
struct Held {
  Detection detection;
  const rules::Pattern* pattern;
};

}  // namespace

// The per-file engine. A session owns one; a file scanner owns a child for decoded base64 content.
class FileScanner {
 public:
  FileScanner(std::shared_ptr<const Detector> detector, int depth) : detector_(std::move(detector)), depth_(depth) {}

  Status open() {
    const Detector::Impl& d = detector_->impl();
    hs_scratch_t* scratch = nullptr;
    if (hs_clone_scratch(d.prototype_scratch.get(), &scratch) != HS_SUCCESS) {
      return make_error(Errc::internal, "Hyperscan could not clone scratch space");
    }
    scratch_.reset(scratch);
    hs_stream_t* stream = nullptr;
    if (hs_open_stream(d.database.get(), 0, &stream) != HS_SUCCESS) {
      return make_error(Errc::internal, "Hyperscan could not open a stream");
    }
    stream_.reset(stream);
    if (d.prefilter) {
      hs_stream_t* gate = nullptr;
      if (hs_open_stream(d.prefilter.get(), 0, &gate) != HS_SUCCESS) {
        return make_error(Errc::internal, "Hyperscan could not open a stream");
      }
      gate_stream_.reset(gate);
    }
    tail_.reserve(kWindow * 2);
    anchors_seen_.assign(d.rules.anchors.size(), false);
    return Ok{};
  }

  void begin(std::string_view path) {
    path_.assign(path);
    position_ = 0;
    newlines_ = 0;
    last_newline_ = kNoNewline;
    oldest_newline_before_window_ = kNoNewline;
    tail_.clear();
    hits_.clear();
    waiting_.clear();
    confirmed_.clear();
    held_.clear();
    std::fill(anchors_seen_.begin(), anchors_seen_.end(), false);
    const auto& anchors = detector_->rules().anchors;
    for (std::size_t a = 0; a < anchors.size(); ++a) {
      for (const std::string& suffix : anchors[a].paths) {
        if (path_.ends_with(suffix)) anchors_seen_[a] = true;
      }
    }
    // A path anchor can make any pattern count: such files skip the gate.
    gated_ = gate_stream_ != nullptr && std::none_of(anchors_seen_.begin(), anchors_seen_.end(), [](bool b) { return b; });
    gate_hit_ = false;
    held_bytes_.clear();
    if (gated_) hs_reset_stream(gate_stream_.get(), 0, nullptr, nullptr, nullptr);
  }

  // While gated, bytes are only run through the prefilter and held; the first prefilter hit (or a file
  // outgrowing kGateBytes) sends everything held, then the rest, through the full matcher. The full
  // matcher gives the same result for any chunking, so holding bytes back never changes findings.
  Status feed(std::span<const char> chunk) {
    if (!gated_) return scan_chunk(chunk);
    if (chunk.empty()) return Ok{};
    hs_error_t rc = hs_scan_stream(gate_stream_.get(), chunk.data(), static_cast<unsigned>(chunk.size()), 0,
                                   scratch_.get(), &FileScanner::on_gate, this);
    if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) return make_error(Errc::internal, "Hyperscan scan failed in " + path_);
    if (!gate_hit_ && held_bytes_.size() + chunk.size() <= kGateBytes) {
      held_bytes_.append(chunk.data(), chunk.size());
      return Ok{};
    }
    return open_gate(chunk);
  }

  Status open_gate(std::span<const char> chunk) {
    gated_ = false;
    if (auto st = scan_chunk(std::span<const char>(held_bytes_.data(), held_bytes_.size())); !st) return st;
    held_bytes_.clear();
    return scan_chunk(chunk);
  }

  Status scan_chunk(std::span<const char> chunk) {
    if (chunk.empty()) return Ok{};
    if (auto st = continue_waiting(chunk); !st) return st;
    hs_error_t rc = hs_scan_stream(stream_.get(), chunk.data(), static_cast<unsigned>(chunk.size()), 0,
                                   scratch_.get(), &FileScanner::on_match, this);
    if (rc != HS_SUCCESS) return make_error(Errc::internal, "Hyperscan scan failed in " + path_);
    if (auto st = process_hits(chunk); !st) return st;
    advance(chunk);
    return Ok{};
  }

  Result<std::vector<Detection>> finish() {
    if (gated_) {
      // A prefilter regex may only be decided at end of data (plain literals never are).
      if (!gate_hit_) {
        hs_error_t rc = hs_reset_stream(gate_stream_.get(), 0, scratch_.get(), &FileScanner::on_gate, this);
        if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) return make_error(Errc::internal, "Hyperscan stream reset failed in " + path_);
      }
      if (!gate_hit_) {
        gated_ = false;
        held_bytes_.clear();
        return std::vector<Detection>{};
      }
      if (auto st = open_gate(std::span<const char>()); !st) return std::move(st).error();
    }
    // Resetting with a scratch reports the matches that are only decided at end of data.
    hs_error_t rc = hs_reset_stream(stream_.get(), 0, scratch_.get(), &FileScanner::on_match, this);
    if (rc != HS_SUCCESS) return make_error(Errc::internal, "Hyperscan stream reset failed in " + path_);
    if (auto st = process_hits(std::span<const char>()); !st) return std::move(st).error();
    std::vector<Candidate> waiting = std::move(waiting_);
    waiting_.clear();
    for (Candidate& c : waiting) {  // end of file ends every token and is a valid boundary
      if (auto st = confirm(std::move(c)); !st) return std::move(st).error();
    }
    resolve_held();
    std::vector<Detection> out = std::move(confirmed_);
    confirmed_.clear();
    finalize(out);
    return out;
  }

 private:
  static int on_gate(unsigned, unsigned long long, unsigned long long, unsigned, void* context) {
    static_cast<FileScanner*>(context)->gate_hit_ = true;
    return 1;  // one hit is enough: stop the prefilter for this file
  }

  static int on_match(unsigned id, unsigned long long, unsigned long long to, unsigned, void* context) {
    auto* self = static_cast<FileScanner*>(context);
    self->hits_.emplace_back(id, static_cast<std::uint64_t>(to));
    return 0;
  }

  // Open tokens and boundary checks that were waiting for the next bytes.
  Status continue_waiting(std::span<const char> chunk) {
    if (waiting_.empty()) return Ok{};
    std::vector<Candidate> still;
    std::vector<Candidate> waiting = std::move(waiting_);
    waiting_.clear();
    for (Candidate& c : waiting) {
      if (extend(c, chunk, 0)) {
        if (auto st = confirm(std::move(c)); !st) return st;
      } else {
        still.push_back(std::move(c));
      }
    }
    waiting_ = std::move(still);
    return Ok{};
  }

  // Adds bytes of `chunk` from `from` on to the candidate. True when it has all it needs.
  static bool extend(Candidate& c, std::span<const char> chunk, std::size_t from) {
    const rules::SecretShape shape = c.pattern->secret;
    if (!is_open_shape(shape)) {
      if (c.need_boundary) {
        if (from >= chunk.size()) return false;
        c.need_boundary = false;
        if (continues(shape, chunk[from])) {
          c.rejected = true;
          return true;
        }
      }
      if (!c.need_host) return true;
      std::size_t i = from;
      while (i < chunk.size() && c.host.size() < kMaxHost && std::string_view("/:?# \t\r\n\"'@").find(chunk[i]) == std::string_view::npos) {
        c.host.push_back(chunk[i++]);
      }
      if (i < chunk.size() || c.host.size() >= kMaxHost) c.need_host = false;
      return !c.need_host;
    }
    const std::size_t limit = shape == rules::SecretShape::base64_blob ? kMaxBlob : kMaxToken;
    std::size_t i = from;
    while (i < chunk.size() && c.token.size() < limit && continues(shape, chunk[i])) c.token.push_back(chunk[i++]);
    return i < chunk.size() || c.token.size() >= limit;
  }

  Status process_hits(std::span<const char> chunk) {
    if (hits_.empty()) return Ok{};
    Window window{tail_, chunk, position_};
    LineCursor cursor{position_, newlines_, last_newline_};
    std::vector<std::pair<unsigned, std::uint64_t>> hits = std::move(hits_);
    hits_.clear();
    const Detector::Impl& d = detector_->impl();
    for (const auto& [id, end] : hits) {
      const PatternRef& ref = d.patterns[id];
      if (ref.rule == nullptr) {
        anchors_seen_[ref.anchor] = true;
        continue;
      }
      if (ref.pattern->secret == rules::SecretShape::base64_blob && depth_ > 0) continue;
      auto candidate = start_candidate(ref, window, end);
      if (!candidate) continue;
      locate(*candidate, window, cursor);
      const std::size_t next = static_cast<std::size_t>(end - position_);
      if (extend(*candidate, chunk, next)) {
        if (auto st = confirm(std::move(*candidate)); !st) return st;
      } else {
        waiting_.push_back(std::move(*candidate));
      }
    }
    return Ok{};
  }

  std::optional<Candidate> start_candidate(const PatternRef& ref, const Window& window, std::uint64_t end) const {
    const rules::SecretShape shape = ref.pattern->secret;
    Candidate c;
    c.rule = ref.rule;
    c.pattern = ref.pattern;
    std::uint64_t token_end = end;
    if (is_open_shape(shape)) {
      // The token starts where its characters start, at or before the match end, at most kBackScan back.
      const std::uint64_t lower = end > kBackScan ? end - kBackScan : 0;
      std::uint64_t start = end;
      while (start > lower && continues(shape, window.at(start - 1))) --start;
      if (start == lower && start > 0 && continues(shape, window.at(start - 1))) {
        if (shape != rules::SecretShape::base64_blob) return std::nullopt;  // a token this long is not ours
        c.truncated_start = true;
      }
      c.start = start;
    } else {
      const std::size_t length = fixed_length(shape);
      if (end < ref.pattern->secret_end + length) return std::nullopt;
      token_end = end - ref.pattern->secret_end;
      if (token_end - length < window.begin()) return std::nullopt;
      c.start = token_end - length;
      // A boundary byte inside the match is known now; otherwise wait for the byte after it.
      if (ref.pattern->secret_end > 0) {
        if (continues(shape, window.at(token_end))) return std::nullopt;
      } else {
        c.need_boundary = true;
      }
      c.need_host = !ref.pattern->host_after.empty();
    }
    for (std::uint64_t at = c.start; at < token_end; ++at) c.token.push_back(window.at(at));
    c.left = c.start > window.begin() ? window.at(c.start - 1) : '\n';
    // A dash may end the separator before a UUID ("${SCW_SECRET_KEY:-<uuid>}"); letters, digits and
    // underscores may not: then the UUID is part of a longer word.
    const bool left_joins = shape == rules::SecretShape::uuid ? (continues(shape, c.left) && c.left != '-')
                                                               : continues(shape, c.left);
    if (!is_open_shape(shape) && left_joins) return std::nullopt;
    std::uint64_t from = c.start;
    while (from > window.begin() && c.start - from < kLineBefore && window.at(from - 1) != '\n') --from;
    for (std::uint64_t at = from; at < c.start; ++at) c.line_before.push_back(window.at(at));
    return c;
  }

  struct LineCursor {
    std::uint64_t at;            // bytes before `at` are counted
    std::uint64_t lines;         // newlines in [0, at)
    std::uint64_t last_newline;  // offset of the last newline before `at`, or kNoNewline
  };

  // Line and column of the candidate's first byte. Hyperscan reports hits in end order, so a
  // forward-only cursor counts each newline once; starts before the cursor count back instead.
  void locate(Candidate& c, const Window& window, LineCursor& cursor) const {
    if (c.start >= cursor.at) {
      for (std::uint64_t at = cursor.at; at < c.start; ++at) {
        if (window.at(at) == '\n') {
          ++cursor.lines;
          cursor.last_newline = at;
        }
      }
      cursor.at = c.start;
      c.line = cursor.lines + 1;
      c.column = cursor.last_newline == kNoNewline ? c.start + 1 : c.start - cursor.last_newline;
      return;
    }
    std::uint64_t lines = cursor.lines;
    for (std::uint64_t at = cursor.at; at > c.start; --at) {
      if (window.at(at - 1) == '\n') --lines;
    }
    std::uint64_t newline_before = oldest_newline_before_window_;
    for (std::uint64_t at = c.start; at > window.begin(); --at) {
      if (window.at(at - 1) == '\n') {
        newline_before = at - 1;
        break;
      }
    }
    c.line = lines + 1;
    c.column = newline_before == kNoNewline ? c.start + 1 : c.start - newline_before;
  }

  Detection make_detection(const Candidate& c, std::string secret) const {
    Detection d;
    d.rule = c.rule;
    d.secret = std::move(secret);
    d.offset = c.start;
    d.line = c.line;
    d.column = c.column;
    d.severity = c.rule->severity;
    d.confidence = c.pattern->confidence;
    return d;
  }

  void emit(Detection d, const rules::Pattern* pattern) {
    if (pattern->requires_any.empty()) {
      confirmed_.push_back(std::move(d));
    } else {
      held_.push_back(Held{std::move(d), pattern});
    }
  }

  Status confirm(Candidate c) {
    if (c.rejected) return Ok{};
    const rules::SecretShape shape = c.pattern->secret;
    if (!c.pattern->host_after.empty()) {
      std::string host = c.host;
      for (char& ch : host) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
      if (std::none_of(c.pattern->host_after.begin(), c.pattern->host_after.end(),
                       [&](const std::string& suffix) { return host.ends_with(suffix); })) {
        return Ok{};
      }
    }
    if (c.pattern->check_key_name) {
      const std::string key = key_name_before(c.line_before);
      if (!names_secret(key) || is_id_name(key)) return Ok{};
    }
    switch (shape) {
      case rules::SecretShape::jwt:
        if (is_serverless_jwt(c.token)) emit(make_detection(c, c.token), c.pattern);
        return Ok{};
      case rules::SecretShape::docker_auth: {
        auto auth = decode_docker_auth(c.token);
        if (!auth) return Ok{};
        Detection d = make_detection(c, auth->password);
        d.encoding = "base64";
        if (auth->user == "nologin" || auth->user == "scaleway") {
          d.confidence = rules::Confidence::high;
        } else if (!c.pattern->any_user) {
          return Ok{};  // another registry's credentials
        }
        emit(std::move(d), c.pattern);
        return Ok{};
      }
      case rules::SecretShape::base64_blob: return confirm_blob(c);
      default: break;
    }
    if (!fixed_secret_ok(shape, c.token)) return Ok{};
    if (shape == rules::SecretShape::uuid_base64 || shape == rules::SecretShape::uuid_base64_newline) {
      Detection d = make_detection(c, base64_decode(c.token)->substr(0, 36));
      d.encoding = "base64";
      emit(std::move(d), c.pattern);
      return Ok{};
    }
    emit(make_detection(c, c.token), c.pattern);
    return Ok{};
  }

  // A base64 run that encodes Scaleway key names: decode it and scan the result as its own file.
  Status confirm_blob(const Candidate& c) {
    // A run whose start lies beyond kBackScan is decoded from each of the 4 possible alignments.
    const std::size_t alignments = c.truncated_start ? 4 : 1;
    std::vector<Detection> found_all;
    for (std::size_t skip = 0; skip < alignments && skip < c.token.size(); ++skip) {
      std::string_view run(c.token);
      run.remove_prefix(skip);
      run.remove_suffix(c.truncated_start ? run.size() % 4 : 0);
      auto decoded = base64_decode(run);
      if (!decoded || decoded->empty()) continue;
      if (!child_) {
        child_ = std::make_unique<FileScanner>(detector_, depth_ + 1);
        if (auto st = child_->open(); !st) return st;
      }
      child_->begin(path_);
      if (auto st = child_->feed(std::span<const char>(decoded->data(), decoded->size())); !st) return st;
      auto found = child_->finish();
      if (!found) return std::move(found).error();
      for (Detection& d : *found) found_all.push_back(std::move(d));
    }
    for (Detection& d : found_all) {
      d.encoding = "base64";
      d.offset = c.start;
      d.line = c.line;
      d.column = c.column;
      confirmed_.push_back(std::move(d));
    }
    return Ok{};
  }

  void resolve_held() {
    const Detector::Impl& d = detector_->impl();
    for (Held& h : held_) {
      const Detector::Impl::Requirement& need = d.requirements.at(h.pattern);
      bool ok = std::any_of(need.anchors.begin(), need.anchors.end(), [&](std::size_t a) { return anchors_seen_[a]; });
      ok = ok || std::any_of(need.rules.begin(), need.rules.end(), [&](const rules::Rule* r) {
             return std::any_of(confirmed_.begin(), confirmed_.end(), [&](const Detection& x) { return x.rule == r; });
           });
      if (ok) confirmed_.push_back(std::move(h.detection));
    }
    held_.clear();
  }

  // Dedupe (best confidence wins), pair secret keys with access keys, downgrade test paths, sort.
  void finalize(std::vector<Detection>& out) const {
    std::sort(out.begin(), out.end(), [](const Detection& a, const Detection& b) {
      if (a.offset != b.offset) return a.offset < b.offset;
      if (a.rule->id != b.rule->id) return a.rule->id < b.rule->id;
      return a.confidence > b.confidence;
    });
    out.erase(std::unique(out.begin(), out.end(),
                          [](const Detection& a, const Detection& b) {
                            return a.offset == b.offset && a.rule == b.rule && a.secret == b.secret;
                          }),
              out.end());
    for (Detection& s : out) {
      if (s.rule->id != "scaleway.secret-key") continue;
      const Detection* best = nullptr;
      std::uint64_t best_distance = ~std::uint64_t{0};
      for (const Detection& k : out) {
        if (k.rule->id != "scaleway.access-key") continue;
        const std::uint64_t distance = k.offset > s.offset ? k.offset - s.offset : s.offset - k.offset;
        if (distance < best_distance) {
          best = &k;
          best_distance = distance;
        }
      }
      if (best) {
        s.paired_access_key = best->secret;
        s.confidence = rules::Confidence::high;
      }
    }
    const auto& downgrade = detector_->rules().downgrade_paths;
    if (std::any_of(downgrade.begin(), downgrade.end(), [&](const std::string& p) { return path_.find(p) != std::string::npos; })) {
      for (Detection& x : out) {
        x.confidence = rules::Confidence::low;
        x.severity = std::min(x.severity, rules::Severity::low);
      }
    }
  }

  void advance(std::span<const char> chunk) {
    // Slide the window: bytes that fall out of it may hold the newest newline before it.
    const std::uint64_t new_position = position_ + chunk.size();
    const std::uint64_t new_window_start = new_position - std::min<std::uint64_t>(new_position, kWindow);
    const std::uint64_t old_window_start = position_ - tail_.size();
    Window window{tail_, chunk, position_};
    for (std::uint64_t at = new_window_start; at > old_window_start; --at) {
      if (window.at(at - 1) == '\n') {
        oldest_newline_before_window_ = at - 1;
        break;
      }
    }
    newlines_ += count_newlines(chunk);
    if (const void* nl = memrchr(chunk.data(), '\n', chunk.size())) {
      last_newline_ = position_ + static_cast<std::uint64_t>(static_cast<const char*>(nl) - chunk.data());
    }
    if (chunk.size() >= kWindow) {
      tail_.assign(chunk.data() + chunk.size() - kWindow, kWindow);
    } else {
      const std::size_t keep = std::min(tail_.size(), kWindow - chunk.size());
      tail_.erase(0, tail_.size() - keep);
      tail_.append(chunk.data(), chunk.size());
    }
    position_ = new_position;
  }

  std::shared_ptr<const Detector> detector_;
  int depth_;
  std::unique_ptr<hs_scratch_t, ScratchDeleter> scratch_;
  std::unique_ptr<hs_stream_t, StreamDeleter> stream_;
  std::unique_ptr<hs_stream_t, StreamDeleter> gate_stream_;  // null without a prefilter
  std::unique_ptr<FileScanner> child_;
  bool gated_ = false;     // bytes are being held back until the prefilter matches
  bool gate_hit_ = false;
  std::string held_bytes_;

  std::string path_;
  std::uint64_t position_ = 0;
  std::uint64_t newlines_ = 0;
  std::uint64_t last_newline_ = kNoNewline;
  std::uint64_t oldest_newline_before_window_ = kNoNewline;
  std::string tail_;
  std::vector<std::pair<unsigned, std::uint64_t>> hits_;
  std::vector<Candidate> waiting_;
  std::vector<Detection> confirmed_;
  std::vector<Held> held_;
  std::vector<bool> anchors_seen_;
};

struct DetectorSession::Impl {
  std::unique_ptr<FileScanner> scanner;
};

DetectorSession::DetectorSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DetectorSession::~DetectorSession() = default;

Result<std::unique_ptr<DetectorSession>> DetectorSession::create(std::shared_ptr<const Detector> detector) {
  auto impl = std::make_unique<Impl>();
  impl->scanner = std::make_unique<FileScanner>(std::move(detector), 0);
  if (auto st = impl->scanner->open(); !st) return std::move(st).error();
  return std::unique_ptr<DetectorSession>(new DetectorSession(std::move(impl)));
}

void DetectorSession::begin(std::string_view path) { impl_->scanner->begin(path); }
Status DetectorSession::feed(std::span<const char> chunk) { return impl_->scanner->feed(chunk); }
Result<std::vector<Detection>> DetectorSession::finish() { return impl_->scanner->finish(); }

Result<std::vector<Detection>> DetectorSession::scan(std::string_view path, std::string_view bytes) {
  begin(path);
  if (auto st = feed(std::span<const char>(bytes.data(), bytes.size())); !st) return std::move(st).error();
  return finish();
}

Result<std::vector<std::string>> check_rule_examples(std::shared_ptr<const Detector> detector) {
  auto session = DetectorSession::create(detector);
  if (!session) return std::move(session).error();
  std::vector<std::string> problems;
  auto count_of = [&](const std::vector<Detection>& found, const std::string& id) {
    return std::count_if(found.begin(), found.end(), [&](const Detection& d) { return d.rule->id == id; });
  };
  for (const rules::Rule& rule : detector->rules().rules) {
    for (const rules::Example& example : rule.examples) {
      auto found = (*session)->scan(example.path, example.text);
      if (!found) return std::move(found).error();
      if (count_of(*found, rule.id) == 0) problems.push_back(rule.id + ": example not found: " + example.text);
    }
    for (const rules::Example& example : rule.negative_examples) {
      auto found = (*session)->scan(example.path, example.text);
      if (!found) return std::move(found).error();
      if (count_of(*found, rule.id) != 0) {
        problems.push_back(rule.id + ": negative example reported: " + example.text);
      }
    }
  }
  return problems;
}

}  // namespace layerleak::detect
