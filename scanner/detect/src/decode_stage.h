// A decoded view of a file's escaped lines: percent-encoding (logged query strings, form bodies) or
// JSON string escapes (notebooks, escaped JSON inside JSON, source maps). Internal to detect.
//
// Lines are collected as the matcher passes them (only files that opened the gate); a line holding at
// least one escape is decoded (JSON escapes up to kJsonRounds times, for JSON inside JSON) and fed to a
// child scanner as one line of its own stream. Findings of the child are mapped back to the line's
// offset, line and column in the file. Bounded: a segment holds at most kMaxSegment bytes of a line
// (longer lines are cut into segments), and at most kMaxDecoded bytes per file are decoded.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "candidate.h"
#include "decoders.h"
#include "position.h"
#include "layerleak/detect.h"

namespace layerleak::detect {

class FileScanner;

// Whether `text` (one line with an escape) names a credential, in any case: scw, scaleway, secret, token,
// passw, api_key, apikey, auth, nkey; true for any line over 4 KiB. Lines that do not are not decoded.
bool names_a_credential(std::string_view text);

class LineDecodeStage {
 public:
  enum class Kind { percent, json };
  LineDecodeStage(Kind kind, std::shared_ptr<const Detector> detector, int depth);
  ~LineDecodeStage();

  void begin(std::string_view path);
  // The next bytes of the file: `window.chunk`, with the bytes before it.
  Status feed(const Window& window, const PositionTracker& position);
  // Ends the file; `last` holds its last bytes. `anchors`: the file's own context, which counts for
  // its decoded lines too.
  Result<std::vector<Detection>> finish(const Window& last, const PositionTracker& position,
                                        const std::vector<bool>& anchors);

 private:
  struct Segment {
    std::uint64_t child_start = 0;   // offset of the decoded line in the child's stream
    std::uint64_t source_start = 0;  // offset of the segment's first byte in the file
    std::uint64_t line = 0;          // its 1-based line in the file
    std::uint64_t column = 0;        // its 1-based byte column
    std::vector<OffsetMap> rounds;   // one per decoding round, first round first
  };
  Status flush(const Window& window, const PositionTracker& position, std::uint64_t end);
  Status decode_segment(std::string line);  // a segment that has_escape()
  bool has_escape(std::string_view text) const;
  bool decode(std::string_view in, std::string& out, OffsetMap& map) const;
  Detection place(Detection d) const;

  Kind kind_;
  std::shared_ptr<const Detector> detector_;
  int depth_;
  std::unique_ptr<FileScanner> child_;
  bool child_begun_ = false;
  std::string path_;
  bool escape_seen_ = false;            // the current segment holds the escape byte
  std::uint64_t segment_start_ = 0;     // offset of the current line (segment) in the file
  PositionTracker::Cursor cursor_{};    // line counting within the chunk that starts at cursor_chunk_
  std::uint64_t cursor_chunk_ = ~std::uint64_t{0};
  std::uint64_t segment_line_ = 1;      // its line (set when it is decoded)
  std::uint64_t segment_column_ = 1;    // its column
  std::uint64_t child_size_ = 0;
  std::uint64_t decoded_ = 0;
  std::vector<Segment> segments_;
  std::string scratch_;  // a segment split between the window's tail and chunk, for has_escape
};

// UTF-16 text (Windows .env files, PowerShell Out-File, .reg exports): the file's first kSniffBytes are
// held until it is clear whether it is UTF-16; if so, the whole file goes, narrowed to one byte per code
// unit, to a child scanner instead of the matcher, and findings come back at offset bom + 2 * offset.
class Utf16Stage {
 public:
  // `last`: the bytes end the file (passed on from feed's `last`).
  using TextSink = std::function<Status(std::span<const char>, bool last)>;
  Utf16Stage(std::shared_ptr<const Detector> detector, int depth);
  ~Utf16Stage();

  void begin(std::string_view path);
  // Bytes that are not UTF-16 (or held bytes, once the file is known not to be) go to `text`.
  Status feed(std::span<const char> chunk, const TextSink& text, bool last = false);
  // Ends the file: decides if the file was too short to decide earlier. True when it was UTF-16.
  Result<bool> finish(const TextSink& text);
  // The UTF-16 view's findings, placed in the file's bytes. `anchors`: the file's own context.
  Result<std::vector<Detection>> findings(const std::vector<bool>& anchors);

 private:
  Status decide(bool at_end, const TextSink& text, bool last);

  std::shared_ptr<const Detector> detector_;
  int depth_;
  std::string path_;
  std::string sniff_;
  bool sniffed_ = false;
  Utf16 order_ = Utf16::none;
  std::size_t bom_ = 0;
  std::unique_ptr<Utf16Narrower> narrower_;
  std::unique_ptr<FileScanner> child_;
};

// A base64 run that encodes Scaleway key names, a registry config or a kubeconfig: decoded and scanned
// as a file of its own; findings come back at the run's place, with "base64" before their encoding.
class BlobStage {
 public:
  BlobStage(std::shared_ptr<const Detector> detector, int depth);
  ~BlobStage();
  Result<std::vector<Detection>> decode(const Candidate& run, std::string_view path);

 private:
  std::shared_ptr<const Detector> detector_;
  int depth_;
  std::unique_ptr<FileScanner> child_;
};

}  // namespace layerleak::detect
