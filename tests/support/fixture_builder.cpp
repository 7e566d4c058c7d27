// Fixture builder implementation. See fixture_builder.h for what it is for.
//
// Tars are written by libarchive (pax_restricted) unblocked, so the output string is complete after every
// finished entry; RawEntry headers are then appended by hand in between, which is how a hostile name gets
// into an otherwise ordinary tar. gzip goes through libarchive's "raw" format with the gzip filter; zstd
// through libzstd directly (one frame, deterministic).
#include "fixture_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace layerleak::testing {
namespace {

using ojson = nlohmann::ordered_json;

struct ArchiveWriteFree {
  void operator()(archive* a) const noexcept { archive_write_free(a); }
};
struct ArchiveReadFree {
  void operator()(archive* a) const noexcept { archive_read_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const noexcept { archive_entry_free(e); }
};
using WriteHandle = std::unique_ptr<archive, ArchiveWriteFree>;
using ReadHandle = std::unique_ptr<archive, ArchiveReadFree>;
using EntryHandle = std::unique_ptr<archive_entry, EntryFree>;

constexpr const char* kEpoch = "1970-01-01T00:00:00Z";

la_ssize_t append_to_string(archive*, void* client, const void* buffer, size_t length) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

Error archive_error(archive* a, std::string_view what) {
  const char* message = archive_error_string(a);
  return make_error(Errc::internal, std::string(what) + ": " + (message ? message : "libarchive failed"));
}

// ---- hand-written ustar headers (RawEntry) ----

void put_octal(std::string& header, std::size_t offset, std::size_t width, std::uint64_t value) {
  // width-1 octal digits, zero padded, then NUL.
  std::string digits(width - 1, '0');
  for (std::size_t i = width - 1; i > 0 && value != 0; --i) {
    digits[i - 1] = static_cast<char>('0' + (value & 7U));
    value >>= 3U;
  }
  header.replace(offset, width - 1, digits);
  header[offset + width - 1] = '\0';
}

void put_bytes(std::string& header, std::size_t offset, std::size_t width, std::string_view bytes) {
  header.replace(offset, std::min(width, bytes.size()), bytes.substr(0, std::min(width, bytes.size())));
}

std::string ustar_header(std::string_view name, char typeflag, std::uint64_t size, std::string_view linkname,
                         int mode) {
  std::string header(512, '\0');
  put_bytes(header, 0, 100, name);
  put_octal(header, 100, 8, static_cast<std::uint64_t>(mode) & 07777U);
  put_octal(header, 108, 8, 0);     // uid
  put_octal(header, 116, 8, 0);     // gid
  put_octal(header, 124, 12, size);
  put_octal(header, 136, 12, 0);    // mtime
  header.replace(148, 8, 8, ' ');   // checksum is computed with its field as spaces
  header[156] = typeflag;
  put_bytes(header, 157, 100, linkname);
  put_bytes(header, 257, 6, std::string_view("ustar\0", 6));
  put_bytes(header, 263, 2, "00");
  unsigned sum = 0;
  for (char c : header) sum += static_cast<unsigned char>(c);
  put_octal(header, 148, 7, sum);  // six digits and NUL ...
  header[155] = ' ';               // ... then a space
  return header;
}

void append_padded(std::string& out, std::string_view data) {
  out.append(data);
  out.append((512 - data.size() % 512) % 512, '\0');
}

// One pax record "<len> key=value\n", where <len> counts the whole record including itself.
std::string pax_record(std::string_view key, std::string_view value) {
  std::size_t body = 1 + key.size() + 1 + value.size() + 1;  // " " key "=" value "\n"
  std::size_t length = body + 1;
  while (std::to_string(length).size() + body != length) length = std::to_string(length).size() + body;
  return std::to_string(length) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

void append_raw_entry(std::string& out, const RawEntry& entry) {
  if (entry.pax_path) {
    std::string records = pax_record("path", entry.name);
    out += ustar_header("././@PaxHeader", 'x', records.size(), {}, 0644);
    append_padded(out, records);
  }
  out += ustar_header(entry.name, entry.typeflag, entry.declared_size.value_or(entry.content.size()),
                      entry.linkname, entry.mode);
  append_padded(out, entry.content);
}

std::string strip_trailing_slashes(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return std::string(path);
}

std::string media_type_for(Compression c, bool docker) {
  if (docker) {
    switch (c) {
      case Compression::none: return "application/vnd.docker.image.rootfs.diff.tar";
      case Compression::gzip: return "application/vnd.docker.image.rootfs.diff.tar.gzip";
      case Compression::zstd: return "application/vnd.docker.image.rootfs.diff.tar.zstd";
    }
  }
  switch (c) {
    case Compression::none: return "application/vnd.oci.image.layer.v1.tar";
    case Compression::gzip: return "application/vnd.oci.image.layer.v1.tar+gzip";
    case Compression::zstd: return "application/vnd.oci.image.layer.v1.tar+zstd";
  }
  return {};
}

constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char* kDockerConfig = "application/vnd.docker.container.image.v1+json";
constexpr const char* kRefName = "org.opencontainers.image.ref.name";

std::string hex_of(const std::string& digest) {
  auto colon = digest.find(':');
  return colon == std::string::npos ? digest : digest.substr(colon + 1);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// LayerBuilder

LayerBuilder& LayerBuilder::file(std::string path, std::string content, int mode) {
  entries_.emplace_back(Entry{Kind::file, std::move(path), std::move(content), mode});
  return *this;
}

LayerBuilder& LayerBuilder::dir(std::string path, int mode) {
  entries_.emplace_back(Entry{Kind::dir, std::move(path), {}, mode});
  return *this;
}

LayerBuilder& LayerBuilder::symlink(std::string path, std::string target) {
  entries_.emplace_back(Entry{Kind::symlink, std::move(path), std::move(target), 0777});
  return *this;
}

LayerBuilder& LayerBuilder::hardlink(std::string path, std::string target) {
  entries_.emplace_back(Entry{Kind::hardlink, std::move(path), std::move(target), 0644});
  return *this;
}

LayerBuilder& LayerBuilder::whiteout(std::string path) { return file(whiteout_name(path), {}, 0644); }

LayerBuilder& LayerBuilder::opaque(std::string dir) { return file(opaque_name(dir), {}, 0644); }

LayerBuilder& LayerBuilder::raw_entry(RawEntry entry) {
  entries_.emplace_back(std::move(entry));
  return *this;
}

std::string LayerBuilder::tar() const {
  std::string out;
  WriteHandle a(archive_write_new());
  if (!a) return {};
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK) return {};
  // Unblocked: every write reaches `out` at once (so raw entries can be spliced in) and no padding to
  // 10240 at the end, like Go's archive/tar.
  if (archive_write_set_bytes_per_block(a.get(), 0) != ARCHIVE_OK) return {};
  if (archive_write_open(a.get(), &out, nullptr, append_to_string, nullptr) != ARCHIVE_OK) return {};

  EntryHandle e(archive_entry_new());
  if (!e) return {};
  for (const auto& item : entries_) {
    if (const auto* raw = std::get_if<RawEntry>(&item)) {
      append_raw_entry(out, *raw);
      continue;
    }
    const auto& entry = std::get<Entry>(item);
    archive_entry_clear(e.get());
    archive_entry_copy_pathname(e.get(), entry.path.c_str());
    archive_entry_set_mtime(e.get(), 0, 0);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_perm(e.get(), static_cast<mode_t>(entry.mode & 07777));
    archive_entry_set_size(e.get(), 0);
    switch (entry.kind) {
      case Kind::file:
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(entry.data.size()));
        break;
      case Kind::dir: archive_entry_set_filetype(e.get(), AE_IFDIR); break;
      case Kind::symlink:
        archive_entry_set_filetype(e.get(), AE_IFLNK);
        archive_entry_copy_symlink(e.get(), entry.data.c_str());
        break;
      case Kind::hardlink:
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_copy_hardlink(e.get(), entry.data.c_str());
        break;
    }
    if (archive_write_header(a.get(), e.get()) < ARCHIVE_WARN) return {};
    if (entry.kind == Kind::file && !entry.data.empty()) {
      auto written = archive_write_data(a.get(), entry.data.data(), entry.data.size());
      if (written < 0 || static_cast<std::size_t>(written) != entry.data.size()) return {};
    }
    if (archive_write_finish_entry(a.get()) < ARCHIVE_WARN) return {};
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return {};
  return out;
}

std::string whiteout_name(std::string_view path) {
  std::string p = strip_trailing_slashes(path);
  auto slash = p.rfind('/');
  if (slash == std::string::npos) return ".wh." + p;
  return p.substr(0, slash + 1) + ".wh." + p.substr(slash + 1);
}

std::string opaque_name(std::string_view dir) {
  std::string d = strip_trailing_slashes(dir);
  if (d.empty()) return ".wh..wh..opq";
  if (d.back() == '/') return d + ".wh..wh..opq";  // "/" stays "/"
  return d + "/.wh..wh..opq";
}

// ---------------------------------------------------------------------------------------------------------
// Compression and digests

std::string compress(std::string_view bytes, Compression c) {
  switch (c) {
    case Compression::none: return std::string(bytes);
    case Compression::zstd: {
      std::string out(ZSTD_compressBound(bytes.size()), '\0');
      std::size_t n = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), 3);
      if (ZSTD_isError(n)) return {};
      out.resize(n);
      return out;
    }
    case Compression::gzip: {
      std::string out;
      WriteHandle a(archive_write_new());
      if (!a) return {};
      if (archive_write_set_format_raw(a.get()) != ARCHIVE_OK) return {};
      if (archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK) return {};
      // No mtime in the gzip header, so the output is deterministic.
      if (archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr) < ARCHIVE_WARN) return {};
      if (archive_write_set_bytes_per_block(a.get(), 0) != ARCHIVE_OK) return {};
      if (archive_write_open(a.get(), &out, nullptr, append_to_string, nullptr) != ARCHIVE_OK) return {};
      EntryHandle e(archive_entry_new());
      if (!e) return {};
      archive_entry_set_pathname(e.get(), "layer.tar");
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_perm(e.get(), 0644);
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(bytes.size()));
      if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) return {};
      std::size_t done = 0;
      while (done < bytes.size()) {
        auto n = archive_write_data(a.get(), bytes.data() + done, bytes.size() - done);
        if (n <= 0) return {};
        done += static_cast<std::size_t>(n);
      }
      if (archive_write_close(a.get()) != ARCHIVE_OK) return {};
      return out;
    }
  }
  return {};
}

std::string sha256_digest(std::string_view bytes) { return Sha256::of(bytes).str(); }
std::string sha256_hex(std::string_view bytes) { return Sha256::of(bytes).hex; }

// ---------------------------------------------------------------------------------------------------------
// Images

std::pair<std::string, std::string> split_repo_tag(std::string_view repo_tag) {
  auto slash = repo_tag.rfind('/');
  auto colon = repo_tag.rfind(':');
  if (colon == std::string_view::npos || (slash != std::string_view::npos && colon < slash)) {
    return {std::string(repo_tag), "latest"};
  }
  return {std::string(repo_tag.substr(0, colon)), std::string(repo_tag.substr(colon + 1))};
}

BuiltImage build_image(const ImageSpec& spec, const ContainerOptions& options) {
  BuiltImage image;
  const std::size_t count = spec.layers.size();
  for (std::size_t i = 0; i < count; ++i) {
    const LayerSpec& layer = spec.layers[i];
    const bool last = i + 1 == count;
    std::string tar = layer.tar_override ? *layer.tar_override : layer.layer.tar();
    std::string blob = compress(tar, layer.compression);
    if (options.truncate_last_layer_blob && last) blob.resize(blob.size() / 2);
    std::string digest = sha256_digest(blob);
    if (options.corrupt_last_layer_blob && last) {
      if (blob.empty()) {
        blob.push_back('\x01');
      } else {
        blob[blob.size() / 2] = static_cast<char>(blob[blob.size() / 2] ^ 0x01);
      }
    }
    std::string diff_id = sha256_digest(tar);
    if (options.wrong_diff_id && last) diff_id = sha256_digest(tar + "\nnot the diff id");
    image.layer_media_types.push_back(!layer.media_type.empty()
                                          ? layer.media_type
                                          : media_type_for(layer.compression, spec.docker_media_types));
    image.layer_blobs.push_back(std::move(blob));
    image.layer_digests.push_back(std::move(digest));
    image.diff_ids.push_back(std::move(diff_id));
    image.layer_tars.push_back(std::move(tar));
  }

  ojson config = ojson::object();
  config["architecture"] = spec.architecture;
  config["os"] = spec.os;
  if (!spec.variant.empty()) config["variant"] = spec.variant;
  config["created"] = kEpoch;
  ojson inner = ojson::object();
  if (!spec.env.empty()) inner["Env"] = spec.env;
  if (!spec.cmd.empty()) inner["Cmd"] = spec.cmd;
  if (!spec.entrypoint.empty()) inner["Entrypoint"] = spec.entrypoint;
  if (!spec.labels.empty()) {
    ojson labels = ojson::object();
    for (const auto& [key, value] : spec.labels) labels[key] = value;
    inner["Labels"] = std::move(labels);
  }
  config["config"] = std::move(inner);
  config["rootfs"] = {{"type", "layers"}, {"diff_ids", image.diff_ids}};
  ojson history = ojson::array();
  auto add_history = [&history](const std::string& created_by, bool empty_layer, const std::string& comment) {
    ojson h = ojson::object();
    h["created"] = kEpoch;
    h["created_by"] = created_by;
    if (!comment.empty()) h["comment"] = comment;
    if (empty_layer) h["empty_layer"] = true;
    history.push_back(std::move(h));
  };
  if (spec.history.empty()) {
    for (const auto& layer : spec.layers) add_history(layer.created_by, false, {});
  } else {
    for (const auto& h : spec.history) add_history(h.created_by, h.empty_layer, h.comment);
  }
  config["history"] = std::move(history);
  image.config = config.dump();
  image.config_digest = sha256_digest(image.config);

  image.manifest_media_type = spec.docker_media_types ? kDockerManifest : kOciManifest;
  ojson manifest = ojson::object();
  manifest["schemaVersion"] = 2;
  manifest["mediaType"] = image.manifest_media_type;
  manifest["config"] = {{"mediaType", spec.docker_media_types ? kDockerConfig : kOciConfig},
                        {"digest", image.config_digest},
                        {"size", image.config.size()}};
  ojson layers = ojson::array();
  for (std::size_t i = 0; i < count; ++i) {
    // The declared size is that of the blob the digest was taken over (a corrupted blob keeps its size).
    layers.push_back({{"mediaType", image.layer_media_types[i]},
                      {"digest", image.layer_digests[i]},
                      {"size", image.layer_blobs[i].size()}});
  }
  manifest["layers"] = std::move(layers);
  if (!spec.annotations.empty()) {
    ojson annotations = ojson::object();
    for (const auto& [key, value] : spec.annotations) annotations[key] = value;
    manifest["annotations"] = std::move(annotations);
  }
  image.manifest = manifest.dump();
  image.manifest_digest = sha256_digest(image.manifest);
  return image;
}

namespace {

// Files of a container in order, deduplicated by path (identical blobs shared between images).
class FileList {
 public:
  void add(std::string path, std::string content) {
    if (seen_.insert(path).second) files_.push_back({std::move(path), std::move(content)});
  }
  const std::vector<ContainerFile>& files() const { return files_; }

 private:
  std::vector<ContainerFile> files_;
  std::set<std::string> seen_;
};

ojson platform_of(const ImageSpec& spec) {
  ojson platform = ojson::object();
  platform["architecture"] = spec.architecture;
  platform["os"] = spec.os;
  if (!spec.variant.empty()) platform["variant"] = spec.variant;
  return platform;
}

ojson descriptor(const std::string& media_type, const std::string& bytes, const std::string& digest) {
  return {{"mediaType", media_type}, {"digest", digest}, {"size", bytes.size()}};
}

ojson repo_tags_json(const ImageSpec& spec) {
  if (spec.repo_tags.empty()) return nullptr;  // docker writes null for an untagged image
  return spec.repo_tags;
}

// The blobs/sha256/* files and index.json of an OCI layout. docker25 adds the containerd image-name
// annotation docker writes next to ref.name.
struct OciLayout {
  std::vector<BuiltImage> built;
  FileList blobs;  // paths "blobs/sha256/<hex>"
  std::string index_json;
};

OciLayout make_oci_layout(const std::vector<ImageSpec>& images, const ContainerOptions& options,
                          bool docker25) {
  OciLayout layout;
  ojson manifests = ojson::array();
  ojson nested = ojson::array();
  std::vector<std::string> all_tags;
  for (const auto& spec : images) {
    BuiltImage image = build_image(spec, options);
    for (std::size_t i = 0; i < image.layer_blobs.size(); ++i) {
      if (options.drop_first_layer_blob && i == 0) continue;
      layout.blobs.add("blobs/sha256/" + hex_of(image.layer_digests[i]), image.layer_blobs[i]);
    }
    layout.blobs.add("blobs/sha256/" + hex_of(image.config_digest), image.config);
    layout.blobs.add("blobs/sha256/" + hex_of(image.manifest_digest), image.manifest);

    ojson base = descriptor(image.manifest_media_type, image.manifest, image.manifest_digest);
    base["platform"] = platform_of(spec);
    if (options.nested_index) {
      nested.push_back(base);
      all_tags.insert(all_tags.end(), spec.repo_tags.begin(), spec.repo_tags.end());
    } else if (spec.repo_tags.empty()) {
      manifests.push_back(base);
    } else {
      for (const auto& tag : spec.repo_tags) {
        ojson d = base;
        ojson annotations = ojson::object();
        if (docker25) annotations["io.containerd.image.name"] = tag;
        annotations[kRefName] = split_repo_tag(tag).second;
        d["annotations"] = std::move(annotations);
        manifests.push_back(std::move(d));
      }
    }
    layout.built.push_back(std::move(image));
  }
  if (options.nested_index) {
    ojson inner = {{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", nested}};
    std::string inner_bytes = inner.dump();
    std::string inner_digest = sha256_digest(inner_bytes);
    layout.blobs.add("blobs/sha256/" + hex_of(inner_digest), inner_bytes);
    ojson base = descriptor(kOciIndex, inner_bytes, inner_digest);
    if (all_tags.empty()) manifests.push_back(base);
    for (const auto& tag : all_tags) {
      ojson d = base;
      ojson annotations = ojson::object();
      if (docker25) annotations["io.containerd.image.name"] = tag;
      annotations[kRefName] = split_repo_tag(tag).second;
      d["annotations"] = std::move(annotations);
      manifests.push_back(std::move(d));
    }
  }
  ojson index = {{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", manifests}};
  layout.index_json = index.dump();
  return layout;
}

constexpr const char* kOciLayoutFile = R"({"imageLayoutVersion":"1.0.0"})";

// {"repo": {"tag": "<hex>"}} for every tag, pointing at the top layer id.
std::string repositories_json(const std::vector<ImageSpec>& images, const std::vector<std::string>& top_ids) {
  ojson repositories = ojson::object();
  for (std::size_t i = 0; i < images.size(); ++i) {
    if (top_ids[i].empty()) continue;
    for (const auto& tag : images[i].repo_tags) {
      auto [repo, t] = split_repo_tag(tag);
      repositories[repo][t] = top_ids[i];
    }
  }
  return repositories.empty() ? std::string() : repositories.dump();
}

}  // namespace

std::string tar_of(const std::vector<ContainerFile>& files) {
  LayerBuilder builder;
  for (const auto& f : files) {
    if (!f.path.empty() && f.path.back() == '/') {
      builder.dir(f.path);
    } else {
      builder.file(f.path, f.content);
    }
  }
  return builder.tar();
}

std::string oci_archive(const std::vector<ImageSpec>& images, const ContainerOptions& options) {
  OciLayout layout = make_oci_layout(images, options, false);
  std::vector<ContainerFile> files = {{"blobs/", {}}, {"blobs/sha256/", {}}};
  files.insert(files.end(), layout.blobs.files().begin(), layout.blobs.files().end());
  files.push_back({"index.json", layout.index_json});
  files.push_back({"oci-layout", kOciLayoutFile});
  return tar_of(files);
}

Status write_oci_layout(const std::vector<ImageSpec>& images, const std::string& dir,
                        const ContainerOptions& options) {
  OciLayout layout = make_oci_layout(images, options, false);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir) / "blobs" / "sha256", ec);
  if (ec) return make_error(Errc::io, "cannot create " + dir + "/blobs/sha256: " + ec.message());
  for (const auto& f : layout.blobs.files()) {
    if (auto s = write_file(dir + "/" + f.path, f.content); !s) return s;
  }
  if (auto s = write_file(dir + "/index.json", layout.index_json); !s) return s;
  return write_file(dir + "/oci-layout", kOciLayoutFile);
}

std::string docker_archive_legacy(const std::vector<ImageSpec>& images, const ContainerOptions& options) {
  FileList files;
  ojson manifest = ojson::array();
  std::vector<std::string> top_ids;
  for (const auto& original : images) {
    ImageSpec spec = original;  // docker save < 25 stores every layer uncompressed
    for (auto& layer : spec.layers) {
      layer.compression = Compression::none;
      layer.media_type.clear();
    }
    BuiltImage image = build_image(spec, options);
    ojson layer_paths = ojson::array();
    std::string parent;
    for (std::size_t i = 0; i < image.layer_blobs.size(); ++i) {
      std::string id = sha256_hex(image.layer_tars[i]);  // the true diffID of the pristine tar
      ojson v1 = ojson::object();
      v1["id"] = id;
      if (!parent.empty()) v1["parent"] = parent;
      v1["created"] = kEpoch;
      files.add(id + "/", {});
      files.add(id + "/VERSION", "1.0");
      files.add(id + "/json", v1.dump());
      if (!(options.drop_first_layer_blob && i == 0)) files.add(id + "/layer.tar", image.layer_blobs[i]);
      layer_paths.push_back(id + "/layer.tar");
      parent = id;
    }
    files.add(hex_of(image.config_digest) + ".json", image.config);
    manifest.push_back({{"Config", hex_of(image.config_digest) + ".json"},
                        {"RepoTags", repo_tags_json(spec)},
                        {"Layers", std::move(layer_paths)}});
    top_ids.push_back(parent);
  }
  files.add("manifest.json", manifest.dump());
  if (std::string repositories = repositories_json(images, top_ids); !repositories.empty()) {
    files.add("repositories", repositories);
  }
  return tar_of(files.files());
}

std::string docker_archive_v25(const std::vector<ImageSpec>& images, const ContainerOptions& options) {
  OciLayout layout = make_oci_layout(images, options, true);
  ojson manifest = ojson::array();
  std::vector<std::string> top_ids;
  for (std::size_t n = 0; n < images.size(); ++n) {
    const BuiltImage& image = layout.built[n];
    ojson layer_paths = ojson::array();
    for (const auto& digest : image.layer_digests) layer_paths.push_back("blobs/sha256/" + hex_of(digest));
    manifest.push_back({{"Config", "blobs/sha256/" + hex_of(image.config_digest)},
                        {"RepoTags", repo_tags_json(images[n])},
                        {"Layers", std::move(layer_paths)}});
    top_ids.push_back(image.layer_digests.empty() ? std::string() : hex_of(image.layer_digests.back()));
  }
  std::vector<ContainerFile> files = {{"blobs/", {}}, {"blobs/sha256/", {}}};
  files.insert(files.end(), layout.blobs.files().begin(), layout.blobs.files().end());
  files.push_back({"index.json", layout.index_json});
  files.push_back({"manifest.json", manifest.dump()});
  files.push_back({"oci-layout", kOciLayoutFile});
  if (std::string repositories = repositories_json(images, top_ids); !repositories.empty()) {
    files.push_back({"repositories", repositories});
  }
  return tar_of(files);
}

Status write_file(const std::string& path, std::string_view bytes) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) return make_error(Errc::io, "cannot open " + path + " for writing");
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size()) {
    return make_error(Errc::io, "cannot write " + path);
  }
  if (std::fclose(f.release()) != 0) return make_error(Errc::io, "cannot close " + path);
  return Ok{};
}

// ---------------------------------------------------------------------------------------------------------
// Fixture spec (JSON)

namespace {

using json = nlohmann::json;

Error spec_error(const std::string& where, const std::string& what) {
  return make_error(Errc::invalid_argument, "fixture spec: " + where + ": " + what);
}

Status check_keys(const json& object, const std::string& where, std::initializer_list<std::string_view> allowed) {
  if (!object.is_object()) return spec_error(where, "must be an object");
  for (const auto& item : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      return spec_error(where, "unknown key \"" + item.key() + "\"");
    }
  }
  return Ok{};
}

Result<std::string> base64_decode(std::string_view text, const std::string& where) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) return spec_error(where, "invalid base64");
    buffer = (buffer << 6U) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> static_cast<unsigned>(bits)) & 0xFFU));
    }
  }
  if (bits >= 6) return spec_error(where, "invalid base64 length");
  return out;
}

Result<std::string> get_string(const json& object, const char* key, const std::string& where,
                               std::string fallback = {}) {
  auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (!it->is_string()) return spec_error(where + "." + key, "must be a string");
  return it->get<std::string>();
}

Result<bool> get_bool(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) return false;
  if (!it->is_boolean()) return spec_error(where + "." + key, "must be a boolean");
  return it->get<bool>();
}

Result<std::int64_t> get_int(const json& object, const char* key, const std::string& where, std::int64_t fallback,
                             std::int64_t min, std::int64_t max) {
  auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (!it->is_number_integer()) return spec_error(where + "." + key, "must be an integer");
  auto v = it->get<std::int64_t>();
  if (v < min || v > max) return spec_error(where + "." + key, "out of range");
  return v;
}

Result<std::vector<std::string>> get_strings(const json& object, const char* key, const std::string& where) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end()) return out;
  if (!it->is_array()) return spec_error(where + "." + key, "must be an array of strings");
  for (const auto& v : *it) {
    if (!v.is_string()) return spec_error(where + "." + key, "must be an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<std::map<std::string, std::string>> get_string_map(const json& object, const char* key,
                                                          const std::string& where) {
  std::map<std::string, std::string> out;
  auto it = object.find(key);
  if (it == object.end()) return out;
  if (!it->is_object()) return spec_error(where + "." + key, "must be an object of strings");
  for (const auto& item : it->items()) {
    if (!item.value().is_string()) return spec_error(where + "." + key + "." + item.key(), "must be a string");
    out[item.key()] = item.value().get<std::string>();
  }
  return out;
}

// "content" (text) or "content_base64" (bytes), optionally repeated "repeat" times.
Result<std::string> get_content(const json& object, const std::string& where, const char* text_key,
                                const char* base64_key) {
  bool has_text = object.contains(text_key), has_b64 = object.contains(base64_key);
  if (has_text && has_b64) return spec_error(where, std::string("give ") + text_key + " or " + base64_key);
  std::string content;
  if (has_b64) {
    auto encoded = get_string(object, base64_key, where);
    if (!encoded) return encoded.error();
    auto decoded = base64_decode(*encoded, where + "." + base64_key);
    if (!decoded) return decoded.error();
    content = std::move(*decoded);
  } else {
    auto text = get_string(object, text_key, where);
    if (!text) return text.error();
    content = std::move(*text);
  }
  return content;
}

Status parse_entry(const json& e, const std::string& where, LayerBuilder& layer) {
  if (!e.is_object()) return spec_error(where, "must be an object");
  auto type = get_string(e, "type", where);
  if (!type) return type.error();
  auto need = [&](const char* key) -> Result<std::string> {
    if (!e.contains(key)) return spec_error(where, std::string("missing \"") + key + "\"");
    return get_string(e, key, where);
  };
  if (*type == "file") {
    if (auto s = check_keys(e, where, {"type", "path", "content", "content_base64", "mode", "repeat"}); !s) {
      return s;
    }
    auto path = need("path");
    if (!path) return path.error();
    auto content = get_content(e, where, "content", "content_base64");
    if (!content) return content.error();
    auto repeat = get_int(e, "repeat", where, 1, 0, 1 << 30);
    if (!repeat) return repeat.error();
    if (static_cast<double>(content->size()) * static_cast<double>(*repeat) > 1024.0 * 1024 * 1024) {
      return spec_error(where, "content larger than 1 GiB");
    }
    std::string data;
    data.reserve(content->size() * static_cast<std::size_t>(*repeat));
    for (std::int64_t i = 0; i < *repeat; ++i) data += *content;
    auto mode = get_int(e, "mode", where, 0644, 0, 07777);
    if (!mode) return mode.error();
    layer.file(*path, std::move(data), static_cast<int>(*mode));
  } else if (*type == "dir") {
    if (auto s = check_keys(e, where, {"type", "path", "mode"}); !s) return s;
    auto path = need("path");
    if (!path) return path.error();
    auto mode = get_int(e, "mode", where, 0755, 0, 07777);
    if (!mode) return mode.error();
    layer.dir(*path, static_cast<int>(*mode));
  } else if (*type == "symlink" || *type == "hardlink") {
    if (auto s = check_keys(e, where, {"type", "path", "target"}); !s) return s;
    auto path = need("path");
    if (!path) return path.error();
    auto target = need("target");
    if (!target) return target.error();
    if (*type == "symlink") {
      layer.symlink(*path, *target);
    } else {
      layer.hardlink(*path, *target);
    }
  } else if (*type == "whiteout" || *type == "opaque") {
    if (auto s = check_keys(e, where, {"type", "path"}); !s) return s;
    auto path = need("path");
    if (!path) return path.error();
    if (*type == "whiteout") {
      layer.whiteout(*path);
    } else {
      layer.opaque(*path);
    }
  } else if (*type == "raw") {
    if (auto s = check_keys(e, where, {"type", "name", "name_base64", "typeflag", "content", "content_base64",
                                       "linkname", "mode", "pax_path", "declared_size"});
        !s) {
      return s;
    }
    RawEntry raw;
    auto name = get_content(e, where, "name", "name_base64");
    if (!name) return name.error();
    raw.name = std::move(*name);
    auto typeflag = get_string(e, "typeflag", where, "0");
    if (!typeflag) return typeflag.error();
    if (typeflag->size() != 1) return spec_error(where + ".typeflag", "must be one character");
    raw.typeflag = (*typeflag)[0];
    auto content = get_content(e, where, "content", "content_base64");
    if (!content) return content.error();
    raw.content = std::move(*content);
    auto linkname = get_string(e, "linkname", where);
    if (!linkname) return linkname.error();
    raw.linkname = std::move(*linkname);
    auto mode = get_int(e, "mode", where, 0644, 0, 07777);
    if (!mode) return mode.error();
    raw.mode = static_cast<int>(*mode);
    auto pax = get_bool(e, "pax_path", where);
    if (!pax) return pax.error();
    raw.pax_path = *pax;
    if (e.contains("declared_size")) {
      auto size = get_int(e, "declared_size", where, 0, 0, std::int64_t{077777777777});
      if (!size) return size.error();
      raw.declared_size = static_cast<std::uint64_t>(*size);
    }
    layer.raw_entry(std::move(raw));
  } else {
    return spec_error(where + ".type", "unknown entry type \"" + *type + "\"");
  }
  return Ok{};
}

Result<LayerSpec> parse_layer(const json& l, const std::string& where) {
  if (auto s = check_keys(l, where, {"compression", "created_by", "media_type", "entries", "tar_base64"}); !s) {
    return s.error();
  }
  LayerSpec layer;
  auto compression = get_string(l, "compression", where, "gzip");
  if (!compression) return compression.error();
  if (*compression == "gzip") {
    layer.compression = Compression::gzip;
  } else if (*compression == "zstd") {
    layer.compression = Compression::zstd;
  } else if (*compression == "none") {
    layer.compression = Compression::none;
  } else {
    return spec_error(where + ".compression", "must be gzip, zstd or none");
  }
  auto created_by = get_string(l, "created_by", where);
  if (!created_by) return created_by.error();
  layer.created_by = std::move(*created_by);
  auto media_type = get_string(l, "media_type", where);
  if (!media_type) return media_type.error();
  layer.media_type = std::move(*media_type);
  if (l.contains("tar_base64")) {
    auto encoded = get_string(l, "tar_base64", where);
    if (!encoded) return encoded.error();
    auto decoded = base64_decode(*encoded, where + ".tar_base64");
    if (!decoded) return decoded.error();
    layer.tar_override = std::move(*decoded);
  }
  if (auto it = l.find("entries"); it != l.end()) {
    if (!it->is_array()) return spec_error(where + ".entries", "must be an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      if (auto s = parse_entry((*it)[i], where + ".entries[" + std::to_string(i) + "]", layer.layer); !s) {
        return s.error();
      }
    }
  }
  return layer;
}

Result<ImageSpec> parse_image(const json& j, const std::string& where) {
  if (auto s = check_keys(j, where, {"repo_tags", "env", "labels", "cmd", "entrypoint", "annotations", "history",
                                     "layers", "os", "architecture", "variant", "docker_media_types"});
      !s) {
    return s.error();
  }
  ImageSpec image;
  auto tags = get_strings(j, "repo_tags", where);
  if (!tags) return tags.error();
  image.repo_tags = std::move(*tags);
  auto env = get_strings(j, "env", where);
  if (!env) return env.error();
  image.env = std::move(*env);
  auto cmd = get_strings(j, "cmd", where);
  if (!cmd) return cmd.error();
  image.cmd = std::move(*cmd);
  auto entrypoint = get_strings(j, "entrypoint", where);
  if (!entrypoint) return entrypoint.error();
  image.entrypoint = std::move(*entrypoint);
  auto labels = get_string_map(j, "labels", where);
  if (!labels) return labels.error();
  image.labels = std::move(*labels);
  auto annotations = get_string_map(j, "annotations", where);
  if (!annotations) return annotations.error();
  image.annotations = std::move(*annotations);
  for (auto [key, field] : {std::pair{"os", &image.os}, std::pair{"architecture", &image.architecture},
                            std::pair{"variant", &image.variant}}) {
    auto value = get_string(j, key, where, *field);
    if (!value) return value.error();
    *field = std::move(*value);
  }
  auto docker = get_bool(j, "docker_media_types", where);
  if (!docker) return docker.error();
  image.docker_media_types = *docker;
  if (auto it = j.find("history"); it != j.end()) {
    if (!it->is_array()) return spec_error(where + ".history", "must be an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      std::string hw = where + ".history[" + std::to_string(i) + "]";
      const json& h = (*it)[i];
      if (auto s = check_keys(h, hw, {"created_by", "empty_layer", "comment"}); !s) return s.error();
      HistorySpec history;
      auto created_by = get_string(h, "created_by", hw);
      if (!created_by) return created_by.error();
      history.created_by = std::move(*created_by);
      auto comment = get_string(h, "comment", hw);
      if (!comment) return comment.error();
      history.comment = std::move(*comment);
      auto empty = get_bool(h, "empty_layer", hw);
      if (!empty) return empty.error();
      history.empty_layer = *empty;
      image.history.push_back(std::move(history));
    }
  }
  if (auto it = j.find("layers"); it != j.end()) {
    if (!it->is_array()) return spec_error(where + ".layers", "must be an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      auto layer = parse_layer((*it)[i], where + ".layers[" + std::to_string(i) + "]");
      if (!layer) return layer.error();
      image.layers.push_back(std::move(*layer));
    }
  }
  return image;
}

}  // namespace

Result<FixtureSpec> parse_fixture_spec(std::string_view json_text) {
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return spec_error("(root)", "not valid JSON");
  if (auto s = check_keys(root, "(root)", {"images", "options"}); !s) return s.error();
  FixtureSpec spec;
  auto images = root.find("images");
  if (images == root.end() || !images->is_array() || images->empty()) {
    return spec_error("images", "must be a non-empty array");
  }
  for (std::size_t i = 0; i < images->size(); ++i) {
    auto image = parse_image((*images)[i], "images[" + std::to_string(i) + "]");
    if (!image) return image.error();
    spec.images.push_back(std::move(*image));
  }
  if (auto it = root.find("options"); it != root.end()) {
    if (auto s = check_keys(*it, "options", {"drop_first_layer_blob", "corrupt_last_layer_blob", "wrong_diff_id",
                                             "truncate_last_layer_blob", "nested_index"});
        !s) {
      return s.error();
    }
    for (auto [key, field] : {std::pair{"drop_first_layer_blob", &spec.options.drop_first_layer_blob},
                              std::pair{"corrupt_last_layer_blob", &spec.options.corrupt_last_layer_blob},
                              std::pair{"wrong_diff_id", &spec.options.wrong_diff_id},
                              std::pair{"truncate_last_layer_blob", &spec.options.truncate_last_layer_blob},
                              std::pair{"nested_index", &spec.options.nested_index}}) {
      auto value = get_bool(*it, key, "options");
      if (!value) return value.error();
      *field = *value;
    }
  }
  return spec;
}

Status write_container(const FixtureSpec& spec, std::string_view format, const std::string& out) {
  if (format == "oci-dir") return write_oci_layout(spec.images, out, spec.options);
  std::string bytes;
  if (format == "oci-archive") {
    bytes = oci_archive(spec.images, spec.options);
  } else if (format == "docker-archive-legacy") {
    bytes = docker_archive_legacy(spec.images, spec.options);
  } else if (format == "docker-archive-v25") {
    bytes = docker_archive_v25(spec.images, spec.options);
  } else {
    return make_error(Errc::invalid_argument,
                      "unknown format \"" + std::string(format) +
                          "\" (oci-archive, oci-dir, docker-archive-legacy, docker-archive-v25)");
  }
  if (bytes.empty()) return make_error(Errc::internal, "building the container failed");
  return write_file(out, bytes);
}

// ---------------------------------------------------------------------------------------------------------
// Reading back (tests)

const ArchiveEntry* ArchiveListing::find(std::string_view path) const {
  for (const auto& e : entries) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

Result<ArchiveListing> read_archive(std::string_view bytes) {
  ReadHandle a(archive_read_new());
  if (!a) return make_error(Errc::internal, "archive_read_new failed");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
    return archive_error(a.get(), "open");
  }
  ArchiveListing listing;
  archive_entry* e = nullptr;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      auto err = archive_error(a.get(), "read header");
      err.code = Errc::malformed;
      return err;
    }
    if (listing.entries.empty()) {
      const char* name = archive_filter_name(a.get(), 0);
      listing.filter = name ? name : "";
    }
    ArchiveEntry entry;
    const char* path = archive_entry_pathname(e);
    entry.path = path ? path : "";
    if (const char* hard = archive_entry_hardlink(e)) {
      entry.type = '1';
      entry.link = hard;
    } else {
      switch (archive_entry_filetype(e)) {
        case AE_IFREG: entry.type = '0'; break;
        case AE_IFDIR: entry.type = '5'; break;
        case AE_IFLNK:
          entry.type = '2';
          if (const char* target = archive_entry_symlink(e)) entry.link = target;
          break;
        default: entry.type = '?'; break;
      }
    }
    entry.mode = static_cast<int>(archive_entry_perm(e));
    entry.mtime = archive_entry_mtime(e);
    entry.uid = archive_entry_uid(e);
    entry.gid = archive_entry_gid(e);
    char buffer[16384];
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buffer, sizeof buffer);
      if (n == 0) break;
      if (n < 0) {
        auto err = archive_error(a.get(), "read data of " + entry.path);
        err.code = Errc::malformed;
        return err;
      }
      entry.content.append(buffer, static_cast<std::size_t>(n));
    }
    listing.entries.push_back(std::move(entry));
  }
  if (listing.filter.empty()) {
    const char* name = archive_filter_name(a.get(), 0);
    listing.filter = name ? name : "";
  }
  return listing;
}

}  // namespace layerleak::testing
