// Parsing of the JSON documents of an image (index, manifest, config), bounded and exception-free.
// Internal to the oci library.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

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

// Checks that `bytes` has the size and digest `descriptor` declares; Errc::digest_mismatch otherwise.
Status verify_document(std::string_view bytes, const Descriptor& descriptor, const std::string& what);

// Fetches a small document (index, manifest or config) that a descriptor names, verified against the
// descriptor's digest and size. File trees read blobs/<alg>/<hex>; registries GET it.
using DocumentFetcher = std::function<Result<std::string>(const Descriptor&, const std::string& what)>;

// Called with an image whose manifest is read (its layers known) before its config is fetched: a
// registry asks for the first layers then, while the config is on its way.
using BeforeConfig = std::function<void(const Image&)>;

// Reads one image (manifest + config) given its manifest descriptor.
Result<Image> read_image(const DocumentFetcher& fetch, const Descriptor& manifest_descriptor, const std::string& what,
                         const BeforeConfig& before_config = nullptr);
// The same, from manifest bytes already fetched (and verified) by the caller.
Result<Image> image_from_manifest(const DocumentFetcher& fetch, const std::string& manifest_bytes,
                                  const Descriptor& manifest_descriptor, const std::string& what,
                                  const BeforeConfig& before_config = nullptr);

// Collects the image manifests reachable from an index, depth-first in index order, skipping attestation
// manifests unless asked; each with the ref name it is listed under ("" when none).
Status collect_from_index(const DocumentFetcher& fetch, const nlohmann::json& index, const std::string& what,
                          const SelectOptions& options, const std::string& inherited_ref, int depth,
                          std::vector<std::pair<Descriptor, std::string>>& out);

// Applies the platform choice to manifests that declare a platform; manifests without one (single
// images written by skopeo, umoci, docker save) are always kept.
Result<std::vector<std::pair<Descriptor, std::string>>> select_platform(
    std::vector<std::pair<Descriptor, std::string>> all, const SelectOptions& options, const std::string& what);

}  // namespace layerleak::oci
