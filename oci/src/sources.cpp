// The image sources: OCI layouts (directory or tar), docker-archive tars, plain directories, and the
// reference grammar that picks one.
#include <sys/stat.h>

#include <algorithm>

#include "file_tree.h"
#include "image_json.h"
#include "registry/registry.h"
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

namespace {

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
    return images;
  }

  Result<std::unique_ptr<ByteReader>> open_blob(const Image&, const Layer& layer) override {
    const std::string path = blob_path(layer.blob.digest);
    if (!tree_->exists(path)) {
      return make_error(Errc::not_found, "layer blob " + layer.blob.digest.str() + " is missing from " + tree_->describe());
    }
    return tree_->open(path);
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
    // Docker >= 25 also writes an OCI index: use it for manifest digests and layer media types.
    std::vector<std::pair<Descriptor, std::string>> oci_manifests;
    if (tree_->exists("index.json") && tree_->exists("oci-layout")) {
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
      layer_paths_[image->reference] = std::move(pending_paths_);
      images.push_back(std::move(image).value());
    }
    if (images.empty()) {
      return make_error(Errc::not_found, what + (ref_.empty() ? ": manifest.json lists no image" : ": no image tagged \"" + ref_ + "\""));
    }
    return images;
  }

  Result<std::unique_ptr<ByteReader>> open_blob(const Image& image, const Layer& layer) override {
    const std::string& path = layer_paths_.at(image.reference).at(layer.index);
    if (!tree_->exists(path)) {
      return make_error(Errc::not_found, "layer file " + path + " is missing from " +
                                             tree_->describe());
    }
    return tree_->open(path);
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

class RootfsSource : public ImageSource {
 public:
  explicit RootfsSource(std::string dir) : dir_(std::move(dir)) {}
  std::string_view transport() const override { return "dir"; }
  Result<std::vector<Image>> images(const SelectOptions&) override {
    Image image;
    image.transport = "dir";
    image.reference = "dir:" + dir_;
    image.rootfs_dir = dir_;
    return std::vector<Image>{std::move(image)};
  }
  Result<std::unique_ptr<ByteReader>> open_blob(const Image&, const Layer&) override {
    return make_error(Errc::invalid_argument, "dir: sources have no layer blobs");
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

Result<std::unique_ptr<FileTree>> index_tar(const std::string& path) {
  // Compressed image archives are refused with a clear message rather than scanned through a spool.
  auto head = FileReader::open(path);
  if (!head) return std::move(head).error();
  char magic[4] = {};
  auto n = (*head)->read(std::span<char>(magic, 4));
  if (n && *n >= 2 && static_cast<unsigned char>(magic[0]) == 0x1f && static_cast<unsigned char>(magic[1]) == 0x8b) {
    return make_error(Errc::unsupported, path + " is a gzip-compressed file: decompress it first (gunzip), image archives are plain tar");
  }
  auto tree = TarTree::index(path);
  if (!tree) return std::move(tree).error();
  return std::unique_ptr<FileTree>(std::move(tree).value());
}

}  // namespace

std::string transport_of(std::string_view reference) {
  for (std::string_view t : {"docker-archive", "oci-archive", "oci", "dir", "docker"}) {
    if (reference.size() > t.size() && reference.substr(0, t.size()) == t && reference[t.size()] == ':') {
      return std::string(t);
    }
  }
  return "";
}

Result<std::unique_ptr<ImageSource>> open_source(std::string_view reference, const SourceOptions& options) {
  std::string transport = transport_of(reference);
  std::string_view rest = transport.empty() ? reference : reference.substr(transport.size() + 1);
  if (reference == "-") {
    return make_error(Errc::unsupported, "reading an image from standard input is not supported yet; pass a path");
  }
  if (transport == "docker") return open_registry(reference, options.registry, options.cancel);
  if (rest.empty()) return make_error(Errc::invalid_argument, "empty image reference");
  auto [path, ref] = split_path_ref(rest);
  const PathKind kind = kind_of(path);
  if (kind == PathKind::missing) return make_error(Errc::not_found, "no such file or directory: " + path);

  if (transport.empty()) {
    if (kind == PathKind::directory) {
      transport = DirectoryTree(path).exists("oci-layout") ? "oci" : "dir";
    } else {
      auto tree = index_tar(path);
      if (!tree) return std::move(tree).error();
      if ((*tree)->exists("manifest.json")) {
        return std::unique_ptr<ImageSource>(std::make_unique<DockerArchiveSource>(std::move(tree).value(), path, ref));
      }
      if ((*tree)->exists("oci-layout")) {
        return std::unique_ptr<ImageSource>(std::make_unique<LayoutSource>(std::move(tree).value(), "oci-archive", path, ref));
      }
      return make_error(Errc::malformed, path + " is not a container image (a tar without manifest.json or oci-layout)");
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
  auto tree = index_tar(path);
  if (!tree) return std::move(tree).error();
  if (transport == "oci-archive") {
    return std::unique_ptr<ImageSource>(std::make_unique<LayoutSource>(std::move(tree).value(), "oci-archive", path, ref));
  }
  return std::unique_ptr<ImageSource>(std::make_unique<DockerArchiveSource>(std::move(tree).value(), path, ref));
}

}  // namespace layerleak::oci
