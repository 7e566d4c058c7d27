// StreamTree: the members of a tar that can be read only once, front to back (standard input, the body
// of a `docker save` answer, a gzip- or zstd-compressed archive file). Internal to the oci library.
//
// Members are read lazily as they are asked for. A member the stream passes before anyone asks for it is
// kept when it may still be needed: small ones in memory, large ones in a private temporary directory
// (the spool, bounded, removed with the tree). Once the source has announced which members its layers
// are (expect()), a member that is asked for while it is at the head of the stream and needed once is
// handed out without a copy, and members nobody needs are skipped. So a tar that puts its metadata first
// and its layers in layer order streams with no temporary file; `docker save`'s order (layers first,
// manifest.json last) makes every layer pass through the spool.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "file_tree.h"

namespace layerleak::oci {

struct StreamLimits {
  std::uint64_t max_spool_bytes = 2ull << 30;      // on disk; beyond: Errc::limit
  std::uint64_t max_memory_member = 1ull << 20;    // members up to this size are kept in memory…
  std::uint64_t max_memory_bytes = 64ull << 20;    // …while all of them stay under this
  std::string temp_dir;                            // "" = $TMPDIR, else /tmp
};

class StreamTree final : public FileTree {
 public:
  // `raw`: a tar, plain or gzip/zstd compressed (sniffed by magic bytes). `name` names it in messages
  // ("standard input"). Fails with Errc::malformed when the stream does not start like a tar.
  static Result<std::unique_ptr<StreamTree>> create(std::unique_ptr<ByteReader> raw, std::string name,
                                                    StreamLimits limits = {});
  ~StreamTree() override;
  StreamTree(const StreamTree&) = delete;
  StreamTree& operator=(const StreamTree&) = delete;

  // These read ahead as far as needed (and, like every method, wait while a member is being streamed).
  bool exists(const std::string& path) const override;
  Result<std::unique_ptr<ByteReader>> open(const std::string& path) const override;
  std::optional<std::uint64_t> size(const std::string& path) const override;
  std::string describe() const override { return name_; }
  bool exists_now(const std::string& path) const override;

  enum class Kind { docker_archive, oci_archive };
  // Reads ahead until the kind of archive is known: manifest.json makes a docker-archive, oci-layout and
  // index.json (both) an OCI archive. Errc::malformed when the stream ends first, or the stream's error.
  Result<Kind> detect() const;
  // Announces the members that open() will be asked for from now on (a path once per use). Members not
  // listed are skipped instead of being kept, unless a listed path is still unknown (it may be a link).
  void expect(const std::vector<std::string>& paths);
  std::uint64_t spooled_bytes() const;

 private:
  struct Stored {
    std::shared_ptr<const std::string> memory;  // set: kept in memory
    std::string spool_path;                     // else: in the spool
    std::uint64_t size = 0;
  };
  class MemberReader;
  friend class MemberReader;

  StreamTree() = default;
  // All below: `mutex_` held, no member being streamed.
  Status advance() const;           // consumes the current member (keeping it if needed), reads the next header
  Status keep_current() const;      // stores the current member's data
  Status skip_bytes(std::uint64_t n) const;
  Status read_exact(char* out, std::size_t n, bool& clean_end) const;
  std::string resolve(const std::string& path) const;  // follows known links
  bool needed(const std::string& member) const;
  bool unresolved_link_pending(const std::string& except) const;  // a listed path, not `except`, may be a link
  Result<std::unique_ptr<ByteReader>> open_stored(const Stored& stored) const;
  void wait_idle(std::unique_lock<std::mutex>& lock) const;
  void release() const;             // a MemberReader ended

  std::string name_;
  StreamLimits limits_;
  std::unique_ptr<ByteReader> raw_;
  std::unique_ptr<ByteReader> tar_;  // decompressed view of raw_

  mutable std::mutex mutex_;
  mutable std::condition_variable idle_;
  mutable bool busy_ = false;                   // a MemberReader is reading the current member
  mutable std::optional<Error> error_;          // sticky: the stream is unusable past it
  mutable bool end_ = false;
  mutable bool started_ = false;
  mutable std::optional<std::string> current_;  // member whose data is at the head of the stream
  mutable std::uint64_t current_size_ = 0;
  mutable std::uint64_t data_left_ = 0;         // of the current member
  mutable std::uint64_t padding_ = 0;           // after the current member's data
  mutable std::uint64_t offset_ = 0;            // bytes of tar consumed, for messages
  mutable bool truncated_ = false;              // the last read_exact failed because the input ended
  mutable std::map<std::string, Stored> stored_;
  mutable std::map<std::string, std::string> links_;
  mutable std::map<std::string, unsigned> uses_;  // after expect(): remaining opens per resolved path
  mutable bool expected_ = false;
  mutable std::string spool_dir_;
  mutable std::uint64_t spooled_ = 0;
  mutable std::uint64_t memory_ = 0;
  mutable std::uint64_t name_bytes_ = 0;       // member names and link targets read so far (bounded)
  mutable unsigned spool_files_ = 0;
};

}  // namespace layerleak::oci
