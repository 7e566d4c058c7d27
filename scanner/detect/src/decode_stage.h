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
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "decoders.h"
#include "layerleak/detect.h"

namespace layerleak::detect {

class FileScanner;

class LineDecodeStage {
 public:
  enum class Kind { percent, json };
  LineDecodeStage(Kind kind, std::shared_ptr<const Detector> detector, int depth);
  ~LineDecodeStage();

  void begin(std::string_view path);
  // The next bytes of the file, which start at offset `at`.
  Status feed(std::span<const char> chunk, std::uint64_t at);
  // Ends the file. `anchors`: the file's own context, which counts for its decoded lines too.
  Result<std::vector<Detection>> finish(const std::vector<bool>& anchors);

 private:
  struct Segment {
    std::uint64_t child_start = 0;   // offset of the decoded line in the child's stream
    std::uint64_t source_start = 0;  // offset of the segment's first byte in the file
    std::uint64_t line = 0;          // its 1-based line in the file
    std::uint64_t column = 0;        // its 1-based byte column
    std::vector<OffsetMap> rounds;   // one per decoding round, first round first
  };
  Status flush();
  bool has_escape(std::string_view text) const;
  bool decode(std::string_view in, std::string& out, OffsetMap& map) const;
  Detection place(Detection d) const;

  Kind kind_;
  std::shared_ptr<const Detector> detector_;
  int depth_;
  std::unique_ptr<FileScanner> child_;
  bool child_begun_ = false;
  std::string path_;
  std::string segment_;                 // bytes of the current line (segment) so far
  std::uint64_t segment_start_ = 0;     // its offset in the file
  std::uint64_t segment_line_ = 1;      // its line
  std::uint64_t segment_column_ = 1;    // its column
  std::uint64_t child_size_ = 0;
  std::uint64_t decoded_ = 0;
  std::vector<Segment> segments_;
};

}  // namespace layerleak::detect
