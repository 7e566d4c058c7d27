// layerleak archive: turns a layer blob into a stream of file entries.
//
// open_decompressor() sniffs the compression by magic bytes (gzip 1f 8b, zstd 28 b5 2f fd, else
// none) and inflates with ISA-L (gzip) or libzstd; open_tar() reads tar entries with libarchive over
// any ByteReader; open_directory() walks a plain root filesystem with the same interface. Nothing is
// ever extracted or written: names are data.
//
// Not responsible for: digests (wrap readers in core's HashingReader), whiteout semantics (oci), or
// matching (detect).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "layerleak/core.h"

namespace layerleak::archive {

enum class Compression { none, gzip, zstd };
std::string_view compression_name(Compression c) noexcept;
// The compression a stream's first bytes announce (up to 4 are looked at).
Compression sniff_compression(std::string_view head);
// The first `bytes` of a stream (fewer if it is shorter), to sniff its format.
Result<std::string> read_head(ByteReader& reader, std::size_t bytes);

// Wraps `compressed` (which must outlive the result). The first bytes are read to sniff the format.
// Errors from read(): Errc::malformed for corrupt or truncated streams, and the inner reader's errors.
struct DecompressOptions {
  std::size_t input_buffer = 0;          // compressed bytes read at a time (0 = 256 KiB; small files want less)
  bool ignore_trailing_garbage = false;  // gzip: bytes after the last member end the stream (as gzip -d)
};
Result<std::unique_ptr<ByteReader>> open_decompressor(ByteReader& compressed, Compression& detected,
                                                      const DecompressOptions& options = {});

// One entry of a layer or directory tree.
struct Entry {
  enum class Type { file, directory, symlink, hardlink, other };
  std::string path;  // normalised absolute path: "/app/.env" (see normalize_path)
  Type type = Type::other;
  std::uint64_t size = 0;  // bytes of data for files
  // The reader delivers exactly `size` bytes (a tar member: the format bounds it). False where a header
  // can lie or a file can change while read (zip members, compressed streams, files of a directory).
  bool exact_size = false;
  std::string link;        // symlink target as written, or the normalised hardlink target
  // Set when the entry's content is not read and the report should say so (open_directory: a FIFO,
  // device or socket, a name swapped for a symlink while the tree was read, an unreadable directory).
  std::string skip_reason;
};

// Lexically normalises a name from a tar header: leading "./" and "/" removed, "." dropped, ".."
// resolved without ever leaving the root, repeated and trailing slashes removed; result starts with
// "/". The name stays data: nothing is looked up on disk.
std::string normalize_path(std::string_view raw);

// Reads entries and their data in order. Not thread-safe.
class EntryReader {
 public:
  virtual ~EntryReader() = default;
  // The next entry, or nullopt at the end. Unread data of the previous entry is skipped.
  virtual Result<std::optional<Entry>> next_entry() = 0;
  // The next block of the current entry's data; an empty span at the entry's end. The bytes stay
  // valid until the next call.
  virtual Result<std::span<const char>> read_block() = 0;
};

// A tar stream (already decompressed). `stream` must outlive the reader. After next_entry() returns
// nullopt, the reader has consumed `stream` to its end (so digests over it are complete).
Result<std::unique_ptr<EntryReader>> open_tar(ByteReader& stream);

// Archives and compressed files found inside layers, recognised by content (git object stores: by path
// and content, see sniff_git).
enum class NestedKind { none, tar, zip, gzip, zstd, bzip2, xz, git_loose, git_pack };
// `head` is the first bytes of a file (512 are enough to see a tar header).
NestedKind sniff_nested(std::span<const char> head);

// Members of a nested archive streamed from `stream` (tar, compressed tar, or a single compressed file
// whose one member is named `single_name`). `stream` must outlive the reader.
Result<std::unique_ptr<EntryReader>> open_nested(ByteReader& stream, std::string single_name);
// The same for a stream whose compression open_decompressor() already removed (gzip and zstd go through
// ISA-L and libzstd, ~3x faster than libarchive's filters): a tar, or else one raw member.
Result<std::unique_ptr<EntryReader>> open_nested_decompressed(ByteReader& stream, std::string single_name);
// The same over bytes in memory: zip needs random access to its central directory. `bytes` must
// outlive the reader.
Result<std::unique_ptr<EntryReader>> open_nested_memory(std::string_view bytes, std::string single_name);

// Git object stores shipped in images (`COPY . .` with .git): every past version of every file.
//
// sniff_git: git_loose for a file at `<dir>.git/objects/[0-9a-f]{2}/[0-9a-f]{38}` (".git" or a bare
// "name.git") that starts with a zlib header; git_pack for a `*.pack` starting with "PACK" version 2 or 3;
// none otherwise. `path` is the file's path (nested paths with "!/" work too).
//
// Members of both: one per blob, commit and tag (messages can hold keys); trees (binary ids and names) are
// inflated but never members. Commits, tags and loose blobs are named "/<40-hex object id>". Blobs of a pack
// are named by a path they had in the history:
//
//   "/<path in the repository>@<8-hex commit>#<40-hex blob id>"   e.g. "/pkg/x_test.go@1a2b3c4d#6584f4bf…"
//
// Parsed from the right: the last 41 characters are "#" and the blob id, the 9 before them "@" and the
// commit's first 8 hex digits; the rest (which may hold "@" or "#" itself) is the path. The commit is the
// newest by committer time whose tree has the blob (`git show <commit>:<path>` prints it), the path the first
// met walking that tree. A blob no tree of the pack names (a thin or partial pack), or any blob when naming
// was stopped by a bound below, keeps "/<40-hex blob id>"; a stopped naming comes out first as an
// Entry::Type::other named "/" whose skip_reason says why. Why paths: findings are downgraded by path (test
// sources, testdata), so a history of test fixtures named by id came out critical.
// Why a first pass: a blob's path is known only once every commit and tree is resolved, and packs order
// objects by type and recency, not by path. The first pass inflates the whole pack once (blobs only to find
// where they end, neither kept nor hashed) and holds the trees; it is bounded on its own (max_naming_bytes,
// max_naming_memory) and not charged to GitLimits::charge, whose pass serves the members as before (the
// pipeline lowers max_naming_bytes to what its budget has left).
// Loose objects keep their ids: the commits and trees that name them are other files of the layer, read
// in the layer's order, possibly after the blob.
// Ids are SHA-1 over "<type> <size>\0<content>" (OpenSSL EVP), so they match `git cat-file -p <id>`.
NestedKind sniff_git(std::string_view path, std::span<const char> head);

// Why these bounds (errors or skipped members, never crashes):
// A pack's object table costs ~100 bytes per object; a 32 MiB pack (the pipeline's in-memory limit) holds
// at most a few hundred thousand real objects, so more than 1 Mi declared objects is refused.
inline constexpr std::uint64_t kGitMaxObjects = 1u << 20;
// An object and its delta base are held in memory at once; larger objects are skipped and reported.
inline constexpr std::uint64_t kGitMaxObjectBytes = 128ull << 20;
// git writes chains of at most 50 links (pack.depth, gc.aggressiveDepth); deeper objects are skipped
// and reported. Rebuilding an uncached object walks its chain, so this bounds the work per object.
inline constexpr unsigned kGitMaxDeltaDepth = 64;
// Naming blobs by path (see above). The first pass inflates about what the second serves: scaleway-sdk-go's
// 13 MB pack of 7207 commits inflates to 270 MB, so 1 GiB names the history of any pack that fits the
// pipeline's 32 MiB in-memory limit at ordinary ratios; a pack above it keeps ids.
inline constexpr std::uint64_t kGitMaxNamingBytes = 1ull << 30;
// Trees held until every commit is known, plus the names: scaleway-sdk-go's trees are 10 MB inflated.
inline constexpr std::uint64_t kGitMaxNamingMemory = 64ull << 20;
// No more names than objects a pack may hold.
inline constexpr std::uint64_t kGitMaxNamedBlobs = kGitMaxObjects;
// Directories deeper than this are not walked for names (their blobs keep ids); it also bounds recursion.
inline constexpr unsigned kGitMaxTreeDepth = 64;

struct GitLimits {
  std::uint64_t max_objects = kGitMaxObjects;
  std::uint64_t max_object_bytes = kGitMaxObjectBytes;
  unsigned max_delta_depth = kGitMaxDeltaDepth;
  bool name_paths = true;  // false: every member is named by its id (one pass)
  std::uint64_t max_naming_bytes = kGitMaxNamingBytes;
  std::uint64_t max_naming_memory = kGitMaxNamingMemory;
  std::uint64_t max_named_blobs = kGitMaxNamedBlobs;
  unsigned max_tree_depth = kGitMaxTreeDepth;
  // Called with every inflated or rebuilt byte that is not served as member data (trees, delta
  // instructions, bases rebuilt again, objects inflated only to be skipped), before the work is done;
  // returning false stops the reader with Errc::limit. Unset: no budget. With the member bytes the
  // caller counts itself, every inflated byte of the pass that serves members is accounted for; the
  // naming pass before it has its own bound, max_naming_bytes.
  std::function<bool(std::uint64_t)> charge;
};

// A loose object at `path` (which must match sniff_git's pattern: the id comes from it), inflated while
// read; a tree gives no member. Errc::malformed for a bad zlib stream, header or size.
Result<std::unique_ptr<EntryReader>> open_git_loose(ByteReader& stream, std::string_view path);

// A whole packfile in memory (`bytes` must outlive the reader), walked object by object without its
// .idx; OFS_DELTA and REF_DELTA are resolved (a REF_DELTA whose base comes later waits for the end;
// one whose base is not in the pack, as in thin packs, is skipped). Skipped objects come out as
// Entry::Type::other with a skip_reason, named "/object-at-offset-<n>". A truncated or corrupt pack,
// a bad delta (wrong base or result size, a copy outside its base) fails with Errc::malformed naming
// the object's offset; later calls return the same error.
Result<std::unique_ptr<EntryReader>> open_git_pack(std::string_view bytes, GitLimits limits = {});

// A directory tree, walked in sorted order without following symlinks: every name is opened relative
// to its parent's descriptor with O_NOFOLLOW (O_NONBLOCK for files), so a symlink swapped in after
// listing is never followed out of the tree. Only regular files are read; other types come out with a
// skip_reason. Fails with Errc::not_found when `root` is not a directory. Holds one descriptor per
// directory level being walked.
Result<std::unique_ptr<EntryReader>> open_directory(const std::string& root);

// Reads `reader` to its end, discarding the bytes (so a wrapping HashingReader sees everything).
Status drain(ByteReader& reader);

// libarchive is opened at run time, the first time a tar or nested archive is read (or when this is
// called: the scan command calls it on a thread of its own at start-up, so that loading it overlaps other
// work). The same answer for the rest of the process; an Error when the library cannot be loaded.
Status load_libarchive();
// Opens `soname` as libarchive would be and resolves every function; nothing is kept (for tests).
Status try_libarchive(const std::string& soname);

}  // namespace layerleak::archive
