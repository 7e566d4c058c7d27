// redact_text: the detector as a filter over short strings that leave the process.
#include <algorithm>

#include "layerleak/detect.h"

namespace layerleak::detect {

Result<std::string> redact_text(DetectorSession& session, std::string_view text) {
  // Why a fixed pseudo path: the text is not a file, so no path-based context (anchors, downgrades) may
  // apply to it, and the result must not depend on where the text came from.
  auto found = session.scan("<text>", text);
  if (!found) return std::move(found).error();
  std::vector<std::string> secrets;
  for (const Detection& d : *found) {
    for (const std::string* s : {&d.secret, &d.paired_access_key}) {
      if (!s->empty() && text.find(*s) != std::string_view::npos) secrets.push_back(*s);
    }
  }
  if (secrets.empty()) return std::string(text);
  std::sort(secrets.begin(), secrets.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());
  return rules::redact_occurrences(text, secrets);
}

}  // namespace layerleak::detect
