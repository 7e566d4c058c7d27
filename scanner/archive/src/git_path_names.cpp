// Blob id -> "path@commit" for one git pack. See git_path_names.h.
#include "git_path_names.h"

#include <algorithm>
#include <string_view>

namespace layerleak::archive::git {

namespace {

constexpr std::string_view kHexDigits = "0123456789abcdef";
// Why 8 digits: short enough to read in a report, and `git show <commit>:<path>` accepts it; the blob id
// that follows in the member name stays exact when a large history makes 8 digits ambiguous.
constexpr std::size_t kShortCommit = 8;
// Hash-map node, key and string header per held tree, commit or name (approximate, for the memory cap).
constexpr std::uint64_t kEntryOverhead = 96;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool parse_hex_id(std::string_view text, ObjectId& id) {
  if (text.size() < 40) return false;
  for (std::size_t i = 0; i < 20; ++i) {
    const int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    id[i] = static_cast<unsigned char>((hi << 4) | lo);
  }
  return true;
}

// The committer time: "committer Name <mail> 1700000000 +0100" (0 when absent or unreadable).
std::int64_t committer_time(std::string_view commit) {
  const std::size_t headers_end = std::min(commit.find("\n\n"), commit.size());
  const std::size_t at = commit.substr(0, headers_end).find("\ncommitter ");
  if (at == std::string_view::npos) return 0;
  std::string_view line = commit.substr(at + 1);
  line = line.substr(0, line.find('\n'));
  const std::size_t zone = line.rfind(' ');
  if (zone == std::string_view::npos) return 0;
  const std::size_t start = line.rfind(' ', zone - 1);
  if (start == std::string_view::npos) return 0;
  std::int64_t time = 0;
  for (char c : line.substr(start + 1, zone - start - 1)) {
    if (c < '0' || c > '9' || time > (INT64_MAX - 9) / 10) return 0;
    time = time * 10 + (c - '0');
  }
  return time;
}

}  // namespace

std::string hex(const ObjectId& id) {
  std::string out;
  for (unsigned char b : id) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 15]);
  }
  return out;
}

bool GitPathNamer::add_tree(const ObjectId& id, const Content& content) {
  if (!limited_.empty()) return false;
  if (trees_.contains(id)) return true;
  memory_ += content->size() + kEntryOverhead;
  if (memory_ > limits_.max_naming_memory) {
    abandon("the history's trees hold more than the naming limit of " + std::to_string(limits_.max_naming_memory) + " bytes");
    return false;
  }
  trees_.emplace(id, content);
  return true;
}

void GitPathNamer::add_commit(const ObjectId& id, const std::string& content) {
  if (!limited_.empty()) return;
  Commit commit;
  if (!std::string_view(content).starts_with("tree ") || !parse_hex_id(std::string_view(content).substr(5), commit.tree)) return;
  commit.id = id;
  commit.time = committer_time(content);
  commit.order = static_cast<std::uint32_t>(commits_.size());
  memory_ += kEntryOverhead;
  commits_.push_back(commit);
}

void GitPathNamer::abandon(std::string reason) {
  if (limited_.empty()) limited_ = std::move(reason);
  trees_.clear();
  commits_.clear();
  visited_.clear();
  names_.clear();
  full_ = true;
}

void GitPathNamer::build() {
  std::stable_sort(commits_.begin(), commits_.end(), [](const Commit& a, const Commit& b) { return a.time > b.time; });
  std::string prefix;
  for (const Commit& commit : commits_) {
    if (full_) break;
    prefix.clear();
    walk_tree(commit.tree, prefix, 0, hex(commit.id).substr(0, kShortCommit));
  }
  trees_.clear();
  visited_.clear();
  commits_.clear();
}

const std::string* GitPathNamer::name(const ObjectId& blob) const {
  const auto it = names_.find(blob);
  return it == names_.end() ? nullptr : &it->second;
}

// Tree entries are "<octal mode> <name>\0<20-byte id>". Each tree is walked once: blobs met through a tree
// already walked were named then, from a commit at least as new.
void GitPathNamer::walk_tree(const ObjectId& tree, std::string& prefix, unsigned depth, const std::string& commit) {
  if (full_ || !visited_.insert(tree).second) return;
  const auto found = trees_.find(tree);
  if (found == trees_.end()) return;  // not in this pack
  const Content content = found->second;
  const std::string_view t = *content;
  const std::size_t base = prefix.size();
  std::size_t pos = 0;
  while (pos < t.size() && !full_) {
    const std::size_t space = t.find(' ', pos);
    const std::size_t nul = space == std::string_view::npos ? space : t.find('\0', space);
    if (nul == std::string_view::npos || nul + 21 > t.size()) break;  // a corrupt tree: what came before stands
    const std::string_view mode = t.substr(pos, space - pos);
    const std::string_view entry = t.substr(space + 1, nul - space - 1);
    ObjectId id;
    std::memcpy(id.data(), t.data() + nul + 1, 20);
    pos = nul + 21;
    // Names git itself refuses would make a path that is not the file's: those keep their ids.
    if (entry.empty() || entry == "." || entry == ".." || entry.find('/') != std::string_view::npos) continue;
    prefix.resize(base);
    prefix.append(entry);
    if (mode == "40000") {
      if (depth < limits_.max_tree_depth) {
        prefix.push_back('/');
        walk_tree(id, prefix, depth + 1, commit);
      }
    } else if (mode != "160000") {  // 160000: a submodule's commit, not in this repository
      name_blob(id, prefix + "@" + commit);
    }
  }
  prefix.resize(base);
}

bool GitPathNamer::name_blob(const ObjectId& blob, const std::string& path) {
  if (names_.contains(blob)) return true;
  if (names_.size() >= limits_.max_named_blobs) {
    limited_ = "more than " + std::to_string(limits_.max_named_blobs) + " blobs to name; the first named keep their paths";
    full_ = true;
    return false;
  }
  memory_ += path.size() + kEntryOverhead;
  if (memory_ > limits_.max_naming_memory) {
    limited_ = "blob paths above the naming limit of " + std::to_string(limits_.max_naming_memory) +
               " bytes; the first named keep their paths";
    full_ = true;
    return false;
  }
  names_.emplace(blob, path);
  return true;
}

}  // namespace layerleak::archive::git
