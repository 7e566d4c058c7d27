// DetectorSession and the rule self-test. The detector's parts live beside this file: engine (the
// compiled databases), matcher (gate and stream), position (window and lines), candidate and confirm
// (shapes), context (names above a value), decoders and decode_stage (decoded views), findings (pairs
// and severities), file_scanner (the per-file engine that joins them).
#include <algorithm>

#include "file_scanner.h"
#include "layerleak/detect.h"

namespace layerleak::detect {

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
Status DetectorSession::feed(std::span<const char> chunk, bool last) { return impl_->scanner->feed(chunk, last); }
Result<std::vector<Detection>> DetectorSession::finish() { return impl_->scanner->finish(); }

Result<std::vector<Detection>> DetectorSession::scan(std::string_view path, std::string_view bytes) {
  begin(path);
  if (auto st = feed(std::span<const char>(bytes.data(), bytes.size()), true); !st) return std::move(st).error();
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
