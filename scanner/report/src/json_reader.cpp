// Reads a JSON report (json_reporter.cpp's output) back into a ScanReport. Field for field the mirror of
// the writer: a field added there is read here, and the round-trip test in test_reporters.cpp fails until
// it is.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "layerleak/report.h"

namespace layerleak::report {

namespace {

using nlohmann::json;

constexpr rules::Confidence kConfidences[] = {rules::Confidence::low, rules::Confidence::medium, rules::Confidence::high};

// The byte offset and message of the first syntax error in `text` (which json::parse refused). Why a
// second, SAX pass: json::parse without exceptions only says that it failed, not where.
struct SyntaxErrorFinder final : nlohmann::json_sax<json> {
  std::size_t byte = 0;
  std::string message = "syntax error";
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) override {
    byte = position;
    message = ex.what();
    // Drop nlohmann's "[json.exception.parse_error.101] parse error at line L, column C: " prefix.
    if (const std::size_t at = message.find("parse error"); at != std::string::npos) {
      if (const std::size_t colon = message.find(": ", at); colon != std::string::npos) message = message.substr(colon + 2);
    }
    return false;
  }
};

Error syntax_error(std::string_view text) {
  SyntaxErrorFinder finder;
  (void)json::sax_parse(text, &finder);
  // finder.byte: 1-based index of the last byte read; the line is one plus the newlines before it.
  const std::string_view read = text.substr(0, std::min(finder.byte, text.size()));
  const auto line = 1 + static_cast<std::size_t>(std::count(read.begin(), read.end(), '\n'));
  return make_error(Errc::malformed, "line " + std::to_string(line) + ": invalid JSON: " + finder.message);
}

// The fields of one JSON object, read into typed values. The first failure is kept and every later
// call does nothing, so a reader function reads all its fields and checks `failed()` once.
class Fields {
 public:
  Fields(const json& object, std::string where, const JsonReadOptions& options, std::optional<Error>& error)
      : object_(object), where_(std::move(where)), options_(options), error_(error) {
    if (!error_ && !object_.is_object()) fail(where_, "expected an object");
  }

  bool failed() const { return error_.has_value(); }
  std::string path(std::string_view key) const { return where_.empty() ? std::string(key) : where_ + "." + std::string(key); }

  // The value of `key`, or nullptr when absent. Absent is an error when the writer always writes the
  // field (`always`) unless options.allow_missing_fields; in that mode a null counts as absent.
  const json* get(std::string_view key, bool always = true) {
    if (failed() || !object_.is_object()) return nullptr;
    const auto it = object_.find(key);
    const bool absent = it == object_.end() || (options_.allow_missing_fields && it->is_null());
    if (absent) {
      if (always && !options_.allow_missing_fields) fail(path(key), "missing");
      return nullptr;
    }
    return &*it;
  }

  void text(std::string_view key, std::string& out, bool nullable = false, bool always = true) {
    const json* v = get(key, always);
    if (!v || (nullable && v->is_null())) return;
    if (!v->is_string()) return fail(path(key), nullable ? "expected a string or null" : "expected a string");
    out = v->get_ref<const std::string&>();
  }
  void unsigned_number(std::string_view key, std::uint64_t& out) {
    const json* v = get(key);
    if (!v) return;
    if (!v->is_number_unsigned()) return fail(path(key), "expected a non-negative integer");
    out = v->get<std::uint64_t>();
  }
  void signed_number(std::string_view key, std::int64_t& out) {
    const json* v = get(key);
    if (!v) return;
    if (v->is_number_integer() && !v->is_number_unsigned()) {
      out = v->get<std::int64_t>();
    } else if (v->is_number_unsigned() && v->get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
      out = static_cast<std::int64_t>(v->get<std::uint64_t>());
    } else {
      fail(path(key), "expected an integer");
    }
  }
  void index(std::string_view key, std::size_t& out) {
    std::uint64_t value = out;
    unsigned_number(key, value);
    out = static_cast<std::size_t>(value);
  }
  // An index the writer writes as null when unknown; `always` false: written only when known.
  void optional_index(std::string_view key, std::optional<std::size_t>& out, bool always = true) {
    const json* v = get(key, always);
    if (!v || v->is_null()) return;
    if (!v->is_number_unsigned()) return fail(path(key), "expected a non-negative integer or null");
    out = static_cast<std::size_t>(v->get<std::uint64_t>());
  }
  void boolean(std::string_view key, bool& out) {
    const json* v = get(key);
    if (!v) return;
    if (!v->is_boolean()) return fail(path(key), "expected true or false");
    out = v->get<bool>();
  }
  void strings(std::string_view key, std::vector<std::string>& out, bool always = true) {
    const json* v = get(key, always);
    if (!v) return;
    if (!v->is_array()) return fail(path(key), "expected a list of strings");
    for (std::size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) return fail(path(key) + "[" + std::to_string(i) + "]", "expected a string");
      out.push_back((*v)[i].get_ref<const std::string&>());
    }
  }
  // The elements of the list `key` (empty when absent and allowed to be), with their paths.
  std::vector<std::pair<const json*, std::string>> list(std::string_view key) {
    std::vector<std::pair<const json*, std::string>> out;
    const json* v = get(key);
    if (!v) return out;
    if (!v->is_array()) {
      fail(path(key), "expected a list");
      return out;
    }
    for (std::size_t i = 0; i < v->size(); ++i) out.emplace_back(&(*v)[i], path(key) + "[" + std::to_string(i) + "]");
    return out;
  }
  void fail(const std::string& where, const std::string& what) {
    if (!error_) error_ = make_error(Errc::malformed, where + ": " + what);
  }

 private:
  const json& object_;
  std::string where_;
  const JsonReadOptions& options_;
  std::optional<Error>& error_;
};

struct ReadState {
  const JsonReadOptions& options;
  std::optional<Error> error;
};

Location read_location(const json& value, const std::string& where, ReadState& state) {
  Location l;
  Fields f(value, where, state.options, state.error);
  f.text("kind", l.kind);
  if (l.kind == "layer") {
    f.optional_index("layer_index", l.layer_index);
    f.text("layer_digest", l.layer_digest);
    f.text("diff_id", l.diff_id);
    f.text("created_by", l.created_by);
  }
  f.text("field", l.field, false, false);
  f.text("path", l.path, false, false);
  f.unsigned_number("line", l.line);
  f.unsigned_number("column", l.column);
  f.unsigned_number("offset", l.offset);
  return l;
}

// `verification` (scan --verify) as the JSON reporter writes it.
Verification read_verification(const json& value, const std::string& where, ReadState& state) {
  Verification v;
  Fields f(value, where, state.options, state.error);
  f.text("status", v.status);
  if (!f.failed() && v.status != "live" && v.status != "invalid" && v.status != "unknown" && v.status != "unsupported") {
    f.fail(f.path("status"), "unknown status \"" + v.status + "\"");
  }
  f.text("checked_at", v.checked_at, true);
  if (const json* http = f.get("http_status"); http && !http->is_null()) {
    if (http->is_number_unsigned() && http->get<std::uint64_t>() >= 100 && http->get<std::uint64_t>() <= 599) {
      v.http_status = static_cast<int>(http->get<std::uint64_t>());
    } else {
      f.fail(f.path("http_status"), "expected an HTTP status (100-599) or null");
    }
  }
  f.text("reason", v.reason);
  if (const json* key = f.get("api_key"); key && !key->is_null()) {
    ApiKeyInfo k;
    Fields a(*key, f.path("api_key"), state.options, state.error);
    a.text("access_key", k.access_key);
    a.text("description", k.description);
    a.text("user_id", k.user_id, true);
    a.text("application_id", k.application_id, true);
    a.text("default_project_id", k.default_project_id, true);
    a.text("created_at", k.created_at, true);
    a.text("expires_at", k.expires_at, true);
    v.api_key = std::move(k);
  }
  return v;
}

Finding read_finding(const json& value, const std::string& where, ReadState& state) {
  Finding out;
  Fields f(value, where, state.options, state.error);
  f.text("rule_id", out.rule_id);
  f.text("title", out.title);
  std::string severity = std::string(rules::severity_name(out.severity));
  f.text("severity", severity);
  if (auto parsed = rules::parse_severity(severity)) {
    out.severity = *parsed;
  } else {
    f.fail(f.path("severity"), "unknown severity \"" + severity + "\"");
  }
  std::string confidence = std::string(rules::confidence_name(out.confidence));
  f.text("confidence", confidence);
  const auto known = std::find_if(std::begin(kConfidences), std::end(kConfidences),
                                  [&](rules::Confidence c) { return rules::confidence_name(c) == confidence; });
  if (known != std::end(kConfidences)) {
    out.confidence = *known;
  } else {
    f.fail(f.path("confidence"), "unknown confidence \"" + confidence + "\"");
  }
  f.text("secret", out.secret);
  f.text("fingerprint", out.fingerprint);
  f.text("paired_access_key", out.paired_access_key, true);
  f.text("encoding", out.encoding);
  if (const json* location = f.get("location")) out.location = read_location(*location, f.path("location"), state);
  f.text("visibility", out.visibility);
  f.optional_index("hidden_by_layer", out.hidden_by_layer);
  f.strings("aliases", out.aliases, false);
  f.text("suppressed_by", out.suppressed_by, false, false);
  if (const json* v = f.get("verification", false)) out.verification = read_verification(*v, f.path("verification"), state);
  return out;
}

LayerSummary read_layer(const json& value, const std::string& where, ReadState& state) {
  LayerSummary l;
  Fields f(value, where, state.options, state.error);
  f.index("index", l.index);
  f.text("digest", l.digest);
  f.text("diff_id", l.diff_id);
  f.text("media_type", l.media_type);
  f.text("compression", l.compression);
  f.text("created_by", l.created_by);
  f.optional_index("history_index", l.history_index);
  f.signed_number("compressed_size", l.compressed_size);
  f.unsigned_number("entries", l.entries);
  f.unsigned_number("bytes_scanned", l.bytes_scanned);
  f.boolean("complete", l.complete);
  return l;
}

// Why a function over 60 lines: one field per line, in the writer's order, reads best as one list.
ImageReport read_image(const json& value, const std::string& where, ReadState& state) {
  ImageReport image;
  Fields f(value, where, state.options, state.error);
  f.text("reference", image.reference);
  f.text("transport", image.transport);
  f.text("manifest_digest", image.manifest_digest, true);
  f.text("index_digest", image.index_digest, false, false);
  f.text("config_digest", image.config_digest, true);
  f.text("platform", image.platform, true);
  f.strings("tags", image.tags);
  for (const auto& [layer, at] : f.list("layers")) {
    if (state.error) break;
    image.layers.push_back(read_layer(*layer, at, state));
  }
  for (const auto& [finding, at] : f.list("findings")) {
    if (state.error) break;
    image.findings.push_back(read_finding(*finding, at, state));
  }
  for (const auto& [finding, at] : f.list("suppressed")) {
    if (state.error) break;
    image.suppressed.push_back(read_finding(*finding, at, state));
  }
  if (const json* stats_value = f.get("stats")) {
    // layers, findings and suppressed are counts of the lists above: checked for type, not stored.
    Fields stats(*stats_value, f.path("stats"), state.options, state.error);
    std::uint64_t count = 0;
    for (const char* derived : {"layers", "findings", "suppressed"}) {
      if (stats.get(derived, false)) stats.unsigned_number(derived, count);
    }
    stats.unsigned_number("entries", image.entries);
    stats.unsigned_number("bytes_scanned", image.bytes_scanned);
    stats.unsigned_number("duration_ms", image.duration_ms);
    if (stats.get("spooled_bytes", false)) {
      std::uint64_t spooled = 0;
      stats.unsigned_number("spooled_bytes", spooled);
      image.spooled_bytes = spooled;
    }
    for (const auto& [skipped, at] : stats.list("skipped")) {
      if (state.error) break;
      Skipped s;
      Fields sf(*skipped, at, state.options, state.error);
      sf.text("path", s.path);
      sf.optional_index("layer_index", s.layer_index);
      sf.text("reason", s.reason);
      image.skipped.push_back(std::move(s));
    }
  }
  for (const auto& [error, at] : f.list("errors")) {
    if (state.error) break;
    ErrorEntry e;
    Fields ef(*error, at, state.options, state.error);
    ef.text("code", e.code);
    ef.text("message", e.message);
    ef.optional_index("layer_index", e.layer_index, false);
    image.errors.push_back(std::move(e));
  }
  f.boolean("complete", image.complete);
  return image;
}

}  // namespace

Result<ScanReport> read_json(std::string_view text, const JsonReadOptions& options) {
  if (text.size() > options.max_bytes) {
    return make_error(Errc::limit, "the report is " + std::to_string(text.size()) + " bytes, more than the " +
                                       std::to_string(options.max_bytes) + " read");
  }
  if (!json_nesting_within(text, kJsonReportMaxNesting)) {
    return make_error(Errc::limit, "the report nests deeper than " + std::to_string(kJsonReportMaxNesting) + " levels");
  }
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return syntax_error(text);

  ReadState state{options, std::nullopt};
  ScanReport report;
  Fields root(doc, "", options, state.error);
  if (root.failed()) return make_error(Errc::malformed, "expected a layerleak JSON report (an object with \"images\")");
  if (const auto images = doc.find("images"); images == doc.end() || images->is_null()) {
    return make_error(Errc::malformed, "images: missing (is this a layerleak JSON report?)");
  }
  std::uint64_t schema_version = 1;
  root.unsigned_number("schema_version", schema_version);
  if (!state.error && schema_version != 1) {
    return make_error(Errc::unsupported, "schema_version " + std::to_string(schema_version) + " is not supported (1 is)");
  }
  if (const json* tool = root.get("tool")) {
    Fields t(*tool, "tool", options, state.error);
    std::string name;
    t.text("name", name);
    t.text("version", report.tool_version);
    t.text("rules_digest", report.rules_digest);
  }
  for (const auto& [image, at] : root.list("images")) {
    if (state.error) break;
    report.images.push_back(read_image(*image, at, state));
  }
  bool complete = true;
  root.boolean("complete", complete);  // derived from the images: checked for type, not stored
  if (state.error) return std::move(*state.error);
  return report;
}

}  // namespace layerleak::report
