#include "file_scanner.h"

#include <algorithm>

#include "confirm.h"
#include "decode_stage.h"
#include "findings.h"
#include "uuid_finder.h"

namespace layerleak::detect {

namespace {
// UUIDs remembered per file as identifiers (a value also used as an ID is not a key).
constexpr std::size_t kMaxIdValues = 4096;
}  // namespace

FileScanner::FileScanner(std::shared_ptr<const Detector> detector, int depth)
    : detector_(std::move(detector)), depth_(depth) {}
FileScanner::~FileScanner() = default;

Status FileScanner::open() {
  const Detector::Impl& d = detector_->impl();
  if (auto st = matcher_.open(d); !st) return st;
  anchors_seen_.assign(d.rules.anchors.size(), false);
  for (const rules::Rule& rule : d.rules.rules) {
    if (!rule.patterns.empty() && rule.patterns.front().secret == rules::SecretShape::access_key) access_key_rule_ = &rule;
  }
  if (depth_ == 0) {  // decoded views are not decoded again
    utf16_ = std::make_unique<Utf16Stage>(detector_, depth_ + 1);
    for (LineDecodeStage::Kind kind : {LineDecodeStage::Kind::percent, LineDecodeStage::Kind::json}) {
      line_stages_.push_back(std::make_unique<LineDecodeStage>(kind, detector_, depth_ + 1));
    }
  }
  return Ok{};
}

void FileScanner::begin(std::string_view path) {
  path_.assign(path);
  matcher_.set_where(path_);
  position_.reset();
  waiting_.clear();
  confirmed_.clear();
  held_.clear();
  id_values_.clear();
  std::fill(anchors_seen_.begin(), anchors_seen_.end(), false);
  const auto& anchors = detector_->rules().anchors;
  const std::string lower_path = ascii_lower(path_);
  for (std::size_t a = 0; a < anchors.size(); ++a) {
    for (const std::string& suffix : anchors[a].paths) {
      if (path_.ends_with(suffix)) anchors_seen_[a] = true;
    }
    for (const std::string& part : anchors[a].path_contains) {
      if (lower_path.find(part) != std::string::npos) anchors_seen_[a] = true;
    }
  }
  // A path anchor can make any pattern count: such files skip the gate.
  matcher_.begin(std::none_of(anchors_seen_.begin(), anchors_seen_.end(), [](bool b) { return b; }));
  if (utf16_) utf16_->begin(path_);
  for (auto& stage : line_stages_) stage->begin(path_);
}

void FileScanner::add_anchors(const std::vector<bool>& anchors) {
  for (std::size_t a = 0; a < anchors.size() && a < anchors_seen_.size(); ++a) {
    if (anchors[a]) anchors_seen_[a] = true;
  }
}

Status FileScanner::feed(std::span<const char> chunk, bool last) {
  if (!utf16_) return feed_text(chunk, last);
  return utf16_->feed(chunk, [this](std::span<const char> text, bool end) { return feed_text(text, end); }, last);
}

Status FileScanner::feed_text(std::span<const char> chunk, bool last) {
  return matcher_.feed(
      chunk, [this](std::span<const char> bytes, std::vector<Hit>& hits) { return on_scanned(bytes, hits); }, last);
}

Status FileScanner::on_scanned(std::span<const char> chunk, std::vector<Hit>& hits) {
  if (!chunk.empty()) {
    const Window window = position_.window(chunk);
    add_finder_hits(window, hits);
    for (auto& stage : line_stages_) {
      if (auto st = stage->feed(window, position_); !st) return st;
    }
    if (auto st = continue_waiting(chunk); !st) return st;
  }
  if (auto st = process_hits(chunk, hits); !st) return st;
  position_.advance(chunk);
  return Ok{};
}

Result<std::vector<Detection>> FileScanner::finish() {
  bool opened = false;
  bool utf16 = false;
  if (utf16_) {
    auto decided = utf16_->finish([this](std::span<const char> text, bool last) { return feed_text(text, last); });
    if (!decided) return std::move(decided).error();
    utf16 = *decided;
  }
  if (utf16) {
    auto found = utf16_->findings(anchors_seen_);
    if (!found) return std::move(found).error();
    for (Detection& d : *found) confirmed_.push_back(std::move(d));
  } else {
    auto sink = [this](std::span<const char> bytes, std::vector<Hit>& hits) { return on_scanned(bytes, hits); };
    if (auto st = matcher_.finish(sink, opened); !st) return std::move(st).error();
  }
  std::vector<Candidate> waiting = std::move(waiting_);
  waiting_.clear();
  for (Candidate& c : waiting) {  // end of file ends every token and is a valid boundary
    if (auto st = confirm(std::move(c)); !st) return std::move(st).error();
  }
  resolve_held();
  if (opened) {
    for (auto& stage : line_stages_) {
      auto decoded = stage->finish(position_.window(std::span<const char>()), position_, anchors_seen_);
      if (!decoded) return std::move(decoded).error();
      for (Detection& d : *decoded) {
        const bool known = std::any_of(confirmed_.begin(), confirmed_.end(), [&](const Detection& x) {
          return x.rule == d.rule && x.secret == d.secret;
        });
        if (!known) confirmed_.push_back(std::move(d));
      }
    }
  }
  std::vector<Detection> out = std::move(confirmed_);
  confirmed_.clear();
  finalize_findings(out, detector_->impl(), path_, id_values_);
  return out;
}

// Candidates of the finder patterns (rules::Pattern::finder) join Hyperscan's hits, in end order.
void FileScanner::add_finder_hits(const Window& window, std::vector<Hit>& hits) {
  const std::vector<unsigned>& finders = detector_->impl().uuid_finders;
  if (finders.empty()) return;
  finder_ends_.clear();
  id_ends_.clear();
  find_uuid_candidates(window, finder_ends_, id_ends_);
  for (std::uint64_t end : id_ends_) remember_id(window, end);
  if (finder_ends_.empty()) return;
  const std::size_t middle = hits.size();
  for (std::uint64_t end : finder_ends_) {
    for (unsigned id : finders) hits.emplace_back(id, end);
  }
  std::inplace_merge(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(middle), hits.end(),
                     [](const Hit& a, const Hit& b) { return a.second < b.second; });
}

// Open tokens and boundary checks that were waiting for the next bytes.
Status FileScanner::continue_waiting(std::span<const char> chunk) {
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

Status FileScanner::process_hits(std::span<const char> chunk, const std::vector<Hit>& hits) {
  if (hits.empty()) return Ok{};
  const Window window = position_.window(chunk);
  PositionTracker::Cursor cursor = position_.cursor();
  const Detector::Impl& d = detector_->impl();
  for (const auto& [id, end] : hits) {
    const PatternRef& ref = d.patterns[id];
    if (ref.rule == nullptr) {
      anchors_seen_[ref.anchor] = true;
      continue;
    }
    if (ref.pattern->secret == rules::SecretShape::base64_blob && depth_ > 0) continue;
    if (ref.pattern->id_value) {
      remember_id(window, end);
      continue;
    }
    auto candidate = start_candidate(ref, window, end);
    if (!candidate) continue;
    position_.locate(candidate->start, window, cursor, candidate->line, candidate->column);
    read_context(*candidate, window);
    const std::size_t next = static_cast<std::size_t>(end - position_.position());
    if (extend(*candidate, chunk, next)) {
      if (auto st = confirm(std::move(*candidate)); !st) return st;
    } else {
      waiting_.push_back(std::move(*candidate));
    }
  }
  return Ok{};
}

// A UUID under an ID name ends at `end` (an id_value pattern's hit, or the UUID finder's): remembered,
// never reported (no boundary or context checks: an ID that is part of a longer token is still no key).
void FileScanner::remember_id(const Window& window, std::uint64_t end) {
  if (end < 36 || end - 36 < window.begin() || id_values_.size() >= kMaxIdValues) return;
  std::string id = window.slice(end - 36, end);
  auto& uses = id_values_[std::move(id)];
  if (uses.size() < 4) uses.push_back(end - 36);
}

// The names above the candidate, read while the window still holds them.
void FileScanner::read_context(Candidate& c, const Window& window) const {
  const rules::Pattern& p = *c.pattern;
  if (!p.resource_types.empty()) {
    const std::string type = nearest_resource_type(window, c.start);
    c.type_ok = std::find(p.resource_types.begin(), p.resource_types.end(), type) != p.resource_types.end();
  }
  if (!p.check_key_name) return;
  const KeyContext context = key_context(window, c.start, detector_->rules());
  c.verdict = judge_names(context, detector_->rules());
  c.named = !p.named_context.empty() && names_any(context, p.named_context);
  for (const auto& [name, anchor] : detector_->impl().framework_names) {
    if (context.own == name) c.unless_anchor = anchor;
  }
}

Status FileScanner::confirm(Candidate c) {
  if (c.rejected || !c.type_ok || !host_ok(c) || !line_after_ok(c)) return Ok{};
  if (c.pattern->secret == rules::SecretShape::base64_blob) return confirm_blob(c);
  auto found = check_shape(c);
  if (!found) return Ok{};
  if (c.pattern->check_key_name) {
    if (c.verdict == NameVerdict::id && id_values_.size() < kMaxIdValues) {
      auto& uses = id_values_[found->secret];
      if (uses.size() < 4) uses.push_back(found->offset);
    }
    if (c.verdict == NameVerdict::none && c.binary) {
      // Compiled strings keep no structure: a UUID in a binary that also holds an access key.
      held_.push_back(Held{std::move(*found), c.pattern, access_key_rule_});
      return Ok{};
    }
    if (c.verdict != NameVerdict::secret) return Ok{};
    if (c.unless_anchor != ~std::size_t{0}) {
      Held held{std::move(*found), c.pattern};
      held.unless_anchor = c.unless_anchor;
      held.named = c.named;
      held_.push_back(std::move(held));
      return Ok{};
    }
    if (c.named) {
      found->confidence = rules::Confidence::high;
      confirmed_.push_back(std::move(*found));
      return Ok{};
    }
  }
  emit(std::move(*found), c.pattern);
  return Ok{};
}

Status FileScanner::confirm_blob(const Candidate& c) {
  if (!blob_) blob_ = std::make_unique<BlobStage>(detector_, depth_ + 1);
  auto found = blob_->decode(c, path_);
  if (!found) return std::move(found).error();
  for (Detection& d : *found) confirmed_.push_back(std::move(d));
  return Ok{};
}

void FileScanner::emit(Detection d, const rules::Pattern* pattern) {
  if (pattern->requires_any.empty()) {
    confirmed_.push_back(std::move(d));
  } else {
    held_.push_back(Held{std::move(d), pattern});
  }
}

void FileScanner::resolve_held() {
  const Detector::Impl& d = detector_->impl();
  for (Held& h : held_) {
    if (h.unless_anchor != ~std::size_t{0}) {
      if (anchors_seen_[h.unless_anchor]) continue;  // the framework's own secret
      if (h.named) {
        h.detection.confidence = rules::Confidence::high;
        confirmed_.push_back(std::move(h.detection));
        continue;
      }
    }
    if (h.only_rule) {
      if (std::any_of(confirmed_.begin(), confirmed_.end(), [&](const Detection& x) { return x.rule == h.only_rule; })) {
        confirmed_.push_back(std::move(h.detection));
      }
      continue;
    }
    const Detector::Impl::Requirement& need = d.requirements.at(h.pattern);
    bool ok = std::any_of(need.anchors.begin(), need.anchors.end(), [&](std::size_t a) { return anchors_seen_[a]; });
    ok = ok || std::any_of(need.rules.begin(), need.rules.end(), [&](const rules::Rule* r) {
           return std::any_of(confirmed_.begin(), confirmed_.end(), [&](const Detection& x) { return x.rule == r; });
         });
    if (ok) confirmed_.push_back(std::move(h.detection));
  }
  held_.clear();
}

}  // namespace layerleak::detect
