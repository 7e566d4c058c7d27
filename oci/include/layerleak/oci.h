// layerleak oci: container images as data.
//
// open_source() turns an image reference (docker-archive:, oci-archive:, oci:, dir:, a plain path) into
// an ImageSource, which lists the images it holds (manifest, config, layers, history, each digest
// verified) and opens raw layer blobs for streaming. FilesystemView answers, from each layer's
// entries and whiteouts, whether a file is still visible in the final filesystem.
//
// Not responsible for: decompressing or reading layer contents (scanner/archive), regexes or
// findings. Everything that is read here is small JSON, bounded in size.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "layerleak/core.h"

namespace layerleak::archive {
class EntryReader;
}

namespace layerleak::oci {

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;

  std::string str() const;                           // "linux/amd64" or "linux/arm/v7"
  static Result<Platform> parse(std::string_view);   // "os/arch[/variant]"
  bool matches(const Platform& wanted) const;        // variant ignored when `wanted` has none
};

struct Descriptor {
  std::string media_type;
  Digest digest;
  std::int64_t size = -1;  // -1 when unknown (legacy docker-archive)
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
};

struct Layer {
  std::size_t index = 0;
  Descriptor blob;                 // digest empty when the container does not name it (legacy archives)
  Digest diff_id;                  // from config rootfs.diff_ids[index]
  std::string created_by;          // history step that made the layer ("" when unknown)
  std::optional<std::size_t> history_index;
};

struct Image {
  std::string reference;   // as the user can write it back: "oci-archive:app.tar:latest"
  std::string transport;   // "docker-archive", "oci-archive", "oci", "dir"
  std::optional<Digest> manifest_digest;
  // The index (or manifest list) the image was selected from, when the reference named one. Like
  // manifest_digest, computed from the bytes read (never taken from the reference text).
  std::optional<Digest> index_digest;
  std::optional<Digest> config_digest;
  std::optional<Platform> platform;
  std::vector<std::string> tags;
  std::vector<Layer> layers;
  std::string config_json;  // raw config bytes (verified), for config scanning
  std::map<std::string, std::string> labels;             // config.Labels
  std::map<std::string, std::string> annotations;        // manifest annotations
  std::map<std::string, std::string> index_annotations;  // the index entry's annotations
  // dir: sources: the image is a root filesystem, presented as one layer whose entries come from
  // ImageSource::open_entries; reports show its files (location kind "file") and no layer.
  bool filesystem = false;
};

// The indices of image.layers in the order a scan opens them: the largest declared blob first (unknown
// sizes last), ties in manifest order. Why: with fewer threads than layers, the largest layer opened
// late is read alone after the others are done (four layers of 13, 13, 13 and 51 MB on 2 cores: 0.471 s
// in manifest order, 0.442 s largest first; bench/README.md).
std::vector<std::size_t> layers_largest_first(const Image& image);

struct SelectOptions {
  Platform platform{"linux", "amd64", ""};
  bool all_platforms = false;
  bool include_attestations = false;
  // How many of the first image's first layers (in layers_largest_first order) a registry asks for while it
  // fetches the config, so that their bytes are on the way when open_blob is called; 0: none (other sources ignore
  // it). For callers that open those layers first, right after images(): until opened, each holds one
  // of the registry's transfer slots (RegistryOptions::concurrency; at most all but one are used).
  unsigned prefetch_layers = 0;
};

// An opened image container. Thread-safe: open_blob may be called concurrently (random-access
// sources), each returned reader is used by one thread.
class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual std::string_view transport() const = 0;
  // The images selected from this source, in a stable order (container order).
  virtual Result<std::vector<Image>> images(const SelectOptions& options) = 0;
  // The raw (still compressed, not yet verified) bytes of a layer blob.
  virtual Result<std::unique_ptr<ByteReader>> open_blob(const Image& image, const Layer& layer) = 0;
  // Sources read once, front to back (standard input, a compressed archive, the Docker daemon): bytes
  // copied to a temporary file because the archive's member order did not allow streaming them (e.g.
  // layers before manifest.json), so far. nullopt for random-access sources.
  virtual std::optional<std::uint64_t> spooled_bytes() const { return std::nullopt; }
  // Blobs come from a peer over a connection (a registry, the Docker daemon): reading one may wait on it.
  virtual bool remote() const { return false; }
  // The entries of a layer that is a file tree already (dir:), read in place instead of through a tar
  // blob; a null pointer for layers that are blobs (the default: use open_blob).
  virtual Result<std::unique_ptr<archive::EntryReader>> open_entries(const Image& image, const Layer& layer);
};

// Image metadata as small named texts that are scanned like files: config.Env[i] ("KEY=value"),
// config.Labels.<key> ("<key>=<value>"), config.Cmd / config.Entrypoint (arguments joined by spaces),
// history[i].created_by, manifest.annotations.<key> and index.annotations.<key> ("<key>=<value>").
struct MetadataFile {
  std::string kind;   // "config" or "manifest"
  std::string field;  // "config.Env[2]"
  std::string content;
};
std::vector<MetadataFile> metadata_files(const Image& image);

// How to reach a registry (docker:// references). Credentials are never logged or echoed in errors.
struct RegistryOptions {
  // "USER:PASS" or "USER" (the password then comes from LAYERLEAK_REGISTRY_PASSWORD); "" = none given.
  std::string creds;
  // docker config.json / containers auth.json; "" = $REGISTRY_AUTH_FILE, then $DOCKER_CONFIG/config.json,
  // then ~/.docker/config.json (credHelpers and credsStore honoured).
  std::string authfile;
  // A token the registry accepts as is ("Authorization: Bearer <token>", e.g. one Harbor hands its
  // scanners); when set, it is sent to the registry's own origin instead of any other credentials, and no
  // token is fetched. "" = none.
  std::string bearer_token;
  // false: plain HTTP and unverified TLS are allowed for every host (loopback hosts may always use HTTP).
  bool tls_verify = true;
  unsigned max_retries = 4;             // per request, for 5xx, 429 and dropped connections
  // Transfers in flight at once to one registry, across every thread and session of the process (1..64;
  // --registry-concurrency). A 429, or a 503 with Retry-After, holds back every transfer to that registry
  // for the time asked (at most 60 s; a back-off when none is given).
  unsigned concurrency = 4;
  // Entries asked for per page of /v2/_catalog and tags/list (RegistryCatalog); registries may give fewer.
  unsigned page_size = 1000;
  unsigned stall_timeout_seconds = 60;  // a transfer that moves no byte for this long fails
  // Registries that may be contacted, "HOST[:PORT]" as written in references ("docker.io" is Docker Hub),
  // compared case-insensitively. Non-empty: any other registry is refused (Errc::unsupported) before any
  // request, DNS lookup or credential lookup, and --creds go to these registries only; the token services
  // and blob redirects an allowed registry names may still be contacted. Empty: every registry may be.
  std::vector<std::string> allowed_registries;
  // When the registry's own address is public, no connection of the session (redirects, token services,
  // the registry host itself re-resolved) may reach a loopback, private, link-local, CGNAT, unspecified or
  // multicast address: checked on every socket at connect time, so DNS rebinding does not get around it.
  // A registry that is itself on such an address (127.0.0.1:5000, an internal host) is not restricted.
  bool block_private_redirects = true;
};

// A registry image reference: the one implementation of the Docker reference grammar, used by the
// registry source and by `serve` (Kubernetes image names, notifications, Harbor requests).
struct RegistryReference {
  std::string registry;    // as written, Docker Hub as "docker.io": "127.0.0.1:5000", "rg.fr-par.scw.cloud"
  std::string host;        // where requests go: "registry-1.docker.io" for Docker Hub, else `registry`
  std::string repository;  // "library/alpine"
  std::string tag;         // "" when only a digest is given
  std::optional<Digest> digest;

  // "docker://127.0.0.1:5000/app:1" or "docker://…/app@sha256:…" (the digest wins when both are given).
  std::string str() const;
};

// Parses the part after "docker://" (or a container image name as Kubernetes writes it):
// HOST[:PORT]/REPO[:TAG][@DIGEST], with Docker Hub's short names ("alpine" is docker.io/library/alpine:latest).
// Errc::invalid_argument naming what is wrong.
Result<RegistryReference> parse_registry_reference(std::string_view text);

// A registry to list, from "docker://HOST[:PORT][/NAMESPACE]" (the "docker://" may be left out).
struct RegistryTarget {
  std::string registry;          // "127.0.0.1:5000", "rg.fr-par.scw.cloud"; Docker Hub as "docker.io"
  std::string namespace_prefix;  // "" = every repository; else repositories equal to it or under "NS/"
};
// Errc::invalid_argument naming what is wrong (bad host, a namespace outside the repository grammar, a tag
// or digest given).
Result<RegistryTarget> parse_registry_target(std::string_view text);

// A registry's repositories and tags, over the distribution API v2 (/v2/_catalog, /v2/NAME/tags/list,
// every page followed through Link rel="next"). Same credentials, TLS and allowed-registry policy as scans,
// and the same process-wide connections, in-flight bound and Retry-After handling (RegistryOptions).
// Names outside the distribution grammar are skipped with a warning, never put into a URL. Thread-safe.
class RegistryCatalog {
 public:
  // Fails before any request for a registry outside options.allowed_registries (Errc::unsupported); else
  // pings the registry (Errc::network, Errc::auth, Errc::cancelled). `warn`: skipped names and other
  // remarks; unset = standard error ("layerleak: warning: …").
  static Result<std::unique_ptr<RegistryCatalog>> open(const RegistryTarget& target, const RegistryOptions& options,
                                                       const std::atomic<bool>* cancel = nullptr,
                                                       std::function<void(const std::string&)> warn = {});
  virtual ~RegistryCatalog();
  RegistryCatalog(const RegistryCatalog&) = delete;
  RegistryCatalog& operator=(const RegistryCatalog&) = delete;

  // Every repository of the catalog under the target's namespace, sorted, without duplicates.
  // Errc::malformed for a pagination that loops or leaves the registry, Errc::limit past 100,000 pages,
  // 1,000,000 names or a 16 MiB page.
  Result<std::vector<std::string>> repositories();
  // Every tag of `repository`, sorted, without duplicates (same errors; Errc::not_found for no such
  // repository; Errc::invalid_argument for a name outside the grammar).
  Result<std::vector<std::string>> tags(const std::string& repository);
  // The digest of the manifest (or index) `tag` names: HEAD with the Accept list scans use, the digest
  // from Docker-Content-Digest; when the registry gives none (or not a sha256 one), GET and hash the
  // manifest. A tag that already is a digest ("sha256:…") is resolved the same way (it must exist).
  Result<std::string> resolve(const std::string& repository, const std::string& tag);

  const RegistryTarget& target() const;

 private:
  struct Impl;
  explicit RegistryCatalog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct SourceOptions {
  RegistryOptions registry;
  // Where "-" reads from; unset = the process's standard input (file descriptor 0). Not owned.
  ByteReader* standard_input = nullptr;
  // Non-fatal remarks about the reference ("DIR has index.json but no oci-layout: read as a plain
  // directory"); unset = written to standard error as "layerleak: warning: …".
  std::function<void(const std::string&)> warn;
  // When set and true, registry requests stop at once (connect, TLS, waiting for an answer, mid-body,
  // retry back-off, credential helpers) and fail with Errc::cancelled. Not owned; must outlive the source.
  const std::atomic<bool>* cancel = nullptr;
};

// Parses `reference` per CONTRACT.md and opens it. Fails with Errc::not_found (no such path or image),
// Errc::invalid_argument (bad reference), Errc::malformed (not an image), Errc::unsupported (a FIFO or
// device given as a path, a registry outside RegistryOptions::allowed_registries, a redirect into a private
// network), Errc::auth (registry refused the credentials), Errc::network or Errc::cancelled.
Result<std::unique_ptr<ImageSource>> open_source(std::string_view reference, const SourceOptions& options = {});

// The transport a reference names, without opening it ("" when not recognisable).
std::string transport_of(std::string_view reference);

// True for "-", "docker-archive:-[:REF]" and "oci-archive:-[:REF]": the image is read from standard input.
bool reads_standard_input(std::string_view reference);

// libcurl is not linked but loaded (dlopen) the first time it is needed: registry and Docker daemon
// sources, RegistryCatalog, and --verify (which links this library for it). Ok once libcurl.so.4 is loaded
// with every function layerleak calls; else Errc::internal naming the library and the loader's reason (the
// first answer is kept). Everything that starts using libcurl calls this first.
Status load_libcurl();
// For tests: opens `soname` as libcurl and resolves every function layerleak calls, then closes it.
Status try_libcurl(const std::string& soname);

enum class Visibility { runtime, deleted, overwritten };
std::string_view visibility_name(Visibility v) noexcept;

// What one layer changes in the filesystem. Paths are normalised absolute paths ("/app/.env").
struct LayerChanges {
  std::unordered_set<std::string> entries;     // every non-whiteout entry (files, dirs, links)
  std::unordered_set<std::string> directories; // the entries that are directories
  std::unordered_set<std::string> whiteouts;   // paths deleted by ".wh.<name>"
  std::unordered_set<std::string> opaque_dirs; // directories whose lower contents ".wh..wh..opq" hides

  // Records one tar entry by its normalised path; whiteout names are decoded here.
  void record(const std::string& path, bool is_directory);
};

// True when `path`'s last component is a whiteout marker (".wh.*"); such entries are never scanned.
bool is_whiteout(std::string_view path);

struct VisibilityResult {
  Visibility visibility = Visibility::runtime;
  std::optional<std::size_t> hidden_by_layer;
};

// The final-filesystem view over all layers of one image.
class FilesystemView {
 public:
  explicit FilesystemView(std::vector<LayerChanges> layers) : layers_(std::move(layers)) {}
  // Whether the file `path` as written by layer `layer` is still what the final filesystem shows.
  VisibilityResult visibility(std::size_t layer, const std::string& path) const;

 private:
  std::vector<LayerChanges> layers_;
};

}  // namespace layerleak::oci
