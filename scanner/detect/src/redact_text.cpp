// redact_text: the detector as a filter over short strings that leave the process.
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
      if (!s->empty()) secrets.push_back(*s);  // absent literally (decoded from base64): masks nothing
    }
  }
  if (secrets.empty()) return std::string(text);
  return rules::SecretMasker(std::move(secrets)).mask(text);
}

}  // namespace layerleak::detect
