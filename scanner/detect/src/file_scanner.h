// The per-file engine: matcher, position tracker, confirmation, decoded views, findings. Internal to
// detect; a DetectorSession owns one, and a FileScanner owns children for the views it decodes
// (base64 blobs, UTF-16 text, percent-encoded and JSON-escaped lines).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "candidate.h"
#include "context.h"
#include "decoders.h"
#include "engine.h"
#include "findings.h"
#include "matcher.h"
#include "position.h"

namespace layerleak::detect {

class LineDecodeStage;
class Utf16Stage;
class BlobStage;

// Why ~300 lines: the parts it joins each live in their own file; what stays here is the hit loop and the
// bookkeeping of candidates, held detections, anchors and IDs, which all share one file's state.
class FileScanner {
 public:
  FileScanner(std::shared_ptr<const Detector> detector, int depth);
  ~FileScanner();
  FileScanner(const FileScanner&) = delete;
  FileScanner& operator=(const FileScanner&) = delete;

  Status open();
  void begin(std::string_view path);
  // `last`: no byte of the file follows (DetectorSession::feed).
  Status feed(std::span<const char> chunk, bool last = false);
  Result<std::vector<Detection>> finish();

  // File-level context of the enclosing file counts for a decoded view of it.
  void add_anchors(const std::vector<bool>& anchors);
  const std::vector<bool>& anchors() const { return anchors_seen_; }

 private:
  // A detection that still depends on file-level context.
  struct Held {
    Detection detection;
    const rules::Pattern* pattern;
    const rules::Rule* only_rule = nullptr;  // instead of the pattern's requirements: a finding of this rule
    std::size_t unless_anchor = ~std::size_t{0};  // dropped when this anchor holds (a framework's secret)
    bool named = false;                           // kept as named_context (no requirement) otherwise
  };

  Status feed_text(std::span<const char> chunk, bool last);
  Status on_scanned(std::span<const char> chunk, std::vector<Hit>& hits);
  Status continue_waiting(std::span<const char> chunk);
  Status process_hits(std::span<const char> chunk, const std::vector<Hit>& hits);
  void read_context(Candidate& c, const Window& window) const;
  void remember_id(const Window& window, std::uint64_t end);
  void add_finder_hits(const Window& window, std::vector<Hit>& hits);
  Status confirm(Candidate c);
  Status confirm_blob(const Candidate& c);
  void emit(Detection d, const rules::Pattern* pattern);
  void resolve_held();

  std::shared_ptr<const Detector> detector_;
  int depth_;
  Matcher matcher_;
  PositionTracker position_;
  std::string path_;
  std::vector<Candidate> waiting_;
  std::vector<Detection> confirmed_;
  std::vector<Held> held_;
  std::vector<bool> anchors_seen_;
  IdValues id_values_;  // UUIDs this file uses as identifiers, and where
  const rules::Rule* access_key_rule_ = nullptr;
  std::vector<std::uint64_t> finder_ends_;
  std::vector<std::uint64_t> id_ends_;

  // Decoded views: base64 runs (depth 0 only, as the others), UTF-16 text, escaped lines.
  std::unique_ptr<BlobStage> blob_;
  std::unique_ptr<Utf16Stage> utf16_;
  std::vector<std::unique_ptr<LineDecodeStage>> line_stages_;
};

}  // namespace layerleak::detect
