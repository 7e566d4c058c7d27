#include "layerleak/oci.h"

namespace layerleak::oci {

namespace {
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

std::string_view basename(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}
std::string parent(std::string_view path) {
  auto slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(path.substr(0, slash));
}
std::string join(const std::string& dir, std::string_view name) {
  return dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
}
}  // namespace

std::string_view visibility_name(Visibility v) noexcept {
  switch (v) {
    case Visibility::runtime: return "runtime";
    case Visibility::deleted: return "deleted";
    case Visibility::overwritten: return "overwritten";
  }
  return "unknown";
}

bool is_whiteout(std::string_view path) { return basename(path).substr(0, kWhiteoutPrefix.size()) == kWhiteoutPrefix; }

void LayerChanges::record(const std::string& path, bool is_directory) {
  std::string_view name = basename(path);
  if (name == kOpaqueMarker) {
    opaque_dirs.insert(parent(path));
    return;
  }
  if (name.substr(0, kWhiteoutPrefix.size()) == kWhiteoutPrefix) {
    std::string_view target = name.substr(kWhiteoutPrefix.size());
    // ".wh..wh.*" names other than the opaque marker are AUFS bookkeeping; a bare ".wh." deletes nothing.
    if (!target.empty() && target.substr(0, kWhiteoutPrefix.size()) != kWhiteoutPrefix) {
      whiteouts.insert(join(parent(path), target));
    }
    return;
  }
  entries.insert(path);
  if (is_directory) directories.insert(path);
}

VisibilityResult FilesystemView::visibility(std::size_t layer, const std::string& path) const {
  for (std::size_t later = layer + 1; later < layers_.size(); ++later) {
    const LayerChanges& changes = layers_[later];
    // A later layer that writes the same path again (even right after whiting it out) replaces it.
    if (changes.entries.count(path)) return {Visibility::overwritten, later};
    // Deleted: the path or one of its ancestors is whited out, or an ancestor is made opaque, or an
    // ancestor is replaced by something that is not a directory.
    if (changes.whiteouts.count(path)) return {Visibility::deleted, later};
    for (std::string dir = parent(path);; dir = parent(dir)) {
      if (changes.opaque_dirs.count(dir) || changes.whiteouts.count(dir)) return {Visibility::deleted, later};
      if (dir != "/" && changes.entries.count(dir) && !changes.directories.count(dir)) {
        return {Visibility::deleted, later};
      }
      if (dir == "/") break;
    }
  }
  return {Visibility::runtime, std::nullopt};
}

}  // namespace layerleak::oci
