#include <algorithm>
#include <tuple>

#include "layerleak/report.h"
#include "reporters.h"

namespace layerleak::report {

bool ScanReport::complete() const {
  return std::all_of(images.begin(), images.end(), [](const ImageReport& i) { return i.complete; });
}

std::optional<rules::Severity> ScanReport::max_severity() const {
  std::optional<rules::Severity> max;
  for (const ImageReport& image : images) {
    for (const Finding& f : image.findings) {
      if (!max || f.severity > *max) max = f.severity;
    }
  }
  return max;
}

std::string fingerprint(const std::string& rule_id, const std::string& secret) {
  return Sha256::of(rule_id + ":" + secret).str();
}

std::string escape_invalid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  while (i < text.size()) {
    const unsigned char c = byte(i);
    std::size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool valid = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) valid = (byte(i + k) & 0xc0) == 0x80;
    if (valid && length == 2) valid = c >= 0xc2;                                        // no overlong forms
    if (valid && length == 3) valid = !(c == 0xe0 && byte(i + 1) < 0xa0) && !(c == 0xed && byte(i + 1) >= 0xa0);
    if (valid && length == 4) valid = c <= 0xf4 && !(c == 0xf0 && byte(i + 1) < 0x90) && !(c == 0xf4 && byte(i + 1) >= 0x90);
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
      continue;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
    ++i;
  }
  return out;
}

// Why after escape_invalid_utf8: C1 controls are then only ever the two bytes 0xc2 0x80-0x9f.
std::string terminal_safe(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string valid = escape_invalid_utf8(text);
  std::string out;
  out.reserve(valid.size());
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const auto c = static_cast<unsigned char>(valid[i]);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else if (c == 0xc2 && i + 1 < valid.size() && static_cast<unsigned char>(valid[i + 1]) < 0xa0) {
      const auto n = static_cast<unsigned char>(valid[++i]);
      out += "\\u00";
      out += kHex[n >> 4];
      out += kHex[n & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string artifact_path(const Location& loc) {
  if (loc.kind == "config") return "image-config/" + loc.field;
  if (loc.kind == "manifest") return "image-manifest/" + loc.field;
  const std::size_t start = loc.path.find_first_not_of('/');
  std::string path = start == std::string::npos ? std::string() : loc.path.substr(start);
  return path.empty() ? std::string("image-root") : path;
}

// Why one table: text, HTML, SARIF and GitLab each had their own wording of the same four cases.
VisibilityWords visibility_words(const Finding& f) {
  const std::string by = f.hidden_by_layer ? std::to_string(*f.hidden_by_layer) : std::string("?");
  if (f.visibility == "deleted") return {"deleted by layer " + by, "still in the image: anyone who pulls it can read it"};
  if (f.visibility == "overwritten") {
    return {"overwritten by layer " + by, "still in the image history: anyone who pulls it can read it"};
  }
  if (f.visibility == "runtime") return {"present in the final filesystem at runtime", ""};
  if (f.visibility == "config") return {"in the image configuration", "anyone who pulls the image can read it"};
  return {"visibility " + f.visibility, ""};
}

std::string visibility_phrase(const Finding& f) {
  VisibilityWords w = visibility_words(f);
  return w.consequence.empty() ? w.what : w.what + " (" + w.consequence + ")";
}

std::string visibility_sentence(const Finding& f) {
  VisibilityWords w = visibility_words(f);
  std::string text = w.consequence.empty() ? w.what + "." : w.what + ", " + w.consequence + ".";
  text[0] = static_cast<char>(text[0] - 'a' + 'A');  // every `what` starts with a lower-case ASCII letter
  return text;
}

std::string redact(const std::string& secret) { return rules::redact_secret(secret); }

void sort_findings(std::vector<Finding>& findings) {
  auto key = [](const Finding& f) {
    return std::make_tuple(f.location.kind != "config" && f.location.kind != "manifest",
                           f.location.layer_index.value_or(0), f.location.path, f.location.field,
                           f.location.offset, f.rule_id);
  };
  std::stable_sort(findings.begin(), findings.end(),
                   [&](const Finding& a, const Finding& b) { return key(a) < key(b); });
}

}  // namespace layerleak::report
