// layerleak core vocabulary: the few types every part shares.
//
// Result/Error carry failures across seams (no exceptions cross a library boundary); ByteReader is the
// one streaming input abstraction (files, blobs in archives, decompressors, network bodies); Digest and
// Sha256 name and compute content digests; HashingReader verifies a digest while bytes stream through.
//
// Not responsible for: images, archives, rules or reports. Everything here is small and dependency-free
// except OpenSSL for SHA-256.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace layerleak {

// One documented value per kind of failure. The CLI maps every error to exit status 2.
enum class Errc {
  io,               // a read, open or seek failed (message names the path)
  not_found,        // a file, blob or image that should exist does not
  malformed,        // input is not in the format it claims (JSON, tar, gzip, manifest shape)
  unsupported,      // well-formed input layerleak does not handle (yet)
  digest_mismatch,  // content does not hash to the digest that names it
  limit,            // a safety limit was hit (size, depth, count)
  invalid_argument, // the user asked for something impossible (bad option, bad reference)
  internal,         // a library (Hyperscan, libarchive, OpenSSL) failed unexpectedly
  auth,             // a registry refused the credentials (or asked for some and none were given)
  network,          // a registry could not be reached, or a transfer failed after its retries
  cancelled,        // the caller's cancel flag was set (SIGINT/SIGTERM, a scan timeout) before the work ended
};

std::string_view errc_name(Errc code) noexcept;

// An error with a human-readable message that already carries its context (image, layer, path).
struct Error {
  Errc code;
  std::string message;

  // Returns a copy whose message is "<context>: <message>".
  [[nodiscard]] Error with_context(std::string_view context) const;
};

struct Ok {};

// Either a value or an Error. Deliberately tiny: construct from T or Error, test, then take.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

using Status = Result<Ok>;

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

// A pull-based byte stream. read() fills up to out.size() bytes and returns how many; 0 means end of
// stream. Not thread-safe; one reader is used by one thread at a time.
class ByteReader {
 public:
  virtual ~ByteReader() = default;
  virtual Result<std::size_t> read(std::span<char> out) = 0;
};

// Reads a whole file, or a byte range [offset, offset+length) of it, with pread (so several readers
// may share one descriptor). Opens the path itself; fails with Errc::not_found / Errc::io, and with
// Errc::unsupported for anything but a regular file (FIFO, device, socket, directory), without blocking.
class FileReader final : public ByteReader {
 public:
  static Result<std::unique_ptr<FileReader>> open(const std::string& path);
  static Result<std::unique_ptr<FileReader>> open_range(const std::string& path, std::uint64_t offset,
                                                        std::uint64_t length);
  ~FileReader() override;
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  Result<std::size_t> read(std::span<char> out) override;
  // Reads exactly out.size() bytes at `offset` (within the reader's range), without moving the
  // read position; Errc::malformed when the range ends first.
  Status read_exact_at(std::uint64_t offset, std::span<char> out);
  // Bytes in the reader's range.
  std::uint64_t size() const { return end_ - begin_; }

 private:
  FileReader(int fd, std::string path, std::uint64_t offset, std::uint64_t length);
  int fd_;
  std::string path_;
  std::uint64_t begin_;
  std::uint64_t position_;
  std::uint64_t end_;
};

// Reads a whole (small) stream into memory, failing with Errc::limit beyond max_bytes.
Result<std::string> read_all(ByteReader& reader, std::size_t max_bytes);

// A list file given to an option, one item a line (--images-from, --repositories-from): a regular file of
// at most 16 MiB (not a device or FIFO that never ends), read whole; blank lines and '#' comments skipped,
// surrounding blanks trimmed, a NUL byte refused. Messages start with "OPTION: PATH"; each item keeps its
// line number for the caller's own checks (list_line_where).
struct ListedLine {
  std::string text;
  std::size_t number = 0;
};
Result<std::vector<ListedLine>> read_list_file(const std::string& path, std::string_view option);
// "OPTION: PATH: line N", the prefix of a message about one listed line.
std::string list_line_where(std::string_view option, const std::string& path, std::size_t number);

// True when the JSON text `text` nests arrays and objects at most `max_depth` deep (strings are
// skipped). Why a pre-scan before parsing: parsing, copying or dumping a nlohmann value recurses per
// level, and a hostile 1e6-deep array would overflow the stack before any limit could apply.
bool json_nesting_within(std::string_view text, int max_depth) noexcept;

// Base64 (RFC 4648): encode with the standard alphabet and padding; decode either alphabet (standard or
// URL-safe), padding optional; nullopt on any other character or an impossible length. The one
// implementation (registry credentials, docker `auth` values, Kubernetes Secret data, Harbor).
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

// Levenshtein distance (insertions, deletions, substitutions; bytes), for "did you mean" suggestions of
// commands, options, keys and transports.
std::size_t edit_distance(std::string_view a, std::string_view b);

// A content digest such as "sha256:<64 hex>". Only sha256 is accepted (OCI allows sha512, nobody
// uses it; rejecting it is an explicit Errc::unsupported, not a silent pass).
struct Digest {
  std::string algorithm;  // "sha256"
  std::string hex;        // lowercase hex

  static Result<Digest> parse(std::string_view text);
  std::string str() const { return algorithm + ":" + hex; }
  bool empty() const { return hex.empty(); }
  friend bool operator==(const Digest&, const Digest&) = default;
};

// Incremental SHA-256 (OpenSSL EVP). Not thread-safe; one hasher per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(std::span<const char> bytes);
  void update(std::string_view text) { update(std::span<const char>(text.data(), text.size())); }
  // Finishes and returns the digest; the hasher must not be used afterwards.
  Digest finish();

  static Digest of(std::string_view text);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A reader that can lend bytes from buffers of its own instead of copying them out: read_block()
// returns the next bytes (empty at the end of the stream), valid until the next call on the reader.
// read() and read_block() may be mixed; each byte is served once.
class BlockReader : public ByteReader {
 public:
  virtual Result<std::span<const char>> read_block() = 0;
};

// Passes bytes through from an inner reader while hashing them, on the thread that reads them. At end
// of stream, when an expected digest was given, returns Errc::digest_mismatch (with `what` in the
// message) instead of 0 (or an empty block) if the content does not match. The computed digest is
// available from digest() after end of stream. read_block() lends the inner reader's blocks when it
// lends them, else blocks of a buffer of its own.
class HashingReader final : public BlockReader {
 public:
  HashingReader(ByteReader& inner, std::optional<Digest> expected, std::string what);
  Result<std::size_t> read(std::span<char> out) override;
  Result<std::span<const char>> read_block() override;
  bool finished() const { return computed_.has_value(); }
  const std::optional<Digest>& digest() const { return computed_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  Status hashed(std::span<const char> bytes);  // hashes bytes; at the end (empty), checks the digest

  ByteReader& inner_;
  BlockReader* lender_;  // inner_, when it lends
  std::optional<Digest> expected_;
  std::string what_;
  Sha256 hasher_;
  std::optional<Digest> computed_;
  std::uint64_t bytes_ = 0;
  std::unique_ptr<char[]> buffer_;  // read_block() from a reader that does not lend
};

// Memory for large buffers that live as long as a layer or a scanning session (read-ahead rings, the
// matcher's hold): a block aligned to and advised as 2 MiB huge pages, handed back to a process-wide
// pool for the next block of the same size (at most 96 MiB are kept). Why: on a virtual machine a fresh
// 4 KiB page costs a fault of ~11 µs (2.7 ms per MiB); a huge page is one fault per 2 MiB, a reused
// block none. The bytes are not zeroed. Throws std::bad_alloc like new. Move-only; empty when
// default-constructed or moved from.
class PooledBlock {
 public:
  PooledBlock() = default;
  explicit PooledBlock(std::size_t bytes);
  ~PooledBlock();
  PooledBlock(PooledBlock&& other) noexcept;
  PooledBlock& operator=(PooledBlock&& other) noexcept;
  PooledBlock(const PooledBlock&) = delete;
  PooledBlock& operator=(const PooledBlock&) = delete;

  char* data() const { return data_; }
  std::size_t size() const { return size_; }
  explicit operator bool() const { return data_ != nullptr; }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
};

// Reads `inner` ahead on a thread of its own into a few pooled buffers, so that whatever `inner` does
// (reading a blob, hashing it, inflating it) overlaps with what the caller does with the bytes (tar,
// matching). read() and read_block() return the bytes in order; an error from `inner` is returned
// after the bytes before it. With a `tap`, a third thread also sees every block in order, in place
// (no copy), while the caller reads it: a buffer is reused once both are done with it. Memory is
// bounded: `buffer_bytes` (at least 2 MiB) is all the reader holds, and how far the reading thread
// may run ahead of the slower of the caller and the tap. `inner` must outlive this reader and is used
// only by the read-ahead thread. Destroying the reader early stops reading after the current read; the
// tap still sees every block that was read, and has returned for the last time when the destructor
// returns.
struct ReadAheadOptions {
  static constexpr std::size_t kDefaultBufferBytes = 2u << 20;
  std::size_t buffer_bytes = kDefaultBufferBytes;
  // Thread names (at most 15 characters), as top -H and perf show them.
  const char* reader_name = "ll-read";
  const char* tap_name = "ll-tap";
};

class ReadAheadReader final : public BlockReader {
 public:
  using Tap = std::function<void(std::span<const char>)>;
  using Options = ReadAheadOptions;
  static constexpr std::size_t kDefaultBufferBytes = ReadAheadOptions::kDefaultBufferBytes;
  explicit ReadAheadReader(ByteReader& inner, Tap tap = {}, Options options = {});
  ~ReadAheadReader() override;
  ReadAheadReader(const ReadAheadReader&) = delete;
  ReadAheadReader& operator=(const ReadAheadReader&) = delete;
  Result<std::size_t> read(std::span<char> out) override;
  Result<std::span<const char>> read_block() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Serves `prefix` (bytes already taken from `inner`, e.g. to sniff a format), then the rest of `inner`.
class PrefixedReader final : public ByteReader {
 public:
  PrefixedReader(ByteReader& inner, std::string prefix) : inner_(inner), prefix_(std::move(prefix)) {}
  Result<std::size_t> read(std::span<char> out) override;

 private:
  ByteReader& inner_;
  std::string prefix_;
  std::size_t prefix_pos_ = 0;
};

// Reads an in-memory buffer (tests, pseudo-files). Does not own the bytes.
class MemoryReader final : public ByteReader {
 public:
  explicit MemoryReader(std::string_view bytes) : bytes_(bytes) {}
  Result<std::size_t> read(std::span<char> out) override;

 private:
  std::string_view bytes_;
  std::size_t position_ = 0;
};

}  // namespace layerleak
