// load_baseline: a previous JSON report, a JSON array of fingerprints, or a text list.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "common.h"
#include "layerleak/suppress.h"

namespace layerleak::suppress {

namespace {

constexpr std::size_t kMaxBaselineBytes = std::size_t{256} * 1024 * 1024;

using nlohmann::json;

std::string line_prefix(const std::string& path, std::size_t line) {
  return path + ": line " + std::to_string(line) + ": ";
}

Error shape_error(const std::string& path, const std::string& where, const std::string& what) {
  return make_error(Errc::malformed, path + ": " + where + ": " + what);
}

// Adds one fingerprint read at `where` ("[3]", "images[0].findings[2].fingerprint").
Status add_fingerprint(const std::string& value, const std::string& path, const std::string& where,
                       std::set<std::string>& out) {
  if (!detail::is_fingerprint(value)) {
    return shape_error(path, where, "expected a fingerprint \"sha256:<64 hex digits>\", got \"" + value.substr(0, 80) + "\"");
  }
  out.insert(detail::to_lower(value));
  return Ok{};
}

// A layerleak JSON report: read by report::read_json (one reader for reports, shared with serve's cache),
// leniently, since hand-written baselines carry only the fields they need.
Result<std::set<std::string>> read_report(std::string_view text, const std::string& path) {
  report::JsonReadOptions options;
  options.max_bytes = kMaxBaselineBytes;
  options.allow_missing_fields = true;
  auto read = report::read_json(text, options);
  if (!read) {
    Error e = std::move(read).error().with_context(path);
    if (e.code == Errc::malformed && e.message.find(path + ": images: missing") == 0) {
      e.message = path + ": top level: a JSON object baseline must be a layerleak JSON report with an \"images\" list";
    }
    return e;
  }
  std::set<std::string> out;
  for (std::size_t i = 0; i < read->images.size(); ++i) {
    const report::ImageReport& image = read->images[i];
    for (const auto& [list, findings] : {std::pair<const char*, const std::vector<report::Finding>*>{"findings", &image.findings},
                                         {"suppressed", &image.suppressed}}) {
      for (std::size_t k = 0; k < findings->size(); ++k) {
        const std::string where = "images[" + std::to_string(i) + "]." + list + "[" + std::to_string(k) + "]";
        const std::string& fingerprint = (*findings)[k].fingerprint;
        if (fingerprint.empty()) return shape_error(path, where, "finding has no \"fingerprint\"");
        if (auto added = add_fingerprint(fingerprint, path, where + ".fingerprint", out); !added) {
          return std::move(added).error();
        }
      }
    }
  }
  return out;
}

// A JSON array of fingerprint strings.
Result<std::set<std::string>> read_json_list(const std::string& text, const std::string& path) {
  if (!json_nesting_within(text, report::kJsonReportMaxNesting)) {
    return make_error(Errc::limit, path + ": nests deeper than " + std::to_string(report::kJsonReportMaxNesting) + " levels");
  }
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // e.byte: 1-based index of the last byte read; the line is one plus the newlines before it.
    const std::string_view read = std::string_view(text).substr(0, std::min(e.byte, text.size()));
    const std::size_t line = 1 + static_cast<std::size_t>(std::count(read.begin(), read.end(), '\n'));
    // Drop nlohmann's "[json.exception...] parse error at line L, column C: " prefix; the line is ours.
    std::string why = e.what();
    if (const std::size_t at = why.find("parse error"); at != std::string::npos) {
      const std::size_t colon = why.find(": ", at);
      if (colon != std::string::npos) why = why.substr(colon + 2);
    }
    return make_error(Errc::malformed, line_prefix(path, line) + "invalid JSON: " + why);
  } catch (const json::exception& e) {
    return make_error(Errc::malformed, path + ": invalid JSON: " + e.what());
  }
  std::set<std::string> out;
  if (!doc.is_array()) return shape_error(path, "top level", "expected a list of fingerprints");
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const std::string where = std::string("[") + std::to_string(i) + "]";
    if (!doc[i].is_string()) {
      return shape_error(path, where, "expected a fingerprint \"sha256:<64 hex digits>\", got " + doc[i].dump());
    }
    if (auto added = add_fingerprint(doc[i].get_ref<const std::string&>(), path, where, out); !added) {
      return std::move(added).error();
    }
  }
  return out;
}

Result<std::set<std::string>> read_text_list(std::string_view text, const std::string& path) {
  std::set<std::string> out;
  std::size_t line_no = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = detail::trim(line);
    if (line.empty()) continue;
    if (!detail::is_fingerprint(line)) {
      return make_error(Errc::malformed, line_prefix(path, line_no) +
                                             "expected a fingerprint \"sha256:<64 hex digits>\", got \"" +
                                             std::string(line.substr(0, 80)) + "\"");
    }
    out.insert(detail::to_lower(line));
  }
  return out;
}

}  // namespace

Result<std::set<std::string>> load_baseline(const std::string& path) {
  auto text = detail::read_text_file(path, kMaxBaselineBytes);
  if (!text) return std::move(text).error();
  std::string_view body = *text;
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);  // UTF-8 byte order mark
  const std::string_view head = detail::trim(body);
  if (!head.empty() && head.front() == '{') return read_report(body, path);
  if (!head.empty() && head.front() == '[') return read_json_list(std::string(body), path);
  return read_text_list(body, path);
}

}  // namespace layerleak::suppress
