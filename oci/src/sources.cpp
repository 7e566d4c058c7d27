// The image sources: OCI layouts (directory or tar), docker-archive tars, plain directories, and the
// reference grammar that picks one.
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>

#include "file_tree.h"
#include "layerleak/archive.h"
#include "stream_tree.h"
#include "image_json.h"
#include "registry/registry.h"
#include "source_internal.h"
#include "layerleak/oci.h"

namespace layerleak::oci {

std::string Platform::str() const {
  std::string s = os + "/" + architecture;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

Result<Platform> Platform::parse(std::string_view text) {
  Platform p;
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= text.size()) {
    std::size_t slash = text.find('/', i);
    if (slash == std::string_view::npos) slash = text.size();
    parts.emplace_back(text.substr(i, slash - i));
    i = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty()) {
    return make_error(Errc::invalid_argument, "platform must be OS/ARCH[/VARIANT], got \"" + std::string(text) + "\"");
  }
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return p;
}

bool Platform::matches(const Platform& wanted) const {
  return os == wanted.os && architecture == wanted.architecture &&
         (wanted.variant.empty() || variant == wanted.variant);
}

Result<std::unique_ptr<archive::EntryReader>> ImageSource::open_entries(const Image&, const Layer&) {
  return std::unique_ptr<archive::EntryReader>();
}

namespace {

// Opens a layer member of `tree`, or says why not: "missing" only when the container was read and does not
// hold it. A stream that failed on the way (a damaged member header, a size field overflowing) reports
// that failure, not a missing layer.
Result<std::unique_ptr<ByteReader>> open_layer_member(const FileTree& tree, const std::string& path,
                                                      const std::string& what) {
  if (tree.exists(path)) return tree.open(path);
  auto opened = tree.open(path);
  if (opened || opened.error().code != Errc::not_found) return opened;
  return make_error(Errc::not_found, what + " is missing from " + tree.describe());
}

class LayoutSource : public ImageSource {
 public:
  LayoutSource(std::unique_ptr<FileTree> tree, std::string transport, std::string location, std::string ref)
      : tree_(std::move(tree)), transport_(std::move(transport)), location_(std::move(location)), ref_(std::move(ref)) {}

  std::string_view transport() const override { return transport_; }

  Result<std::vector<Image>> images(const SelectOptions& options) override {
    const std::string what = transport_ + ":" + location_;
    if (!tree_->exists("oci-layout")) return make_error(Errc::malformed, what + ": no oci-layout file (not an OCI layout)");
    auto index_text = tree_->read_small("index.json");
    if (!index_text) return std::move(index_text).error().with_context(what);
    auto index = parse_json(*index_text, what + " index.json");
    if (!index) return std::move(index).error();
    std::vector<std::pair<Descriptor, std::string>> found;
    if (auto st = collect_from_index(fetcher(), *index, what, options, "", 0, found); !st) return std::move(st).error();
    if (!ref_.empty()) {
      std::erase_if(found, [&](const auto& item) { return item.second != ref_; });
      if (found.empty()) return make_error(Errc::not_found, what + ": no image with reference name \"" + ref_ + "\"");
    }
    auto selected = select_platform(std::move(found), options, what);
    if (!selected) return std::move(selected).error();
    if (selected->empty()) return make_error(Errc::not_found, what + ": the index lists no image manifest");
    std::vector<Image> images;
    for (auto& [descriptor, ref] : *selected) {
      auto image = read_image(fetcher(), descriptor, what);
      if (!image) return std::move(image).error();
      image->transport = transport_;
      image->reference = what + (ref.empty() ? "@" + descriptor.digest.str() : ":" + ref);
      if (!ref.empty()) image->tags.push_back(ref);
      image->index_annotations = descriptor.annotations;
      images.push_back(std::move(image).value());
    }
    if (auto* stream = dynamic_cast<StreamTree*>(tree_.get())) {
      std::vector<std::string> members;
      for (const Image& image : images) {
        for (const Layer& layer : image.layers) members.push_back(blob_path(layer.blob.digest));
      }
      stream->expect(members);
    }
    return images;
  }

  std::optional<std::uint64_t> spooled_bytes() const override {
    if (const auto* stream = dynamic_cast<const StreamTree*>(tree_.get())) return stream->spooled_bytes();
    return std::nullopt;
  }

  Result<std::unique_ptr<ByteReader>> open_blob(const Image&, const Layer& layer) override {
    return open_layer_member(*tree_, blob_path(layer.blob.digest), "layer blob " + layer.blob.digest.str());
  }

 private:
  DocumentFetcher fetcher() const {
    return [this](const Descriptor& d, const std::string& what) { return read_verified_blob(*tree_, d, what); };
  }

  std::unique_ptr<FileTree> tree_;
  std::string transport_;
  std::string location_;
  std::string ref_;
};

// Docker's short names: "app:1" is "docker.io/library/app:1", "me/app:1" is "docker.io/me/app:1".
std::string full_docker_reference(std::string_view ref) {
  std::string r(ref);
  const auto slash = r.find('/');
  const std::string first = slash == std::string::npos ? "" : r.substr(0, slash);
  const bool has_registry = first.find('.') != std::string::npos || first.find(':') != std::string::npos || first == "localhost";
  if (!has_registry) r = (slash == std::string::npos ? "docker.io/library/" : "docker.io/") + r;
  if (r.find(':', r.rfind('/') + 1) == std::string::npos && r.find('@') == std::string::npos) r += ":latest";
  return r;
}

bool same_docker_reference(std::string_view a, std::string_view b) {
  return full_docker_reference(a) == full_docker_reference(b);
}

class DockerArchiveSource : public ImageSource {
 public:
  DockerArchiveSource(std::unique_ptr<FileTree> tree, std::string location, std::string ref)
      : tree_(std::move(tree)), location_(std::move(location)), ref_(std::move(ref)) {}

  std::string_view transport() const override { return "docker-archive"; }

  Result<std::vector<Image>> images(const SelectOptions& options) override {
    const std::string what = "docker-archive:" + location_;
    auto text = tree_->read_small("manifest.json");
    if (!text) return std::move(text).error().with_context(what);
    auto manifest = parse_json(*text, what + " manifest.json");
    if (!manifest) return std::move(manifest).error();
    if (!manifest->is_array()) return make_error(Errc::malformed, what + ": manifest.json is not a JSON array");
    // Docker >= 25 also writes an OCI index: use it for manifest digests and layer media types. Why
    // exists_now for index.json: on a stream, looking for a file that is not there reads (and keeps) the
    // whole rest of it; docker writes index.json before manifest.json, and only small files after it.
    std::vector<std::pair<Descriptor, std::string>> oci_manifests;
    if (tree_->exists_now("index.json") && tree_->exists("oci-layout")) {
      auto index_text = tree_->read_small("index.json");
      if (!index_text) return std::move(index_text).error().with_context(what);
      auto index = parse_json(*index_text, what + " index.json");
      if (!index) return std::move(index).error();
      SelectOptions every = options;
      every.all_platforms = true;
      auto fetch = [this](const Descriptor& d, const std::string& w) { return read_verified_blob(*tree_, d, w); };
      if (auto st = collect_from_index(fetch, *index, what, every, "", 0, oci_manifests); !st) return std::move(st).error();
    }
    std::vector<Image> images;
    for (std::size_t i = 0; i < manifest->size(); ++i) {
      const nlohmann::json& entry = (*manifest)[i];
      const std::string item = what + " manifest.json[" + std::to_string(i) + "]";
      if (!entry.is_object()) return make_error(Errc::malformed, item + " is not an object");
      std::vector<std::string> tags;
      if (auto it = entry.find("RepoTags"); it != entry.end() && it->is_array()) {
        for (const auto& t : *it) {
          if (t.is_string()) tags.push_back(t.get<std::string>());
        }
      }
      // Why no platform filter here: a docker-archive lists images, not platform variants of one
      // image, and every image in it is scanned unless REF picks one (CONTRACT.md).
      if (!ref_.empty() && ref_ != "@" + std::to_string(i) &&
          std::none_of(tags.begin(), tags.end(), [&](const std::string& t) { return same_docker_reference(t, ref_); })) {
        continue;
      }
      auto image = read_entry(entry, item, oci_manifests);
      if (!image) return std::move(image).error();
      image->tags = tags;
      image->reference = what + ":" + (tags.empty() ? "@" + std::to_string(i) : tags.front());
      // Why the entry's index when its tag names an earlier entry too: each image's layers are found by
      // its reference (two entries tagged alike, by hand or by an attacker, shared one list of layer
      // paths, and the shorter list was indexed past its end); "@<index>" selects exactly this entry.
      if (layer_paths_.contains(image->reference)) image->reference = what + ":@" + std::to_string(i);
      layer_paths_[image->reference] = std::move(pending_paths_);
      images.push_back(std::move(image).value());
    }
    if (images.empty()) {
      return make_error(Errc::not_found, what + (ref_.empty() ? ": manifest.json lists no image" : ": no image tagged \"" + ref_ + "\""));
    }
    if (auto* stream = dynamic_cast<StreamTree*>(tree_.get())) {
      std::vector<std::string> members;
      for (const Image& image : images) {
        for (const std::string& path : layer_paths_[image.reference]) members.push_back(path);
      }
      stream->expect(members);
    }
    return images;
  }

  std::optional<std::uint64_t> spooled_bytes() const override {
    if (const auto* stream = dynamic_cast<const StreamTree*>(tree_.get())) return stream->spooled_bytes();
    return std::nullopt;
  }

  Result<std::unique_ptr<ByteReader>> open_blob(const Image& image, const Layer& layer) override {
    const auto paths = layer_paths_.find(image.reference);
    if (paths == layer_paths_.end() || layer.index >= paths->second.size()) {
      return make_error(Errc::internal, image.reference + " has no layer " + std::to_string(layer.index) + " in this archive");
    }
    const std::string& path = paths->second[layer.index];
    return open_layer_member(*tree_, path, "layer file " + path);
  }

 private:
  Result<Image> read_entry(const nlohmann::json& entry, const std::string& item,
                           const std::vector<std::pair<Descriptor, std::string>>& oci_manifests) {
    auto config_it = entry.find("Config");
    auto layers_it = entry.find("Layers");
    if (config_it == entry.end() || !config_it->is_string() || layers_it == entry.end() || !layers_it->is_array()) {
      return make_error(Errc::malformed, item + " needs a Config path and a Layers list");
    }
    const std::string config_path = tree_path(config_it->get<std::string>());
    if (!tree_->exists(config_path)) return make_error(Errc::not_found, item + ": config " + config_path + " is missing");
    auto config = tree_->read_small(config_path);
    if (!config) return std::move(config).error().with_context(item);
    Image image;
    image.transport = "docker-archive";
    image.config_digest = Sha256::of(*config);
    // The config's file name is its digest in both layouts ("<hex>.json" or "blobs/sha256/<hex>").
    if (auto named = digest_in_name(config_path); named && *named != *image.config_digest) {
      return make_error(Errc::digest_mismatch, item + ": config " + config_path + " hashes to " +
                                                   image.config_digest->str());
    }
    std::vector<std::string> paths;
    for (std::size_t i = 0; i < layers_it->size(); ++i) {
      const auto& p = (*layers_it)[i];
      if (!p.is_string()) return make_error(Errc::malformed, item + ": Layers[" + std::to_string(i) + "] is not a path");
      Layer layer;
      layer.index = i;
      paths.push_back(tree_path(p.get<std::string>()));
      if (auto named = digest_in_name(paths.back()); named && paths.back().rfind("blobs/", 0) == 0) {
        layer.blob.digest = *named;
      }
      image.layers.push_back(std::move(layer));
    }
    // Match the OCI manifest for this config, when the archive has one.
    for (const auto& [descriptor, ref] : oci_manifests) {
      auto bytes = read_verified_blob(*tree_, descriptor, item + " manifest");
      if (!bytes) return std::move(bytes).error();
      auto m = parse_json(*bytes, item + " manifest");
      if (!m) return std::move(m).error();
      Image candidate;
      if (!apply_manifest(candidate, *m, item) || candidate.config_digest != image.config_digest ||
          candidate.layers.size() != image.layers.size()) {
        continue;
      }
      image.manifest_digest = descriptor.digest;
      image.platform = descriptor.platform;
      for (std::size_t i = 0; i < image.layers.size(); ++i) {
        image.layers[i].blob.media_type = candidate.layers[i].blob.media_type;
        image.layers[i].blob.size = candidate.layers[i].blob.size;
        if (image.layers[i].blob.digest.empty()) image.layers[i].blob.digest = candidate.layers[i].blob.digest;
      }
      break;
    }
    if (auto st = apply_config(image, *config); !st) return std::move(st).error().with_context(item);
    pending_paths_ = std::move(paths);
    return image;
  }

  static std::optional<Digest> digest_in_name(const std::string& path) {
    std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    if (name.size() == 69 && name.ends_with(".json")) name.resize(64);
    auto d = Digest::parse("sha256:" + name);
    return d ? std::optional<Digest>(*d) : std::nullopt;
  }

  std::unique_ptr<FileTree> tree_;
  std::string location_;
  std::string ref_;
  std::map<std::string, std::vector<std::string>> layer_paths_;  // by image reference
  std::vector<std::string> pending_paths_;  // layer paths of the entry read_entry just read
};

}  // namespace

// Declared in source_internal.h.
std::unique_ptr<ImageSource> make_docker_archive_source(std::unique_ptr<FileTree> tree, std::string location, std::string ref) {
  return std::make_unique<DockerArchiveSource>(std::move(tree), std::move(location), std::move(ref));
}

namespace {

// A plain root filesystem: one layer, walked in place (archive::open_directory), never turned into a tar.
class RootfsSource : public ImageSource {
 public:
  explicit RootfsSource(std::string dir) : dir_(std::move(dir)) {}
  std::string_view transport() const override { return "dir"; }
  Result<std::vector<Image>> images(const SelectOptions&) override {
    Image image;
    image.transport = "dir";
    image.reference = "dir:" + dir_;
    image.filesystem = true;
    image.layers.push_back(Layer{});
    return std::vector<Image>{std::move(image)};
  }
  Result<std::unique_ptr<ByteReader>> open_blob(const Image&, const Layer&) override {
    return make_error(Errc::invalid_argument, "dir: sources have no layer blobs (read them with open_entries)");
  }
  Result<std::unique_ptr<archive::EntryReader>> open_entries(const Image&, const Layer&) override {
    return archive::open_directory(dir_);
  }

 private:
  std::string dir_;
};

enum class PathKind { missing, directory, file };

PathKind kind_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return PathKind::missing;
  return S_ISDIR(st.st_mode) ? PathKind::directory : PathKind::file;
}

// Splits "PATH[:REF]": the longest prefix ending before a ':' that exists, else the whole text.
std::pair<std::string, std::string> split_path_ref(std::string_view text) {
  if (kind_of(std::string(text)) != PathKind::missing) return {std::string(text), ""};
  for (std::size_t colon = text.find(':'); colon != std::string_view::npos; colon = text.find(':', colon + 1)) {
    std::string path(text.substr(0, colon));
    if (kind_of(path) != PathKind::missing) return {path, std::string(text.substr(colon + 1))};
  }
  return {std::string(text), ""};
}

// Standard input, read with read(2): a pipe, a terminal or a file redirected with "<".
// Standard input, cancellable: a stalled or endless pipe must not outlive SIGINT/SIGTERM (the signal may
// be delivered to another thread than the one blocked here, so the flag is polled, not EINTR relied on).
class DescriptorReader final : public ByteReader {
 public:
  DescriptorReader(int fd, const std::atomic<bool>* cancel) : fd_(fd), cancel_(cancel) {}
  Result<std::size_t> read(std::span<char> out) override {
    while (true) {
      if (cancel_ && cancel_->load()) return make_error(Errc::cancelled, "interrupted while reading standard input");
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, 200);
      if (ready < 0 && errno != EINTR) return make_error(Errc::io, std::string("cannot read standard input: ") + std::strerror(errno));
      if (ready <= 0) continue;
      const ssize_t n = ::read(fd_, out.data(), out.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR && errno != EAGAIN) {
        return make_error(Errc::io, std::string("cannot read standard input: ") + std::strerror(errno));
      }
    }
  }

 private:
  int fd_;
  const std::atomic<bool>* cancel_;
};

// Forwards to a reader owned by someone else (SourceOptions::standard_input).
class BorrowedReader final : public ByteReader {
 public:
  explicit BorrowedReader(ByteReader& inner) : inner_(inner) {}
  Result<std::size_t> read(std::span<char> out) override { return inner_.read(out); }

 private:
  ByteReader& inner_;
};

bool is_compressed(const std::string& path) {
  auto head = FileReader::open(path);
  if (!head) return false;
  unsigned char magic[4] = {};
  std::size_t have = 0;
  while (have < 4) {
    auto n = (*head)->read(std::span<char>(reinterpret_cast<char*>(magic) + have, 4 - have));
    if (!n || *n == 0) break;
    have += *n;
  }
  return (have >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) ||
         (have >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd);
}

// An uncompressed tar file is indexed (random access, layers read in parallel); a compressed one, like
// standard input, can only be read front to back.
Result<std::unique_ptr<FileTree>> open_archive(const std::string& path) {
  if (is_compressed(path)) {
    auto file = FileReader::open(path);
    if (!file) return std::move(file).error();
    auto tree = StreamTree::create(std::move(file).value(), path);
    if (!tree) return std::move(tree).error();
    return std::unique_ptr<FileTree>(std::move(tree).value());
  }
  auto tree = TarTree::index(path);
  if (!tree) return std::move(tree).error();
  return std::unique_ptr<FileTree>(std::move(tree).value());
}

// Which container format a tar holds: manifest.json makes a docker-archive, oci-layout an OCI archive.
Result<std::string> archive_kind(const FileTree& tree, const std::string& path) {
  if (const auto* stream = dynamic_cast<const StreamTree*>(&tree)) {
    auto kind = stream->detect();
    if (!kind) return std::move(kind).error();
    return std::string(*kind == StreamTree::Kind::docker_archive ? "docker-archive" : "oci-archive");
  }
  if (tree.exists("manifest.json")) return std::string("docker-archive");
  if (tree.exists("oci-layout")) return std::string("oci-archive");
  return make_error(Errc::malformed, path + " is not a container image (a tar without manifest.json or oci-layout)");
}

std::unique_ptr<ImageSource> archive_source(std::unique_ptr<FileTree> tree, const std::string& transport,
                                            const std::string& location, const std::string& ref) {
  if (transport == "oci-archive") return std::make_unique<LayoutSource>(std::move(tree), "oci-archive", location, ref);
  return std::make_unique<DockerArchiveSource>(std::move(tree), location, ref);
}

constexpr std::string_view kTransports[] = {"docker-archive", "docker-daemon", "oci-archive", "oci", "dir", "docker"};
constexpr const char* kValidTransports = "docker://, docker-archive:, docker-daemon:, oci-archive:, oci:, dir:";

// A reference that names no file: a misspelt transport ("oci-achive:x", "http://…"), or an image name
// meant for a registry or the daemon ("alpine:3.19"). Nullopt when it looks like neither.
std::optional<Error> explain_missing(std::string_view reference) {
  const std::size_t colon = reference.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view prefix = reference.substr(0, colon);
  const std::string_view rest = reference.substr(colon + 1);
  if (!std::all_of(prefix.begin(), prefix.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '/'; })) {
    return std::nullopt;
  }
  bool near_transport = rest.starts_with("//");
  for (std::string_view t : kTransports) {
    if (edit_distance(prefix, t) <= (prefix.size() <= 3 ? 1u : 2u)) near_transport = true;
  }
  if (near_transport && prefix.find('/') == std::string_view::npos && prefix.find('.') == std::string_view::npos) {
    return Error{Errc::invalid_argument, "unknown transport \"" + std::string(prefix) + ":\"; valid: " + kValidTransports};
  }
  const bool tag_like = !rest.empty() && rest.size() <= 128 && std::all_of(rest.begin(), rest.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
  if (tag_like) {
    const std::string text(reference);
    return Error{Errc::not_found, "no such file or directory: " + text + " (did you mean docker://" + text +
                                      " or docker-daemon:" + text + "?)"};
  }
  return std::nullopt;
}

void warn(const SourceOptions& options, const std::string& message) {
  if (options.warn) {
    options.warn(message);
  } else {
    std::cerr << "layerleak: warning: " << message << '\n';
  }
}

}  // namespace

std::string transport_of(std::string_view reference) {
  for (std::string_view t : kTransports) {
    if (reference.size() > t.size() && reference.substr(0, t.size()) == t && reference[t.size()] == ':') {
      return std::string(t);
    }
  }
  return "";
}

bool reads_standard_input(std::string_view reference) {
  const std::string transport = transport_of(reference);
  if (!transport.empty() && transport != "docker-archive" && transport != "oci-archive") return false;
  const std::string_view rest = transport.empty() ? reference : reference.substr(transport.size() + 1);
  return rest == "-" || rest.starts_with("-:");
}

Result<std::unique_ptr<ImageSource>> open_source(std::string_view reference, const SourceOptions& options) {
  std::string transport = transport_of(reference);
  std::string_view rest = transport.empty() ? reference : reference.substr(transport.size() + 1);
  if (transport == "docker") return open_registry(reference, options.registry, options.cancel);
  if (transport == "docker-daemon") return open_daemon(rest, options);
  if (rest.empty()) return make_error(Errc::invalid_argument, "empty image reference");

  // "-", "docker-archive:-[:REF]", "oci-archive:-[:REF]": a tar on standard input.
  if (reads_standard_input(reference)) {
    const std::string ref = rest.size() > 2 ? std::string(rest.substr(2)) : "";
    std::unique_ptr<ByteReader> input = options.standard_input
                                            ? std::unique_ptr<ByteReader>(std::make_unique<BorrowedReader>(*options.standard_input))
                                            : std::unique_ptr<ByteReader>(std::make_unique<DescriptorReader>(0, options.cancel));
    auto tree = StreamTree::create(std::move(input), "standard input");
    if (!tree) return std::move(tree).error();
    if (transport.empty()) {
      auto kind = (*tree)->detect();
      if (!kind) return std::move(kind).error();
      transport = *kind == StreamTree::Kind::docker_archive ? "docker-archive" : "oci-archive";
    }
    return archive_source(std::move(tree).value(), transport, "-", ref);
  }

  auto [path, ref] = split_path_ref(rest);
  const PathKind kind = kind_of(path);
  if (kind == PathKind::missing) {
    if (transport.empty()) {
      if (auto explained = explain_missing(reference)) return *explained;
    }
    return make_error(Errc::not_found, "no such file or directory: " + path);
  }

  if (transport.empty()) {
    if (kind == PathKind::directory) {
      const DirectoryTree dir(path);
      transport = dir.exists("oci-layout") ? "oci" : "dir";
      if (transport == "dir" && dir.exists("index.json")) {
        warn(options, path + " has index.json but no oci-layout file: read as a plain directory (dir:), not as an OCI layout");
      }
    } else {
      auto tree = open_archive(path);
      if (!tree) return std::move(tree).error();
      auto archive = archive_kind(**tree, path);
      if (!archive) return std::move(archive).error();
      return archive_source(std::move(tree).value(), *archive, path, ref);
    }
  }
  if (transport == "dir") {
    if (kind != PathKind::directory) return make_error(Errc::invalid_argument, "dir: needs a directory: " + path);
    return std::unique_ptr<ImageSource>(std::make_unique<RootfsSource>(path));
  }
  if (transport == "oci") {
    if (kind != PathKind::directory) return make_error(Errc::invalid_argument, "oci: needs a layout directory: " + path);
    return std::unique_ptr<ImageSource>(
        std::make_unique<LayoutSource>(std::make_unique<DirectoryTree>(path), "oci", path, ref));
  }
  if (kind != PathKind::file) return make_error(Errc::invalid_argument, transport + ": needs a tar file: " + path);
  auto tree = open_archive(path);
  if (!tree) return std::move(tree).error();
  return archive_source(std::move(tree).value(), transport, path, ref);
}

}  // namespace layerleak::oci
