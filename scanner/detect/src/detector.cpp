#include <hs/hs.h>

#include <algorithm>
#include <cstring>

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

// Why 4 KiB: the longest secret plus the key-name context on its line fits many times over, and
// copying 4 KiB per chunk is noise next to decompression.
constexpr std::size_t kWindow = 4096;

}  // namespace

struct Detector::Impl {
  rules::RuleSet rules;
  std::unique_ptr<hs_database_t, DatabaseDeleter> database;
  std::unique_ptr<hs_scratch_t, ScratchDeleter> prototype_scratch;
  std::vector<std::size_t> rule_of_pattern;  // Hyperscan id -> index into rules.rules
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
  for (std::size_t r = 0; r < impl->rules.rules.size(); ++r) {
    for (const rules::Pattern& p : impl->rules.rules[r].patterns) {
      expressions.push_back(p.regex.c_str());
      flags.push_back(p.caseless ? HS_FLAG_CASELESS : 0u);
      ids.push_back(static_cast<unsigned>(impl->rule_of_pattern.size()));
      impl->rule_of_pattern.push_back(r);
    }
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
    if (error && error->expression >= 0 && static_cast<std::size_t>(error->expression) < ids.size()) {
      which = "rule " + impl->rules.rules[impl->rule_of_pattern[static_cast<std::size_t>(error->expression)]].id;
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
  return std::shared_ptr<const Detector>(new Detector(std::move(impl)));
}

struct DetectorSession::Impl {
  std::shared_ptr<const Detector> detector;
  std::unique_ptr<hs_scratch_t, ScratchDeleter> scratch;
  std::unique_ptr<hs_stream_t, StreamDeleter> stream;

  // Per-file state, reset by begin().
  std::string path;
  std::uint64_t position = 0;         // bytes fed so far
  std::uint64_t newlines = 0;         // '\n' among those bytes
  std::uint64_t last_newline = kNoNewline;  // offset of the last '\n' fed, or kNoNewline
  std::uint64_t oldest_newline_before_window = kNoNewline;  // last '\n' before the window's first byte
  std::string tail;                   // the last <= kWindow bytes fed
  std::vector<std::pair<unsigned, std::uint64_t>> hits;  // raw (pattern id, end offset) of one chunk
  std::vector<Candidate> awaiting;    // confirmed but for the byte after the secret
  std::vector<Detection> detections;  // fully confirmed

  static constexpr std::uint64_t kNoNewline = ~std::uint64_t{0};

  static int on_match(unsigned id, unsigned long long /*from*/, unsigned long long to, unsigned /*flags*/,
                      void* context) {
    auto* self = static_cast<Impl*>(context);
    self->hits.emplace_back(id, static_cast<std::uint64_t>(to));
    return 0;
  }

  void reset_file(std::string_view new_path) {
    path.assign(new_path);
    position = 0;
    newlines = 0;
    last_newline = kNoNewline;
    oldest_newline_before_window = kNoNewline;
    tail.clear();
    hits.clear();
    awaiting.clear();
    detections.clear();
  }

  // Builds a candidate for every raw hit whose bytes lie in tail + chunk; chunk starts at `position`.
  // Hyperscan reports hits in end-offset order, so a forward-only cursor counts each newline once.
  void confirm_hits(std::span<const char> chunk) {
    if (hits.empty()) return;
    Window window{tail, chunk, position};
    LineCursor cursor{position, newlines, last_newline};
    for (const auto& [id, end] : hits) {
      const rules::Rule& rule = detector->rules().rules[detector->impl().rule_of_pattern[id]];
      auto candidate = extract_candidate(rule, window, end);
      if (!candidate) continue;
      locate(*candidate, window, cursor);
      if (end < position + chunk.size()) {
        if (right_boundary_ok(rule.secret, chunk[static_cast<std::size_t>(end - position)])) {
          accept(std::move(*candidate));
        }
      } else {
        awaiting.push_back(std::move(*candidate));
      }
    }
    hits.clear();
  }

  struct LineCursor {
    std::uint64_t at;            // bytes before `at` are counted
    std::uint64_t lines;         // newlines in [0, at)
    std::uint64_t last_newline;  // offset of the last newline before `at`, or kNoNewline
  };

  // Line and column of the candidate's first byte.
  void locate(Candidate& c, const Window& window, LineCursor& cursor) const {
    if (c.offset >= cursor.at) {
      for (std::uint64_t at = cursor.at; at < c.offset; ++at) {
        if (window.at(at) == '\n') {
          ++cursor.lines;
          cursor.last_newline = at;
        }
      }
      cursor.at = c.offset;
      c.line = cursor.lines + 1;
      c.column = cursor.last_newline == kNoNewline ? c.offset + 1 : c.offset - cursor.last_newline;
      return;
    }
    // The secret starts before the cursor (it straddles a chunk edge): count back inside the window.
    std::uint64_t lines = cursor.lines;
    for (std::uint64_t at = cursor.at; at > c.offset; --at) {
      if (window.at(at - 1) == '\n') --lines;
    }
    std::uint64_t newline_before = oldest_newline_before_window;
    const std::uint64_t window_start = position - tail.size();
    for (std::uint64_t at = c.offset; at > window_start; --at) {
      if (window.at(at - 1) == '\n') {
        newline_before = at - 1;
        break;
      }
    }
    c.line = lines + 1;
    c.column = newline_before == kNoNewline ? c.offset + 1 : c.offset - newline_before;
  }

  void accept(Candidate c) {
    Detection d;
    d.rule = c.rule;
    d.secret = std::move(c.secret);
    d.offset = c.offset;
    d.line = c.line;
    d.column = c.column;
    d.severity = c.rule->severity;
    d.confidence = c.rule->confidence;
    detections.push_back(std::move(d));
  }

  void advance(std::span<const char> chunk) {
    // Slide the window: bytes that fall out of `tail` may hold the newest newline before the window.
    std::uint64_t new_position = position + chunk.size();
    std::uint64_t new_window_start = new_position - std::min<std::uint64_t>(new_position, kWindow);
    std::uint64_t old_window_start = position - tail.size();
    Window window{tail, chunk, position};
    for (std::uint64_t at = new_window_start; at > old_window_start; --at) {
      if (window.at(at - 1) == '\n') {
        oldest_newline_before_window = at - 1;
        break;
      }
    }
    newlines += static_cast<std::uint64_t>(std::count(chunk.begin(), chunk.end(), '\n'));
    if (const void* nl = memrchr(chunk.data(), '\n', chunk.size())) {
      last_newline = position + static_cast<std::uint64_t>(static_cast<const char*>(nl) - chunk.data());
    }
    if (chunk.size() >= kWindow) {
      tail.assign(chunk.data() + chunk.size() - kWindow, kWindow);
    } else {
      std::size_t keep = std::min(tail.size(), kWindow - chunk.size());
      tail.erase(0, tail.size() - keep);
      tail.append(chunk.data(), chunk.size());
    }
    position = new_position;
  }
};

DetectorSession::DetectorSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DetectorSession::~DetectorSession() = default;

Result<std::unique_ptr<DetectorSession>> DetectorSession::create(std::shared_ptr<const Detector> detector) {
  auto impl = std::make_unique<Impl>();
  hs_scratch_t* scratch = nullptr;
  if (hs_clone_scratch(detector->impl().prototype_scratch.get(), &scratch) != HS_SUCCESS) {
    return make_error(Errc::internal, "Hyperscan could not clone scratch space");
  }
  impl->scratch.reset(scratch);
  hs_stream_t* stream = nullptr;
  if (hs_open_stream(detector->impl().database.get(), 0, &stream) != HS_SUCCESS) {
    return make_error(Errc::internal, "Hyperscan could not open a stream");
  }
  impl->stream.reset(stream);
  impl->detector = std::move(detector);
  impl->tail.reserve(kWindow * 2);
  return std::unique_ptr<DetectorSession>(new DetectorSession(std::move(impl)));
}

void DetectorSession::begin(std::string_view path) { impl_->reset_file(path); }

Status DetectorSession::feed(std::span<const char> chunk) {
  Impl& s = *impl_;
  if (chunk.empty()) return Ok{};
  if (!s.awaiting.empty()) {
    for (Candidate& c : s.awaiting) {
      if (right_boundary_ok(c.rule->secret, chunk[0])) s.accept(std::move(c));
    }
    s.awaiting.clear();
  }
  hs_error_t rc = hs_scan_stream(s.stream.get(), chunk.data(), static_cast<unsigned>(chunk.size()), 0,
                                 s.scratch.get(), &Impl::on_match, &s);
  if (rc != HS_SUCCESS) return make_error(Errc::internal, "Hyperscan scan failed in " + s.path);
  s.confirm_hits(chunk);
  s.advance(chunk);
  return Ok{};
}

Result<std::vector<Detection>> DetectorSession::finish() {
  Impl& s = *impl_;
  // Resetting with a scratch reports the matches that are only decided at end of data.
  hs_error_t rc = hs_reset_stream(s.stream.get(), 0, s.scratch.get(), &Impl::on_match, &s);
  if (rc != HS_SUCCESS) return make_error(Errc::internal, "Hyperscan stream reset failed in " + s.path);
  s.confirm_hits(std::span<const char>());
  for (Candidate& c : s.awaiting) s.accept(std::move(c));  // end of file is a valid boundary
  s.awaiting.clear();
  std::vector<Detection> out = std::move(s.detections);
  s.detections.clear();
  finalize_file(out);
  return out;
}

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
    for (const std::string& example : rule.examples) {
      auto found = (*session)->scan("example", example);
      if (!found) return std::move(found).error();
      if (count_of(*found, rule.id) == 0) problems.push_back(rule.id + ": example not found: " + example);
    }
    for (const std::string& example : rule.negative_examples) {
      auto found = (*session)->scan("negative-example", example);
      if (!found) return std::move(found).error();
      if (count_of(*found, rule.id) != 0) {
        problems.push_back(rule.id + ": negative example reported: " + example);
      }
    }
  }
  return problems;
}

}  // namespace layerleak::detect
