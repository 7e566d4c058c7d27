// fuzz_image_json: bytes -> the oci JSON parsers (index, manifest, config).
//
// Input: "<manifest or index JSON>\0<config JSON>". Without a NUL byte the whole input is used for
// both. The manifest part goes through parse_json, parse_descriptor (as an index's manifests[] and
// as a descriptor), apply_manifest; the config part through apply_config (which parses it itself) and
// metadata_files. The small grammars (Digest::parse, Platform::parse) get the raw text too.
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_entry.h"
#include "image_json.h"
#include "layerleak/oci.h"

LAYERLEAK_FUZZ_TARGET(image_json) {
  using namespace layerleak;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view first = input;
  std::string_view second = input;
  if (auto nul = input.find('\0'); nul != std::string_view::npos) {
    first = input.substr(0, nul);
    second = input.substr(nul + 1);
  }

  (void)Digest::parse(first);
  (void)oci::Platform::parse(first);
  (void)oci::transport_of(first);

  auto parsed = oci::parse_json(first, "fuzz manifest");
  oci::Image image;
  if (parsed) {
    const nlohmann::json& j = *parsed;
    (void)oci::parse_descriptor(j, "fuzz descriptor");
    if (j.is_object()) {
      if (auto manifests = j.find("manifests"); manifests != j.end() && manifests->is_array()) {
        for (const auto& m : *manifests) {
          auto d = oci::parse_descriptor(m, "fuzz index entry");
          if (d) {
            (void)oci::is_index_type(d->media_type);
            (void)oci::is_manifest_type(d->media_type);
            (void)oci::blob_path(d->digest);
            if (d->platform) (void)d->platform->str();
          }
        }
      }
    }
    (void)oci::apply_manifest(image, j, "fuzz manifest");
  }
  if (auto st = oci::apply_config(image, std::string(second)); st) {
    (void)oci::metadata_files(image);
  }
  return 0;
}
