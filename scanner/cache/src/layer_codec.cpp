// The stored form of a layer result: one CBOR-encoded object, versioned. Sets are written sorted so
// that the same result always encodes to the same bytes. Why CBOR rather than JSON text: names in tars
// are arbitrary bytes, and JSON text would need them valid UTF-8; CBOR strings carry them as they are.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "layerleak/cache.h"

namespace layerleak::cache {

namespace {

using nlohmann::json;

constexpr int kLayerFormat = 1;

json sorted(const std::unordered_set<std::string>& set) {
  std::vector<std::string> items(set.begin(), set.end());
  std::sort(items.begin(), items.end());
  return items;
}

std::unordered_set<std::string> to_set(const json& array) {
  std::unordered_set<std::string> out;
  for (const json& item : array) out.insert(item.get<std::string>());
  return out;
}

}  // namespace

std::string encode_layer(const pipeline::CachedLayer& layer) {
  json detections = json::array();
  for (const pipeline::CachedDetection& d : layer.detections) {
    detections.push_back({{"path", d.path}, {"file", d.file}, {"rule", d.rule_id}, {"secret", d.secret},
                          {"offset", d.offset}, {"line", d.line}, {"column", d.column},
                          {"severity", static_cast<int>(d.severity)}, {"confidence", static_cast<int>(d.confidence)},
                          {"encoding", d.encoding}, {"paired", d.paired_access_key}});
  }
  json skipped = json::array();
  for (const report::Skipped& s : layer.skipped) skipped.push_back({{"path", s.path}, {"reason", s.reason}});
  json hardlinks = json::object();
  for (const auto& [target, names] : layer.hardlinks) hardlinks[target] = names;
  json doc = {{"format", kLayerFormat},
              {"detections", std::move(detections)},
              {"entries_set", sorted(layer.changes.entries)},
              {"directories", sorted(layer.changes.directories)},
              {"whiteouts", sorted(layer.changes.whiteouts)},
              {"opaque_dirs", sorted(layer.changes.opaque_dirs)},
              {"hardlinks", std::move(hardlinks)},
              {"skipped", std::move(skipped)},
              {"entries", layer.entries},
              {"bytes_scanned", layer.bytes_scanned},
              {"compressed_bytes", layer.compressed_bytes},
              {"compression", layer.compression}};
  std::vector<std::uint8_t> bytes = json::to_cbor(doc);
  return std::string(bytes.begin(), bytes.end());
}

Result<pipeline::CachedLayer> decode_layer(std::string_view text) {
  json doc = json::from_cbor(text.begin(), text.end(), /*strict=*/true, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return make_error(Errc::malformed, "cached layer is not CBOR");
  try {
    if (doc.at("format").get<int>() != kLayerFormat) return make_error(Errc::malformed, "cached layer format differs");
    pipeline::CachedLayer out;
    for (const json& d : doc.at("detections")) {
      pipeline::CachedDetection c;
      c.path = d.at("path").get<std::string>();
      c.file = d.at("file").get<std::string>();
      c.rule_id = d.at("rule").get<std::string>();
      c.secret = d.at("secret").get<std::string>();
      c.offset = d.at("offset").get<std::uint64_t>();
      c.line = d.at("line").get<std::uint64_t>();
      c.column = d.at("column").get<std::uint64_t>();
      const int severity = d.at("severity").get<int>();
      const int confidence = d.at("confidence").get<int>();
      if (severity < 0 || severity > static_cast<int>(rules::Severity::critical) || confidence < 0 ||
          confidence > static_cast<int>(rules::Confidence::high)) {
        return make_error(Errc::malformed, "cached layer has an unknown severity or confidence");
      }
      c.severity = static_cast<rules::Severity>(severity);
      c.confidence = static_cast<rules::Confidence>(confidence);
      c.encoding = d.at("encoding").get<std::string>();
      c.paired_access_key = d.at("paired").get<std::string>();
      out.detections.push_back(std::move(c));
    }
    out.changes.entries = to_set(doc.at("entries_set"));
    out.changes.directories = to_set(doc.at("directories"));
    out.changes.whiteouts = to_set(doc.at("whiteouts"));
    out.changes.opaque_dirs = to_set(doc.at("opaque_dirs"));
    for (const auto& [target, names] : doc.at("hardlinks").items()) {
      out.hardlinks[target] = names.get<std::vector<std::string>>();
    }
    for (const json& s : doc.at("skipped")) {
      out.skipped.push_back({s.at("path").get<std::string>(), std::nullopt, s.at("reason").get<std::string>()});
    }
    out.entries = doc.at("entries").get<std::uint64_t>();
    out.bytes_scanned = doc.at("bytes_scanned").get<std::uint64_t>();
    out.compressed_bytes = doc.at("compressed_bytes").get<std::uint64_t>();
    out.compression = doc.at("compression").get<std::string>();
    return out;
  } catch (const json::exception& e) {
    return make_error(Errc::malformed, std::string("cached layer: ") + e.what());
  }
}

}  // namespace layerleak::cache
