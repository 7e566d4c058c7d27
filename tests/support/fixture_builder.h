// In-process fixture builder: tar layers and whole container images (OCI layout, OCI archive, docker-archive
// in the legacy and the Docker >= 25 shape), built with libarchive's write API and returned as bytes.
//
// Everything is deterministic: mtimes 0, uid/gid 0, no user/group names, entries in insertion order, gzip
// without a timestamp, JSON with a fixed key order. The same spec always gives the same bytes and digests.
//
// Hostile fixtures: RawEntry writes a hand-made tar header whose name bytes are exactly what the test asks
// for (libarchive would normalise or refuse them); ContainerOptions corrupts, truncates, mis-declares or
// drops blobs so readers can be checked to fail closed.
//
// Not responsible for: reading images (that is the scanner's job); read_archive() below is only a small
// libarchive-based listing helper for tests. No exception escapes this API.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "layerleak/core.h"

namespace layerleak::testing {

enum class Compression { none, gzip, zstd };

// A tar entry written byte-for-byte by hand (not through libarchive), for hostile-name tests.
struct RawEntry {
  std::string name;                  // exact bytes; > 100 bytes needs pax_path (else truncated to 100)
  char typeflag = '0';               // '0' file, '1' hardlink, '2' symlink, '5' dir, anything else as given
  std::string content;               // data (written after the header, padded to 512)
  std::string linkname;              // exact bytes, up to 100
  int mode = 0644;
  bool pax_path = false;             // also emit a pax 'x' header with "path=<name>" (any length, any bytes)
  std::optional<std::uint64_t> declared_size;  // header size field; defaults to content.size() (lie = hostile)
};

class LayerBuilder {
 public:
  LayerBuilder& file(std::string path, std::string content, int mode = 0644);
  LayerBuilder& dir(std::string path, int mode = 0755);
  LayerBuilder& symlink(std::string path, std::string target);
  LayerBuilder& hardlink(std::string path, std::string target);
  LayerBuilder& whiteout(std::string path);  // writes <dir>/.wh.<name> for path <dir>/<name>
  LayerBuilder& opaque(std::string dir);     // writes <dir>/.wh..wh..opq
  LayerBuilder& raw_entry(RawEntry entry);
  // Convenience: a raw regular file with the given exact name bytes.
  LayerBuilder& raw_entry(std::string name_bytes, std::string content) {
    return raw_entry(RawEntry{std::move(name_bytes), '0', std::move(content), {}, 0644, false, std::nullopt});
  }

  // Uncompressed tar bytes (pax_restricted: ustar headers, pax records only where ustar cannot hold a
  // name); paths written as given ("app/.env" or "./app/.env"). Ends with two zero blocks, no padding to
  // 10240. Returns an empty string only if libarchive fails, which never happens for valid input.
  std::string tar() const;

  std::size_t size() const { return entries_.size(); }

 private:
  enum class Kind { file, dir, symlink, hardlink };
  struct Entry {
    Kind kind;
    std::string path;
    std::string data;  // content (file) or link target (symlink, hardlink)
    int mode;
  };
  std::vector<std::variant<Entry, RawEntry>> entries_;
};

// Whiteout names, as the builder writes them: "a/b" -> "a/.wh.b", "b" -> ".wh.b"; opaque "a" ->
// "a/.wh..wh..opq" ("" -> ".wh..wh..opq"). A trailing '/' on the input is ignored.
std::string whiteout_name(std::string_view path);
std::string opaque_name(std::string_view dir);

// gzip (libarchive filter, no timestamp, no name), zstd (libzstd, level 3, content size in the frame) or
// a copy. Returns an empty string only if the compressor fails.
std::string compress(std::string_view bytes, Compression c);
std::string sha256_digest(std::string_view bytes);  // "sha256:<hex>"
std::string sha256_hex(std::string_view bytes);     // "<hex>"

struct LayerSpec {
  LayerBuilder layer;
  Compression compression = Compression::gzip;
  std::string created_by;
  std::optional<std::string> tar_override;  // use these bytes instead of layer.tar() (e.g. not a tar at all)
  std::string media_type;                   // override the layer media type (e.g. BuildKit's diff.tar.zstd)
};

struct HistorySpec {
  std::string created_by;
  bool empty_layer = false;
  std::string comment;
};

struct ImageSpec {
  std::vector<LayerSpec> layers;
  std::vector<HistorySpec> history;  // if empty: one non-empty history entry per layer with its created_by
  std::vector<std::string> env;      // config.Env
  std::map<std::string, std::string> labels;  // config.Labels
  std::vector<std::string> cmd, entrypoint;   // config.Cmd / config.Entrypoint (omitted when empty)
  std::map<std::string, std::string> annotations;  // manifest annotations (omitted when empty)
  std::vector<std::string> repo_tags;  // "example/app:latest" (docker RepoTags; OCI ref.name = "latest")
  std::string os = "linux", architecture = "amd64", variant;
  bool docker_media_types = false;  // Docker schema2 manifest/config/layer media types instead of OCI
};

// Knobs for hostile fixtures. Each applies to every image in the container.
struct ContainerOptions {
  bool drop_first_layer_blob = false;     // the container omits layer 0's blob (manifest still names it)
  bool corrupt_last_layer_blob = false;   // flips a bit in the middle of the last blob AFTER its digest and
                                          // size were recorded: same size, wrong content
  bool wrong_diff_id = false;             // config declares a wrong rootfs.diff_ids for the last layer
  bool truncate_last_layer_blob = false;  // last blob cut to half its size BEFORE its digest is taken: the
                                          // manifest matches the blob, only decompression / tar / diffID fail
  bool nested_index = false;              // OCI index.json points at a nested index blob holding the images
};

struct BuiltImage {  // all blobs of one image, content-addressed
  std::string config;    // config JSON bytes
  std::string manifest;  // image manifest JSON bytes
  std::string config_digest, manifest_digest;
  std::string manifest_media_type;
  std::vector<std::string> layer_blobs;        // compressed as asked (after hostile knobs)
  std::vector<std::string> layer_digests;      // as declared in the manifest
  std::vector<std::string> diff_ids;           // as declared in the config
  std::vector<std::string> layer_media_types;  // as declared in the manifest
  std::vector<std::string> layer_tars;         // the pristine uncompressed tars
};

BuiltImage build_image(const ImageSpec& spec, const ContainerOptions& options = {});

// Repo tag parts: "reg:5000/example/app:1.0" -> {"reg:5000/example/app", "1.0"}; no tag -> "latest".
std::pair<std::string, std::string> split_repo_tag(std::string_view repo_tag);

// Image containers. Several images may go in one container; identical blobs are stored once.
// OCI index.json: one manifest entry per repo tag (annotation org.opencontainers.image.ref.name = tag
// part), or one entry without annotations for an untagged image; platform from the spec.
std::string oci_archive(const std::vector<ImageSpec>& images, const ContainerOptions& options = {});
Status write_oci_layout(const std::vector<ImageSpec>& images, const std::string& dir,
                        const ContainerOptions& options = {});
// docker save < 25: <diffidhex>/{VERSION,json,layer.tar} (uncompressed layers; spec compression ignored),
// <confighex>.json, then manifest.json and repositories LAST (as skopeo does).
std::string docker_archive_legacy(const std::vector<ImageSpec>& images, const ContainerOptions& options = {});
// docker save >= 25: blobs/sha256/* (layers compressed as in the spec), index.json, manifest.json (paths
// "blobs/sha256/<hex>"), oci-layout, repositories.
std::string docker_archive_v25(const std::vector<ImageSpec>& images, const ContainerOptions& options = {});

Status write_file(const std::string& path, std::string_view bytes);

// One file to put in a container tar, in order. Directories end with '/' and have empty content.
struct ContainerFile {
  std::string path;
  std::string content;
};
// A tar (uncompressed, deterministic) of the given files and directories, in order.
std::string tar_of(const std::vector<ContainerFile>& files);

// Spec of a whole fixture (the JSON the fixture tool reads; see fixture_tool.cpp for the format).
struct FixtureSpec {
  std::vector<ImageSpec> images;
  ContainerOptions options;
};
Result<FixtureSpec> parse_fixture_spec(std::string_view json_text);
// format: oci-archive | oci-dir | docker-archive-legacy | docker-archive-v25.
Status write_container(const FixtureSpec& spec, std::string_view format, const std::string& out);

// Test helper: every entry of a tar (optionally gzip/zstd compressed), read with libarchive's read API.
struct ArchiveEntry {
  std::string path;
  char type = '0';  // '0' file, '1' hardlink, '2' symlink, '5' dir, '?' other
  std::string content;
  std::string link;  // symlink or hardlink target
  int mode = 0;
  std::int64_t mtime = 0, uid = 0, gid = 0;
};
struct ArchiveListing {
  std::vector<ArchiveEntry> entries;
  std::string filter;  // libarchive's name of the outermost filter: "none", "gzip", "zstd"
  const ArchiveEntry* find(std::string_view path) const;
};
Result<ArchiveListing> read_archive(std::string_view bytes);

}  // namespace layerleak::testing
