// Parsing of the JSON documents of an image (index, manifest, config), bounded and exception-free.
// Internal to the oci library.
#pragma once

#include <nlohmann/json.hpp>

#include "file_tree.h"
#include "layerleak/oci.h"

namespace layerleak::oci {

inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

// Parses `text` as JSON; nesting deeper than 64 levels or invalid JSON is Errc::malformed naming `what`.
Result<nlohmann::json> parse_json(std::string_view text, const std::string& what);

// Reads the blob `digest` from `tree` (path blobs/<alg>/<hex>), checks size and digest, returns bytes.
Result<std::string> read_verified_blob(const FileTree& tree, const Descriptor& descriptor, const std::string& what);

// Parses an OCI/Docker descriptor object.
Result<Descriptor> parse_descriptor(const nlohmann::json& j, const std::string& what);

// Fills config_digest-independent parts of `image` from its config JSON: platform (if unset),
// diff_ids into layers (count must match), history attribution.
Status apply_config(Image& image, const std::string& config_json);

bool is_index_type(std::string_view media_type);
bool is_manifest_type(std::string_view media_type);

// Reads an image manifest (OCI or Docker schema2) into image.layers and image.config_digest.
Status apply_manifest(Image& image, const nlohmann::json& manifest, const std::string& what);

std::string blob_path(const Digest& digest);

}  // namespace layerleak::oci
