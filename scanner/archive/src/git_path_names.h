// Internal to scanner/archive: names the blobs of one git pack by a path they had in the history.
//
// GitPathNamer takes the commits and trees a first pass over the pack resolved, then walks every commit's
// tree, newest commit first (by committer time), and gives each blob the first path it meets it at:
// "pkg/x_test.go@1a2b3c4d" (the commit's first 8 hex digits). Bounded by GitLimits: tree bytes held plus
// name bytes (max_naming_memory), blobs named (max_named_blobs) and directory depth (max_tree_depth).
// Not responsible for: reading the pack (git_objects.cpp), object ids (the caller hashes).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "layerleak/archive.h"

namespace layerleak::archive::git {

using ObjectId = std::array<unsigned char, 20>;
struct IdHash {
  std::size_t operator()(const ObjectId& id) const noexcept {
    std::size_t h;
    std::memcpy(&h, id.data(), sizeof h);
    return h;
  }
};
using Content = std::shared_ptr<const std::string>;

std::string hex(const ObjectId& id);

class GitPathNamer {
 public:
  explicit GitPathNamer(const GitLimits& limits) : limits_(limits) {}

  // Keeps a resolved tree (shared, not copied) or the tree id and time of a commit. False once the
  // memory limit is passed: naming is then abandoned and limited() says why.
  bool add_tree(const ObjectId& id, const Content& content);
  void add_commit(const ObjectId& id, const std::string& content);

  // Walks the trees from every commit, newest first; the trees are released afterwards.
  void build();

  // "path@commit" for a named blob, nullptr for the others.
  const std::string* name(const ObjectId& blob) const;
  // Why naming stopped short ("" when it did not); set by add_tree, build or abandon.
  const std::string& limited() const { return limited_; }
  void abandon(std::string reason);

 private:
  struct Commit {
    ObjectId id;
    ObjectId tree;
    std::int64_t time = 0;
    std::uint32_t order = 0;  // pack order: ties in time keep it
  };
  void walk_tree(const ObjectId& tree, std::string& prefix, unsigned depth, const std::string& commit);
  bool name_blob(const ObjectId& blob, const std::string& path);

  GitLimits limits_;
  std::vector<Commit> commits_;
  std::unordered_map<ObjectId, Content, IdHash> trees_;
  std::unordered_set<ObjectId, IdHash> visited_;
  std::unordered_map<ObjectId, std::string, IdHash> names_;
  std::uint64_t memory_ = 0;
  bool full_ = false;  // a limit stopped the walk
  std::string limited_;
};

}  // namespace layerleak::archive::git
