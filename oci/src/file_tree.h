// FileTree: the files of an image container, whether a directory on disk or an (uncompressed) tar
// archive indexed once. Internal to the oci library.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "layerleak/core.h"

namespace layerleak::oci {

// Why 16 MiB: real manifests, indexes and configs are kilobytes; tens of MB is an attack.
constexpr std::size_t kMaxJsonBytes = 16 * 1024 * 1024;

class FileTree {
 public:
  virtual ~FileTree() = default;
  // Paths are relative, "/"-separated, without a leading "./" or "/": "blobs/sha256/ab…".
  virtual bool exists(const std::string& path) const = 0;
  virtual Result<std::unique_ptr<ByteReader>> open(const std::string& path) const = 0;
  virtual std::string describe() const = 0;  // the container path, for messages
  // The size of a file, when the container knows it without reading (nullopt otherwise).
  virtual std::optional<std::uint64_t> size(const std::string& path) const = 0;

  // Whether the file is known without reading further (stream trees: already passed); others: exists().
  virtual bool exists_now(const std::string& path) const { return exists(path); }
  // Reads a small file whole, failing with Errc::limit beyond max_bytes.
  Result<std::string> read_small(const std::string& path, std::size_t max_bytes = kMaxJsonBytes) const;
};

class DirectoryTree final : public FileTree {
 public:
  explicit DirectoryTree(std::string root) : root_(std::move(root)) {}
  bool exists(const std::string& path) const override;
  Result<std::unique_ptr<ByteReader>> open(const std::string& path) const override;
  std::string describe() const override { return root_; }
  std::optional<std::uint64_t> size(const std::string& path) const override;

 private:
  std::string root_;
};

// An uncompressed tar file whose member offsets are indexed once; members are then read with pread,
// so any number of threads can read layers in parallel, and nothing is copied or spooled.
class TarTree final : public FileTree {
 public:
  static Result<std::unique_ptr<TarTree>> index(const std::string& tar_path);
  bool exists(const std::string& path) const override;
  Result<std::unique_ptr<ByteReader>> open(const std::string& path) const override;
  std::string describe() const override { return path_; }
  std::optional<std::uint64_t> size(const std::string& path) const override;

 private:
  struct Member {
    std::uint64_t offset;
    std::uint64_t size;
  };
  const Member* find(const std::string& path) const;  // follows links, at most 8 hops

  std::string path_;
  std::map<std::string, Member> members_;
  std::map<std::string, std::string> links_;  // link name -> target name (both tree paths)
};

// Tar header fields (ustar, GNU, pax), shared by TarTree and StreamTree.
Result<std::uint64_t> tar_number(const char* field, std::size_t length);  // octal or GNU base-256
std::string tar_field(const char* field, std::size_t length);              // NUL-terminated or full width
bool tar_checksum_ok(const char* header);                                   // a 512-byte header block
std::optional<std::string> tar_pax_path(const std::string& records);        // "path=" of a pax header

// Normalises a member name of a container: strips "./" and leading "/", drops ".", resolves ".."
// lexically without ever going above the root.
std::string tree_path(std::string_view name);

}  // namespace layerleak::oci
