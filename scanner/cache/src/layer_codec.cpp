// The stored form of a layer result: one CBOR-encoded object, versioned. Sets are written sorted so
// that the same result always encodes to the same bytes. Why CBOR rather than JSON text: names in tars
// are arbitrary bytes, and JSON text would need them valid UTF-8; CBOR strings carry them as they are.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "layerleak/cache.h"

namespace layerleak::cache {

namespace {

using nlohmann::json;

constexpr std::uint64_t kLayerFormat = 1;
// The encoder nests three levels (record, detections, one detection); hardlinks three too.
constexpr std::size_t kMaxDepth = 8;

json sorted(const std::unordered_set<std::string>& set) {
  std::vector<std::string> items(set.begin(), set.end());
  std::sort(items.begin(), items.end());
  return items;
}

// Whether `bytes` holds one CBOR item whose arrays, maps, tags and indefinite strings nest at most
// `limit` levels deep, and whose counts are not larger than the bytes left (each item takes one at least).
// Why: nlohmann's CBOR reader recurses once per level, so a stored entry of a few kilobytes of 0x81 would
// overflow the stack; this walk keeps its levels in a vector of at most `limit` entries.
bool cbor_nesting_within(std::string_view bytes, std::size_t limit) {
  struct Level {
    std::uint64_t remaining;  // items still to come (definite length)
    bool indefinite;          // ends at a 0xff break instead
  };
  std::vector<Level> stack;
  std::size_t i = 0;
  auto argument = [&](unsigned info, std::uint64_t& value) {
    if (info < 24) {
      value = info;
      return true;
    }
    if (info > 27) return false;
    const std::size_t n = std::size_t{1} << (info - 24);
    if (bytes.size() - i < n) return false;
    value = 0;
    for (std::size_t k = 0; k < n; ++k) value = (value << 8) | static_cast<unsigned char>(bytes[i++]);
    return true;
  };
  while (true) {
    if (i >= bytes.size()) return false;
    const auto initial = static_cast<unsigned char>(bytes[i++]);
    const unsigned major = initial >> 5;
    const unsigned info = initial & 31u;
    if (initial == 0xff) {  // break: closes the innermost indefinite container, which is one item of its parent
      if (stack.empty() || !stack.back().indefinite) return false;
      stack.pop_back();
    } else if (info == 31 && (major == 2 || major == 3 || major == 4 || major == 5)) {
      stack.push_back({0, true});
      if (stack.size() > limit) return false;
      continue;
    } else {
      std::uint64_t value = 0;
      if (major == 7 && info > 27) return false;
      if (!argument(info, value)) return false;
      if (major == 2 || major == 3) {
        if (value > bytes.size() - i) return false;
        i += static_cast<std::size_t>(value);
      } else if (major == 4 || major == 5 || major == 6) {
        const std::uint64_t items = major == 6 ? 1 : value;
        const std::uint64_t left = bytes.size() - i;
        if (items > left || (major == 5 && items > left / 2)) return false;
        if (items > 0) {
          stack.push_back({major == 5 ? items * 2 : items, false});
          if (stack.size() > limit) return false;
          continue;
        }
      }
    }
    // One item is complete: count it against the open containers, closing those it fills.
    while (!stack.empty() && !stack.back().indefinite && --stack.back().remaining == 0) stack.pop_back();
    if (stack.empty()) return true;
  }
}

// Typed reads that throw json::type_error (caught by decode_layer) unless the value has exactly the
// type the encoder writes. Why not get<T>() alone: it converts between number types, and a float too
// large for the target is undefined behaviour.
const std::string& text(const json& value) { return value.get_ref<const std::string&>(); }

std::uint64_t count(const json& value) {
  if (!value.is_number_unsigned()) throw json::type_error::create(302, "expected an unsigned integer", &value);
  return value.get<std::uint64_t>();
}

const json& array(const json& value) {
  if (!value.is_array()) throw json::type_error::create(302, "expected an array", &value);
  return value;
}

std::unordered_set<std::string> to_set(const json& value) {
  std::unordered_set<std::string> out;
  for (const json& item : array(value)) out.insert(text(item));
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

Result<pipeline::CachedLayer> decode_layer(std::string_view bytes) {
  if (!cbor_nesting_within(bytes, kMaxDepth)) return make_error(Errc::malformed, "cached layer is not CBOR of the expected shape");
  json doc = json::from_cbor(bytes.begin(), bytes.end(), /*strict=*/true, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return make_error(Errc::malformed, "cached layer is not CBOR");
  try {
    if (count(doc.at("format")) != kLayerFormat) return make_error(Errc::malformed, "cached layer format differs");
    pipeline::CachedLayer out;
    for (const json& d : array(doc.at("detections"))) {
      pipeline::CachedDetection c;
      c.path = text(d.at("path"));
      c.file = text(d.at("file"));
      c.rule_id = text(d.at("rule"));
      c.secret = text(d.at("secret"));
      c.offset = count(d.at("offset"));
      c.line = count(d.at("line"));
      c.column = count(d.at("column"));
      const std::uint64_t severity = count(d.at("severity"));
      const std::uint64_t confidence = count(d.at("confidence"));
      if (severity > static_cast<std::uint64_t>(rules::Severity::critical) ||
          confidence > static_cast<std::uint64_t>(rules::Confidence::high)) {
        return make_error(Errc::malformed, "cached layer has an unknown severity or confidence");
      }
      c.severity = static_cast<rules::Severity>(severity);
      c.confidence = static_cast<rules::Confidence>(confidence);
      c.encoding = text(d.at("encoding"));
      c.paired_access_key = text(d.at("paired"));
      out.detections.push_back(std::move(c));
    }
    out.changes.entries = to_set(doc.at("entries_set"));
    out.changes.directories = to_set(doc.at("directories"));
    out.changes.whiteouts = to_set(doc.at("whiteouts"));
    out.changes.opaque_dirs = to_set(doc.at("opaque_dirs"));
    const json& hardlinks = doc.at("hardlinks");
    if (!hardlinks.is_object()) return make_error(Errc::malformed, "cached layer: hardlinks is not a map");
    for (const auto& [target, names] : hardlinks.items()) {
      std::vector<std::string>& list = out.hardlinks[target];
      for (const json& name : array(names)) list.push_back(text(name));
    }
    for (const json& s : array(doc.at("skipped"))) {
      out.skipped.push_back({text(s.at("path")), std::nullopt, text(s.at("reason"))});
    }
    out.entries = count(doc.at("entries"));
    out.bytes_scanned = count(doc.at("bytes_scanned"));
    out.compressed_bytes = count(doc.at("compressed_bytes"));
    out.compression = text(doc.at("compression"));
    return out;
  } catch (const json::exception& e) {
    return make_error(Errc::malformed, std::string("cached layer: ") + e.what());
  }
}

}  // namespace layerleak::cache
