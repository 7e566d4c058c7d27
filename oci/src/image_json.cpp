#include "image_json.h"

#include <algorithm>
#include <cstdint>

namespace layerleak::oci {

namespace {

std::string string_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

}  // namespace

Result<nlohmann::json> parse_json(std::string_view text, const std::string& what) {
  if (!json_nesting_within(text, 64)) return make_error(Errc::malformed, what + ": JSON nested deeper than 64 levels");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(Errc::malformed, what + ": invalid JSON");
  return j;
}

std::string blob_path(const Digest& digest) { return "blobs/" + digest.algorithm + "/" + digest.hex; }

Result<std::string> read_verified_blob(const FileTree& tree, const Descriptor& descriptor, const std::string& what) {
  const std::string path = blob_path(descriptor.digest);
  if (!tree.exists(path)) {
    return make_error(Errc::not_found, what + " " + descriptor.digest.str() + " is missing (no " + path + " in " +
                                           tree.describe() + ")");
  }
  auto data = tree.read_small(path);
  if (!data) return std::move(data).error().with_context(what + " " + descriptor.digest.str());
  if (auto st = verify_document(*data, descriptor, what); !st) return std::move(st).error();
  return data;
}

Status verify_document(std::string_view bytes, const Descriptor& descriptor, const std::string& what) {
  if (descriptor.size >= 0 && static_cast<std::uint64_t>(descriptor.size) != bytes.size()) {
    return make_error(Errc::digest_mismatch, what + " " + descriptor.digest.str() + " has " +
                                                 std::to_string(bytes.size()) + " bytes, the descriptor says " +
                                                 std::to_string(descriptor.size));
  }
  Digest actual = Sha256::of(bytes);
  if (actual != descriptor.digest) {
    return make_error(Errc::digest_mismatch, what + " digest mismatch: expected " + descriptor.digest.str() +
                                                 ", content hashes to " + actual.str());
  }
  return Ok{};
}

Result<Descriptor> parse_descriptor(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) return make_error(Errc::malformed, what + ": descriptor is not an object");
  Descriptor d;
  d.media_type = string_field(j, "mediaType");
  auto digest = Digest::parse(string_field(j, "digest"));
  if (!digest) return std::move(digest).error().with_context(what);
  d.digest = std::move(digest).value();
  // The size is optional here (docker-archive's own descriptors have none: -1), but one given must be a
  // byte count: a negative, fractional or out-of-range size taken as "unknown" let a blob of any length
  // pass as complete.
  if (auto it = j.find("size"); it != j.end()) {
    const bool count = it->is_number_unsigned() ? it->get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX)
                                                : it->is_number_integer() && it->get<std::int64_t>() >= 0;
    if (!count) {
      std::string shown = it->dump();
      if (shown.size() > 40) shown = shown.substr(0, 40) + "...";
      return make_error(Errc::malformed, what + ": descriptor size " + shown + " is not a byte count");
    }
    d.size = it->get<std::int64_t>();
  }
  if (auto it = j.find("annotations"); it != j.end() && it->is_object()) {
    for (const auto& [key, value] : it->items()) {
      if (value.is_string()) d.annotations[key] = value.get<std::string>();
    }
  }
  if (auto it = j.find("platform"); it != j.end() && it->is_object()) {
    Platform p{string_field(*it, "os"), string_field(*it, "architecture"), string_field(*it, "variant")};
    d.platform = p;
  }
  return d;
}

namespace {

// A media type as its bare, lower-case type/subtype ("Application/X+JSON; charset=utf-8" is
// "application/x+json"): RFC 6838 types are case-insensitive and parameters do not change the type.
std::string media_type_base(std::string_view media_type) {
  media_type = media_type.substr(0, media_type.find(';'));
  while (!media_type.empty() && media_type.back() == ' ') media_type.remove_suffix(1);
  while (!media_type.empty() && media_type.front() == ' ') media_type.remove_prefix(1);
  std::string out(media_type);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

bool is_index_type(std::string_view media_type) {
  const std::string base = media_type_base(media_type);
  return base == kOciIndex || base == kDockerList;
}
bool is_manifest_type(std::string_view media_type) {
  const std::string base = media_type_base(media_type);
  return base == kOciManifest || base == kDockerManifest;
}

Status apply_manifest(Image& image, const nlohmann::json& manifest, const std::string& what) {
  if (!manifest.is_object()) return make_error(Errc::malformed, what + ": manifest is not an object");
  auto config = manifest.find("config");
  if (config == manifest.end()) return make_error(Errc::malformed, what + ": manifest has no config");
  auto config_descriptor = parse_descriptor(*config, what + " config");
  if (!config_descriptor) return std::move(config_descriptor).error();
  image.config_digest = config_descriptor->digest;
  auto layers = manifest.find("layers");
  if (layers == manifest.end() || !layers->is_array()) {
    return make_error(Errc::malformed, what + ": manifest has no layers list");
  }
  image.layers.clear();
  for (std::size_t i = 0; i < layers->size(); ++i) {
    auto d = parse_descriptor((*layers)[i], what + " layer " + std::to_string(i));
    if (!d) return std::move(d).error();
    Layer layer;
    layer.index = i;
    layer.blob = std::move(d).value();
    image.layers.push_back(std::move(layer));
  }
  if (auto it = manifest.find("annotations"); it != manifest.end() && it->is_object()) {
    for (const auto& [key, value] : it->items()) {
      if (value.is_string()) image.annotations[key] = value.get<std::string>();
    }
  }
  return Ok{};
}

Status apply_config(Image& image, const std::string& config_json) {
  const std::string what = "image config " + (image.config_digest ? image.config_digest->str() : std::string());
  auto parsed = parse_json(config_json, what);
  if (!parsed) return std::move(parsed).error();
  const nlohmann::json& config = *parsed;
  if (!config.is_object()) return make_error(Errc::malformed, what + ": not a JSON object");
  image.config_json = config_json;
  if (auto inner = config.find("config"); inner != config.end() && inner->is_object()) {
    if (auto labels = inner->find("Labels"); labels != inner->end() && labels->is_object()) {
      for (const auto& [key, value] : labels->items()) {
        if (value.is_string()) image.labels[key] = value.get<std::string>();
      }
    }
  }
  if (!image.platform) {
    Platform p{string_field(config, "os"), string_field(config, "architecture"), string_field(config, "variant")};
    if (!p.os.empty()) image.platform = p;
  }
  auto rootfs = config.find("rootfs");
  if (rootfs == config.end() || !rootfs->is_object() || !rootfs->contains("diff_ids") ||
      !(*rootfs)["diff_ids"].is_array()) {
    return make_error(Errc::malformed, what + ": no rootfs.diff_ids");
  }
  const nlohmann::json& diff_ids = (*rootfs)["diff_ids"];
  if (diff_ids.size() != image.layers.size()) {
    return make_error(Errc::malformed, what + ": " + std::to_string(diff_ids.size()) + " diff_ids for " +
                                           std::to_string(image.layers.size()) + " layers");
  }
  for (std::size_t i = 0; i < diff_ids.size(); ++i) {
    auto d = Digest::parse(diff_ids[i].is_string() ? diff_ids[i].get<std::string>() : std::string());
    if (!d) return std::move(d).error().with_context(what + " diff_ids[" + std::to_string(i) + "]");
    image.layers[i].diff_id = std::move(d).value();
  }
  // History: the i-th entry that is not empty_layer made layer i. When the counts disagree the
  // history is not trustworthy, and layers are attributed by diffID only.
  auto history = config.find("history");
  if (history != config.end() && history->is_array()) {
    std::vector<std::size_t> producing;
    for (std::size_t h = 0; h < history->size(); ++h) {
      const nlohmann::json& entry = (*history)[h];
      bool empty = false;
      if (entry.is_object()) {
        auto flag = entry.find("empty_layer");
        empty = flag != entry.end() && flag->is_boolean() && flag->get<bool>();
      }
      if (!empty) producing.push_back(h);
    }
    if (producing.size() == image.layers.size()) {
      for (std::size_t i = 0; i < producing.size(); ++i) {
        const nlohmann::json& entry = (*history)[producing[i]];
        image.layers[i].history_index = producing[i];
        if (entry.is_object()) image.layers[i].created_by = string_field(entry, "created_by");
      }
    }
  }
  return Ok{};
}

}  // namespace layerleak::oci

namespace layerleak::oci {

std::vector<std::size_t> layers_largest_first(const Image& image) {
  std::vector<std::size_t> order(image.layers.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return image.layers[a].blob.size > image.layers[b].blob.size;  // unknown (-1) sorts last
  });
  return order;
}

std::vector<MetadataFile> metadata_files(const Image& image) {
  std::vector<MetadataFile> out;
  auto add_map = [&](const char* kind, const std::string& prefix, const std::map<std::string, std::string>& values) {
    for (const auto& [key, value] : values) out.push_back({kind, prefix + key, key + "=" + value});
  };
  if (!image.config_json.empty()) {
    auto parsed = parse_json(image.config_json, "image config");
    if (parsed && parsed->is_object()) {
      const nlohmann::json& config = *parsed;
      if (auto inner = config.find("config"); inner != config.end() && inner->is_object()) {
        if (auto env = inner->find("Env"); env != inner->end() && env->is_array()) {
          for (std::size_t i = 0; i < env->size(); ++i) {
            if ((*env)[i].is_string()) out.push_back({"config", "config.Env[" + std::to_string(i) + "]", (*env)[i].get<std::string>()});
          }
        }
        for (const char* name : {"Cmd", "Entrypoint"}) {
          auto list = inner->find(name);
          if (list == inner->end() || !list->is_array() || list->empty()) continue;
          std::string joined;
          for (const auto& arg : *list) {
            if (arg.is_string()) joined += (joined.empty() ? "" : " ") + arg.get<std::string>();
          }
          out.push_back({"config", std::string("config.") + name, joined});
        }
      }
      if (auto history = config.find("history"); history != config.end() && history->is_array()) {
        for (std::size_t i = 0; i < history->size(); ++i) {
          const nlohmann::json& entry = (*history)[i];
          if (!entry.is_object()) continue;
          auto created_by = entry.find("created_by");
          if (created_by != entry.end() && created_by->is_string()) {
            out.push_back({"config", "history[" + std::to_string(i) + "].created_by", created_by->get<std::string>()});
          }
        }
      }
    }
  }
  add_map("config", "config.Labels.", image.labels);
  add_map("manifest", "manifest.annotations.", image.annotations);
  add_map("manifest", "index.annotations.", image.index_annotations);
  return out;
}

namespace {

constexpr int kMaxIndexDepth = 8;

bool runs_nowhere(const Descriptor& d) {
  return d.platform && d.platform->os == "unknown" && d.platform->architecture == "unknown";
}

// BuildKit's attestation manifests: the annotation AND the unknown/unknown platform BuildKit gives them.
// Why both: runtimes pick an entry by platform and never read annotations, so an image with a real
// platform that only claims to be an attestation could still be the one a node runs.
bool is_attestation(const Descriptor& d) {
  auto it = d.annotations.find("vnd.docker.reference.type");
  return it != d.annotations.end() && it->second == "attestation-manifest" && runs_nowhere(d);
}

}  // namespace

Result<Image> read_image(const DocumentFetcher& fetch, const Descriptor& manifest_descriptor, const std::string& what,
                         const BeforeConfig& before_config) {
  auto bytes = fetch(manifest_descriptor, what + " manifest");
  if (!bytes) return std::move(bytes).error();
  return image_from_manifest(fetch, *bytes, manifest_descriptor, what, before_config);
}

Result<Image> image_from_manifest(const DocumentFetcher& fetch, const std::string& manifest_bytes,
                                  const Descriptor& manifest_descriptor, const std::string& what,
                                  const BeforeConfig& before_config) {
  auto manifest = parse_json(manifest_bytes, what + " manifest " + manifest_descriptor.digest.str());
  if (!manifest) return std::move(manifest).error();
  Image image;
  image.manifest_digest = manifest_descriptor.digest;
  image.platform = manifest_descriptor.platform;
  if (auto st = apply_manifest(image, *manifest, what + " manifest " + manifest_descriptor.digest.str()); !st) {
    return std::move(st).error();
  }
  Descriptor config_descriptor;
  config_descriptor.digest = *image.config_digest;
  if (auto it = manifest->find("config"); it != manifest->end() && it->is_object()) {
    if (auto size = it->find("size"); size != it->end() && size->is_number_integer()) {
      config_descriptor.size = size->get<std::int64_t>();
    }
  }
  if (before_config) before_config(image);
  auto config = fetch(config_descriptor, what + " config");
  if (!config) return std::move(config).error();
  if (auto st = apply_config(image, *config); !st) return std::move(st).error();
  return image;
}

Status collect_from_index(const DocumentFetcher& fetch, const nlohmann::json& index, const std::string& what,
                          const SelectOptions& options, const std::string& inherited_ref, int depth,
                          std::vector<std::pair<Descriptor, std::string>>& out) {
  if (depth > kMaxIndexDepth) return make_error(Errc::limit, what + ": image indexes nested too deeply");
  auto manifests = index.find("manifests");
  if (!index.is_object() || manifests == index.end() || !manifests->is_array()) {
    return make_error(Errc::malformed, what + ": index has no manifests list");
  }
  for (std::size_t i = 0; i < manifests->size(); ++i) {
    auto d = parse_descriptor((*manifests)[i], what + " manifests[" + std::to_string(i) + "]");
    if (!d) return std::move(d).error();
    std::string ref = inherited_ref;
    if (auto it = d->annotations.find(std::string(kRefNameAnnotation)); it != d->annotations.end()) ref = it->second;
    if (is_attestation(*d) && !options.include_attestations) continue;
    if (is_index_type(d->media_type)) {
      auto bytes = fetch(*d, what + " nested index");
      if (!bytes) return std::move(bytes).error();
      auto nested = parse_json(*bytes, what + " nested index " + d->digest.str());
      if (!nested) return std::move(nested).error();
      if (auto st = collect_from_index(fetch, *nested, what, options, ref, depth + 1, out); !st) return st;
      continue;
    }
    // Unknown types are artifacts (signatures, SBOMs), not images, unless they name a platform a node could
    // pick them for: those are kept, and refused if selected (select_platform), never skipped silently.
    if (!is_manifest_type(d->media_type) && !d->media_type.empty() && (!d->platform || runs_nowhere(*d))) continue;
    // The same manifest reachable twice under the same name is one image, scanned once.
    if (std::any_of(out.begin(), out.end(), [&](const auto& seen) { return seen.first.digest == d->digest && seen.second == ref; })) {
      continue;
    }
    out.emplace_back(std::move(d).value(), ref);
  }
  return Ok{};
}

namespace {

// Selected entries must all be images layerleak can read: an entry of another type that a node could
// pick for its platform makes the scan fail (incomplete, so never `allow`) rather than pass unread.
Result<std::vector<std::pair<Descriptor, std::string>>> only_readable(std::vector<std::pair<Descriptor, std::string>> selected,
                                                                      const std::string& what) {
  for (const auto& [d, ref] : selected) {
    if (!d.media_type.empty() && !is_manifest_type(d.media_type)) {
      return make_error(Errc::unsupported, what + ": the index entry " + d.digest.str() + " for " +
                                               (d.platform ? d.platform->str() : std::string("any platform")) + " has media type \"" +
                                               d.media_type.substr(0, 120) + "\", not an image manifest layerleak can read");
    }
  }
  return selected;
}

}  // namespace

Result<std::vector<std::pair<Descriptor, std::string>>> select_platform(
    std::vector<std::pair<Descriptor, std::string>> all, const SelectOptions& options, const std::string& what) {
  if (options.all_platforms) return only_readable(std::move(all), what);
  std::vector<std::pair<Descriptor, std::string>> kept;
  std::vector<std::string> available;
  bool any_platform = false;
  for (auto& item : all) {
    if (!item.first.platform) {
      kept.push_back(std::move(item));
      continue;
    }
    any_platform = true;
    available.push_back(item.first.platform->str());
    if (item.first.platform->matches(options.platform)) kept.push_back(std::move(item));
  }
  if (kept.empty() && any_platform) {
    std::string list;
    for (const auto& a : available) list += (list.empty() ? "" : ", ") + a;
    return make_error(Errc::not_found,
                      what + ": no image for platform " + options.platform.str() + " (available: " + list + ")");
  }
  return only_readable(std::move(kept), what);
}

}  // namespace layerleak::oci
