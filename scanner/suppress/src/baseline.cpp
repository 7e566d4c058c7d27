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

// Adds one fingerprint taken from a JSON value at `where`.
Status add_json_fingerprint(const json& value, const std::string& path, const std::string& where,
                            std::set<std::string>& out) {
  if (!value.is_string() || !detail::is_fingerprint(value.get_ref<const std::string&>())) {
    return shape_error(path, where, "expected a fingerprint \"sha256:<64 hex digits>\", got " + value.dump());
  }
  out.insert(detail::to_lower(value.get_ref<const std::string&>()));
  return Ok{};
}

Status read_report(const json& doc, const std::string& path, std::set<std::string>& out) {
  const auto images = doc.find("images");
  if (images == doc.end() || !images->is_array()) {
    return shape_error(path, "top level",
                       "a JSON object baseline must be a layerleak JSON report with an \"images\" list");
  }
  for (std::size_t i = 0; i < images->size(); ++i) {
    const json& image = (*images)[i];
    const std::string image_where = "images[" + std::to_string(i) + "]";
    if (!image.is_object()) return shape_error(path, image_where, "expected an object");
    for (const char* list : {"findings", "suppressed"}) {
      const auto findings = image.find(list);
      if (findings == image.end() || findings->is_null()) continue;
      const std::string list_where = image_where + "." + list;
      if (!findings->is_array()) return shape_error(path, list_where, "expected a list");
      for (std::size_t k = 0; k < findings->size(); ++k) {
        const json& finding = (*findings)[k];
        const std::string where = list_where + "[" + std::to_string(k) + "]";
        if (!finding.is_object()) return shape_error(path, where, "expected an object");
        const auto fp = finding.find("fingerprint");
        if (fp == finding.end()) return shape_error(path, where, "finding has no \"fingerprint\"");
        if (auto added = add_json_fingerprint(*fp, path, where + ".fingerprint", out); !added) {
          return std::move(added).error();
        }
      }
    }
  }
  return Ok{};
}

Result<std::set<std::string>> read_json(const std::string& text, const std::string& path) {
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
  if (doc.is_array()) {
    for (std::size_t i = 0; i < doc.size(); ++i) {
      if (auto added = add_json_fingerprint(doc[i], path, "[" + std::to_string(i) + "]", out); !added) {
        return std::move(added).error();
      }
    }
    return out;
  }
  if (auto read = read_report(doc, path, out); !read) return std::move(read).error();
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
  if (!head.empty() && (head.front() == '{' || head.front() == '[')) return read_json(std::string(body), path);
  return read_text_list(body, path);
}

}  // namespace layerleak::suppress
