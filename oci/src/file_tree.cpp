#include "file_tree.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace layerleak::oci {

std::string tree_path(std::string_view name) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= name.size()) {
    std::size_t slash = name.find('/', i);
    if (slash == std::string_view::npos) slash = name.size();
    std::string part(name.substr(i, slash - i));
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    i = slash + 1;
  }
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : "/") + part;
  return out;
}

Result<std::string> FileTree::read_small(const std::string& path, std::size_t max_bytes) const {
  // Why check first: reading a hostile 40 MB index.json up to the limit costs memory for nothing.
  if (auto known = size(path); known && *known > max_bytes) {
    return make_error(Errc::limit, path + " is " + std::to_string(*known) + " bytes, larger than the " +
                                       std::to_string(max_bytes) + "-byte limit for image metadata");
  }
  auto reader = open(path);
  if (!reader) return std::move(reader).error();
  auto data = read_all(**reader, max_bytes);
  if (!data) return std::move(data).error().with_context(path);
  return data;
}

std::optional<std::uint64_t> DirectoryTree::size(const std::string& path) const {
  struct stat st {};
  if (::stat((root_ + "/" + path).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<std::uint64_t>(st.st_size);
}

bool DirectoryTree::exists(const std::string& path) const {
  struct stat st {};
  return ::stat((root_ + "/" + path).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::unique_ptr<ByteReader>> DirectoryTree::open(const std::string& path) const {
  // Why reject "..": blob paths come from JSON written by whoever made the image.
  if (path.find("..") != std::string::npos) return make_error(Errc::malformed, "refusing path with \"..\": " + path);
  auto reader = FileReader::open(root_ + "/" + path);
  if (!reader) return std::move(reader).error();
  return std::unique_ptr<ByteReader>(std::move(reader).value());
}

namespace {

constexpr std::size_t kBlock = 512;
constexpr std::size_t kMaxMembers = 1'000'000;
constexpr std::uint64_t kMaxLongName = 1024 * 1024;

}  // namespace

Result<std::uint64_t> tar_number(const char* field, std::size_t length) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(field);
  if (length > 0 && (bytes[0] & 0x80)) {  // base-256 (GNU) for large values
    std::uint64_t value = bytes[0] & 0x3f;
    for (std::size_t i = 1; i < length; ++i) {
      if (value >> 55) return make_error(Errc::malformed, "tar size field overflows");
      value = (value << 8) | bytes[i];
    }
    return value;
  }
  std::uint64_t value = 0;
  std::size_t i = 0;
  while (i < length && (field[i] == ' ' || field[i] == '\0')) ++i;
  for (; i < length && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (value >> 60) return make_error(Errc::malformed, "tar size field overflows");
    value = value * 8 + static_cast<std::uint64_t>(field[i] - '0');
  }
  return value;
}

std::string tar_field(const char* field, std::size_t length) {
  return std::string(field, strnlen(field, length));
}

bool tar_checksum_ok(const char* header) {
  auto stored = tar_number(header + 148, 8);
  if (!stored) return false;
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(header[i]);
  }
  return sum == *stored;
}

std::optional<std::string> tar_pax_path(const std::string& records) {
  std::size_t i = 0;
  while (i < records.size()) {
    std::size_t space = records.find(' ', i);
    if (space == std::string::npos) break;
    std::uint64_t length = 0;
    for (std::size_t j = i; j < space; ++j) {
      if (records[j] < '0' || records[j] > '9') return std::nullopt;
      length = length * 10 + static_cast<std::uint64_t>(records[j] - '0');
      if (length > records.size()) return std::nullopt;
    }
    if (length == 0 || i + length > records.size()) return std::nullopt;
    std::string_view record(records.data() + space + 1, i + length - space - 2);
    if (record.substr(0, 5) == "path=") return std::string(record.substr(5));
    i += length;
  }
  return std::nullopt;
}

Result<std::unique_ptr<TarTree>> TarTree::index(const std::string& tar_path) {
  auto file = FileReader::open(tar_path);
  if (!file) return std::move(file).error();
  const std::uint64_t file_size = (*file)->size();

  auto tree = std::unique_ptr<TarTree>(new TarTree());
  tree->path_ = tar_path;
  std::uint64_t offset = 0;
  std::optional<std::string> long_name;
  std::optional<std::string> long_link;
  std::array<char, kBlock> header{};
  // One descriptor for the whole index, read with pread: headers are visited, data is skipped.
  auto read_at = [&](std::uint64_t at, char* out, std::size_t n) -> Status {
    return (*file)->read_exact_at(at, std::span<char>(out, n));
  };
  auto bad = [&](const std::string& what) {
    if (offset == 0) return make_error(Errc::malformed, tar_path + " is not a container image (not a tar archive: " + what + ")");
    return make_error(Errc::malformed, tar_path + " is not a valid tar archive: " + what + " at offset " +
                                           std::to_string(offset));
  };

  while (true) {
    if (offset + kBlock > file_size) {
      if (offset == 0) return bad("file too short");
      break;  // a missing end-of-archive marker is tolerated, like GNU tar does
    }
    if (auto st_read = read_at(offset, header.data(), kBlock); !st_read) return std::move(st_read).error();
    if (std::all_of(header.begin(), header.end(), [](char c) { return c == 0; })) break;
    if (!tar_checksum_ok(header.data())) return bad("header checksum mismatch");
    auto size = tar_number(header.data() + 124, 12);
    if (!size) return bad(size.error().message);
    const std::uint64_t data_offset = offset + kBlock;
    if (*size > file_size || data_offset + *size > file_size) return bad("member runs past the end of the file");
    const std::uint64_t next = data_offset + (*size + kBlock - 1) / kBlock * kBlock;
    const char type = header[156];

    if (type == 'L' || type == 'x') {
      if (*size > kMaxLongName) return bad("oversized extended header");
      std::string data(static_cast<std::size_t>(*size), '\0');
      if (auto st_read = read_at(data_offset, data.data(), data.size()); !st_read) return std::move(st_read).error();
      if (type == 'L') {
        long_name = std::string(data.c_str());
      } else if (auto path = tar_pax_path(data)) {
        long_name = *path;
      }
    } else if (type == 'K') {
      if (*size > kMaxLongName) return bad("oversized extended header");
      std::string data(static_cast<std::size_t>(*size), '\0');
      if (auto st_read = read_at(data_offset, data.data(), data.size()); !st_read) return std::move(st_read).error();
      long_link = std::string(data.c_str());
    } else if (type == 'g') {
      // global pax header: nothing we need
    } else {
      std::string name = long_name ? *long_name : [&] {
        std::string base = tar_field(header.data(), 100);
        std::string prefix = std::memcmp(header.data() + 257, "ustar", 5) == 0 ? tar_field(header.data() + 345, 155) : "";
        return prefix.empty() ? base : prefix + "/" + base;
      }();
      long_name.reset();
      if (tree->members_.size() + tree->links_.size() >= kMaxMembers) return bad("too many members");
      if (type == '0' || type == '\0' || type == '7') {
        tree->links_.erase(tree_path(name));
        tree->members_[tree_path(name)] = Member{data_offset, *size};  // a later duplicate wins, as in tar
      } else if (type == '2' || type == '1') {
        // docker save links duplicate layers: "<id>/layer.tar -> ../<hex>.tar" (symlink) or hardlinks.
        std::string target = long_link ? *long_link : tar_field(header.data() + 157, 100);
        std::string from = tree_path(name);
        std::string dir = type == '2' && from.find('/') != std::string::npos ? from.substr(0, from.rfind('/') + 1) : "";
        tree->links_[from] = tree_path(dir + target);
        tree->members_.erase(from);
      }
      long_link.reset();
    }
    offset = next;
  }
  return tree;
}

const TarTree::Member* TarTree::find(const std::string& path) const {
  std::string name = tree_path(path);
  for (int hops = 0; hops < 8; ++hops) {
    if (auto it = members_.find(name); it != members_.end()) return &it->second;
    auto link = links_.find(name);
    if (link == links_.end()) return nullptr;
    name = link->second;
  }
  return nullptr;  // a link loop or a chain too long to be real
}

bool TarTree::exists(const std::string& path) const { return find(path) != nullptr; }

std::optional<std::uint64_t> TarTree::size(const std::string& path) const {
  const Member* member = find(path);
  return member ? std::optional<std::uint64_t>(member->size) : std::nullopt;
}

Result<std::unique_ptr<ByteReader>> TarTree::open(const std::string& path) const {
  const Member* member = find(path);
  if (member == nullptr) return make_error(Errc::not_found, path + " is missing from " + path_);
  auto reader = FileReader::open_range(path_, member->offset, member->size);
  if (!reader) return std::move(reader).error();
  return std::unique_ptr<ByteReader>(std::move(reader).value());
}


}  // namespace layerleak::oci
