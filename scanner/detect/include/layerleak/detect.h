// layerleak detect: the Hyperscan matcher and the confirmation stage.
//
// A Detector compiles every rule pattern into one streaming Hyperscan database, once; it is immutable
// and shared by all threads. A DetectorSession is one worker's scratch space and stream: begin() a
// file, feed() its bytes in chunks of any size, finish() to get confirmed detections. Raw Hyperscan
// hits are confirmed from a bounded look-back window (secret shape, boundaries, placeholders), so
// chunking never changes the result and memory never grows with file size.
//
// Not responsible for: where bytes come from (layers, archives) or where findings go (reports).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/core.h"
#include "layerleak/rules.h"

namespace layerleak::detect {

// One confirmed secret in one file.
struct Detection {
  const rules::Rule* rule = nullptr;  // points into the Detector's RuleSet (lives as long as it)
  std::string secret;                 // the full, decoded secret (callers redact)
  std::uint64_t offset = 0;           // 0-based byte offset of the secret in the file
  std::uint64_t line = 0;             // 1-based
  std::uint64_t column = 0;           // 1-based, in bytes
  rules::Severity severity = rules::Severity::medium;
  rules::Confidence confidence = rules::Confidence::medium;
  std::string encoding = "plain";
  std::string paired_access_key;  // for secret keys: an access key found in the same file
};

struct CompileOptions {
  // A directory for compiled databases reused by later runs with the same rules ("" = compile every
  // time). Created 0700; read only when owned by the user and not writable by others; a damaged or
  // foreign file is compiled again. Never changes a result.
  std::string database_cache_dir;
};

class Detector {
 public:
  // Compiles all patterns of `rules`. Fails with Errc::invalid_argument naming the rule whose pattern
  // Hyperscan rejects.
  static Result<std::shared_ptr<const Detector>> compile(rules::RuleSet rules, const CompileOptions& options = {});
  ~Detector();
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  const rules::RuleSet& rules() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Detector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One per worker thread. Not thread-safe. Keeps the Detector alive.
class DetectorSession {
 public:
  static Result<std::unique_ptr<DetectorSession>> create(std::shared_ptr<const Detector> detector);
  ~DetectorSession();
  DetectorSession(const DetectorSession&) = delete;
  DetectorSession& operator=(const DetectorSession&) = delete;

  // Starts a new file. `path` is used for path-based context (later rules) and error messages.
  void begin(std::string_view path);
  // Scans the next bytes of the current file. Fails only if Hyperscan fails (Errc::internal). `last`:
  // no byte of the file follows (finish() is next), so a file the prefilter passes over is not copied
  // aside; bytes fed after a last chunk are an Errc::internal error.
  Status feed(std::span<const char> chunk, bool last = false);
  // Ends the current file and returns its detections ordered by offset, then rule id.
  Result<std::vector<Detection>> finish();

  // begin + feed(whole) + finish.
  Result<std::vector<Detection>> scan(std::string_view path, std::string_view bytes);

 private:
  struct Impl;
  explicit DetectorSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `text` (a path, a build step, a label, a message: anything but a file's content) with every secret the
// detector finds in it, read as a small file named "<text>", replaced by rules::redact_secret(secret)
// wherever the secret appears literally; paired access keys too. A secret found only through a decoding
// (base64) does not appear literally and is left as it is. Uses `session` (so not thread-safe with it);
// fails only if the detector fails (Errc::internal).
Result<std::string> redact_text(DetectorSession& session, std::string_view text);

// Runs every rule's examples and negative examples through the detector; one message per failure
// (an example without a finding of its rule, or a negative example with one).
Result<std::vector<std::string>> check_rule_examples(std::shared_ptr<const Detector> detector);

}  // namespace layerleak::detect
