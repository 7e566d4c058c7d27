#include "stream_tree.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "layerleak/archive.h"

namespace layerleak::oci {

namespace {

constexpr std::size_t kBlock = 512;
constexpr std::size_t kMaxMembers = 1'000'000;
constexpr std::uint64_t kMaxLongName = 1024 * 1024;
constexpr std::uint64_t kMaxNameBytes = 16ull << 20;

// Reads bytes kept in memory; shares them, so the tree may drop its copy first.
class SharedMemoryReader final : public ByteReader {
 public:
  explicit SharedMemoryReader(std::shared_ptr<const std::string> bytes) : bytes_(std::move(bytes)) {}
  Result<std::size_t> read(std::span<char> out) override {
    const std::size_t n = std::min(out.size(), bytes_->size() - position_);
    std::memcpy(out.data(), bytes_->data() + position_, n);
    position_ += n;
    return n;
  }

 private:
  std::shared_ptr<const std::string> bytes_;
  std::size_t position_ = 0;
};

Status write_all(int fd, const char* data, std::size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return make_error(Errc::io, "cannot write " + path + ": " + std::strerror(errno));
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return Ok{};
}

}  // namespace

// The current member, read straight from the stream by one consumer; the tree waits until it is gone.
class StreamTree::MemberReader final : public ByteReader {
 public:
  MemberReader(const StreamTree& tree, std::uint64_t size) : tree_(tree), left_(size) {}
  ~MemberReader() override {
    if (failed_) {
      std::lock_guard<std::mutex> lock(tree_.mutex_);
      if (!tree_.error_) tree_.error_ = *failed_;
    }
    tree_.release();
  }
  Result<std::size_t> read(std::span<char> out) override {
    if (failed_) return *failed_;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), left_));
    if (want == 0) return std::size_t{0};
    auto got = tree_.tar_->read(out.first(want));
    if (!got) {
      failed_ = got.error();
      return std::move(got).error();
    }
    if (*got == 0) {
      failed_ = Error{Errc::malformed, tree_.name_ + " ends in the middle of a member (truncated tar)"};
      return *failed_;
    }
    left_ -= *got;
    tree_.data_left_ -= *got;  // the tree does not touch it while busy_
    tree_.offset_ += *got;
    return *got;
  }

 private:
  const StreamTree& tree_;
  std::uint64_t left_;
  std::optional<Error> failed_;
};

Result<std::unique_ptr<StreamTree>> StreamTree::create(std::unique_ptr<ByteReader> raw, std::string name,
                                                       StreamLimits limits) {
  auto tree = std::unique_ptr<StreamTree>(new StreamTree());
  tree->name_ = std::move(name);
  tree->limits_ = std::move(limits);
  tree->raw_ = std::move(raw);
  archive::Compression compression = archive::Compression::none;
  auto tar = archive::open_decompressor(*tree->raw_, compression);
  if (!tar) return std::move(tar).error().with_context(tree->name_);
  tree->tar_ = std::move(tar).value();
  // The first header now: garbage is refused before anything else is tried.
  std::unique_lock<std::mutex> lock(tree->mutex_);
  if (auto st = tree->advance(); !st) return std::move(st).error();
  return tree;
}

StreamTree::~StreamTree() {
  if (spool_dir_.empty()) return;
  for (unsigned i = 0; i < spool_files_; ++i) ::unlink((spool_dir_ + "/" + std::to_string(i)).c_str());
  ::rmdir(spool_dir_.c_str());
}

Status StreamTree::read_exact(char* out, std::size_t n, bool& clean_end) const {
  std::size_t have = 0;
  clean_end = false;
  truncated_ = false;
  while (have < n) {
    auto got = tar_->read(std::span<char>(out + have, n - have));
    if (!got) return std::move(got).error().with_context(name_);
    if (*got == 0) {
      if (have == 0) {
        clean_end = true;
        return Ok{};
      }
      truncated_ = true;
      return make_error(Errc::malformed, name_ + " ends in the middle of a tar block (truncated) at offset " +
                                             std::to_string(offset_ + have));
    }
    have += *got;
  }
  offset_ += n;
  return Ok{};
}

Status StreamTree::skip_bytes(std::uint64_t n) const {
  std::array<char, 64 * 1024> buffer{};
  while (n > 0) {
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(n, buffer.size()));
    bool end = false;
    if (auto st = read_exact(buffer.data(), chunk, end); !st) return st;
    if (end) return make_error(Errc::malformed, name_ + " ends in the middle of a member (truncated tar)");
    n -= chunk;
  }
  return Ok{};
}

std::string StreamTree::resolve(const std::string& path) const {
  std::string name = tree_path(path);
  for (int hops = 0; hops < 8; ++hops) {
    auto link = links_.find(name);
    if (link == links_.end()) return name;
    name = link->second;
  }
  return name;
}

namespace {

// A member named by its content's digest ("blobs/sha256/<hex>", "<hex>.tar") is not a link to other
// content; any other name (docker's legacy "<id>/layer.tar") may be a link written later in the tar.
bool may_be_link(const std::string& path) {
  std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  if (const auto dot = name.find('.'); dot != std::string::npos) name.resize(dot);
  return !(name.size() == 64 && std::all_of(name.begin(), name.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
}

}  // namespace

bool StreamTree::unresolved_link_pending(const std::string& except) const {
  for (const auto& [path, count] : uses_) {
    if (count == 0 || path == except) continue;
    const std::string target = resolve(path);
    if (!stored_.contains(target) && current_ != target && may_be_link(path)) return true;
  }
  return false;
}

bool StreamTree::needed(const std::string& member) const {
  if (!expected_) return true;
  for (const auto& [path, count] : uses_) {
    if (count > 0 && resolve(path) == member) return true;
  }
  // A listed path not seen yet may turn out to be a link to this member.
  return unresolved_link_pending("");
}

Status StreamTree::keep_current() const {
  const std::string& member = *current_;
  const std::uint64_t size = data_left_;
  Stored stored;
  stored.size = size;
  if (size <= limits_.max_memory_member && memory_ + size <= limits_.max_memory_bytes) {
    auto bytes = std::make_shared<std::string>(static_cast<std::size_t>(size), '\0');
    bool end = false;
    if (auto st = read_exact(bytes->data(), bytes->size(), end); !st) return st;
    if (end && size > 0) return make_error(Errc::malformed, name_ + " ends in the middle of " + member);
    memory_ += size;
    stored.memory = std::move(bytes);
  } else {
    if (spooled_ + size > limits_.max_spool_bytes) {
      return make_error(Errc::limit, name_ + ": the archive's member order (layers before manifest.json, or layers out of order) "
                                             "means " + member + " must be kept, and that passes the " +
                                             std::to_string(limits_.max_spool_bytes >> 20) +
                                             " MiB limit for temporary space; save the image to a file and scan the file");
    }
    if (spool_dir_.empty()) {
      std::string base = limits_.temp_dir;
      if (base.empty()) {
        const char* env = std::getenv("TMPDIR");
        base = env && *env ? env : "/tmp";
      }
      std::string pattern = base + "/layerleak-spool-XXXXXX";
      if (::mkdtemp(pattern.data()) == nullptr) {
        return make_error(Errc::io, "cannot create a temporary directory in " + base + ": " + std::strerror(errno));
      }
      spool_dir_ = pattern;
    }
    stored.spool_path = spool_dir_ + "/" + std::to_string(spool_files_);
    const int fd = ::open(stored.spool_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(Errc::io, "cannot create " + stored.spool_path + ": " + std::strerror(errno));
    ++spool_files_;
    std::array<char, 256 * 1024> buffer{};
    std::uint64_t left = size;
    Status status = Ok{};
    while (left > 0 && status) {
      const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
      bool end = false;
      status = read_exact(buffer.data(), chunk, end);
      if (status && end) status = make_error(Errc::malformed, name_ + " ends in the middle of " + member);
      if (status) status = write_all(fd, buffer.data(), chunk, stored.spool_path);
      left -= chunk;
    }
    ::close(fd);
    if (!status) return status;
    spooled_ += size;
  }
  data_left_ = 0;
  stored_[member] = std::move(stored);
  return Ok{};
}

Status StreamTree::advance() const {
  if (error_) return *error_;
  auto fail = [&](Error e) -> Status {
    error_ = e;
    return e;
  };
  auto bad = [&](const std::string& what) -> Status {
    if (!started_) return fail(Error{Errc::malformed, name_ + " is not a container image (not a tar archive: " + what + ")"});
    return fail(Error{Errc::malformed, name_ + " is not a valid tar archive: " + what + " at offset " + std::to_string(offset_)});
  };
  if (current_) {
    if (data_left_ > 0) {
      Status st = needed(*current_) && data_left_ == current_size_ ? keep_current() : skip_bytes(data_left_);
      if (!st) return fail(st.error());
      data_left_ = 0;
    }
    if (auto st = skip_bytes(padding_); !st) return fail(st.error());
    current_.reset();
  }
  if (end_) return Ok{};
  std::optional<std::string> long_name;
  std::optional<std::string> long_link;
  std::array<char, kBlock> header{};
  while (true) {
    bool clean_end = false;
    if (auto st = read_exact(header.data(), kBlock, clean_end); !st) {
      // Only an input that ended is "too short"; a decompressor's error (a damaged gzip stream, a zstd
      // window over the limit) is the reason and is kept.
      if (!started_ && truncated_) return bad("file too short");
      return fail(st.error());
    }
    if (clean_end) {
      if (!started_) return bad("empty input");
      end_ = true;  // a missing end-of-archive marker is tolerated, like GNU tar does
      return Ok{};
    }
    if (std::all_of(header.begin(), header.end(), [](char c) { return c == 0; })) {
      if (!started_) return bad("it starts with a zero block");
      end_ = true;
      return Ok{};
    }
    if (!tar_checksum_ok(header.data())) return bad("header checksum mismatch");
    auto size = tar_number(header.data() + 124, 12);
    if (!size) return bad(size.error().message);
    started_ = true;
    const std::uint64_t padded = (*size + kBlock - 1) / kBlock * kBlock;
    const char type = header[156];
    if (type == 'L' || type == 'x' || type == 'K') {
      if (*size > kMaxLongName) return bad("oversized extended header");
      std::string data(static_cast<std::size_t>(*size), '\0');
      bool end = false;
      if (auto st = read_exact(data.data(), data.size(), end); !st || (end && !data.empty())) {
        return st ? bad("truncated extended header") : fail(st.error());
      }
      if (auto st = skip_bytes(padded - *size); !st) return fail(st.error());
      if (type == 'L') {
        long_name = std::string(data.c_str());
      } else if (type == 'K') {
        long_link = std::string(data.c_str());
      } else if (auto path = tar_pax_path(data)) {
        long_name = *path;
      }
      continue;
    }
    if (type == 'g') {
      if (auto st = skip_bytes(padded); !st) return fail(st.error());
      continue;
    }
    std::string name = long_name ? *long_name : [&] {
      std::string base = tar_field(header.data(), 100);
      std::string prefix = std::memcmp(header.data() + 257, "ustar", 5) == 0 ? tar_field(header.data() + 345, 155) : "";
      return prefix.empty() ? base : prefix + "/" + base;
    }();
    long_name.reset();
    if (stored_.size() + links_.size() >= kMaxMembers) return bad("too many members");
    // Names and link targets are held for the whole read: bounded in total, whatever each one's size (an
    // image archive has a few dozen members; GNU long names of up to 1 MiB each would otherwise add up).
    name_bytes_ += name.size() + (long_link ? long_link->size() : 0);
    if (name_bytes_ > kMaxNameBytes) return bad("member names and link targets over " + std::to_string(kMaxNameBytes >> 20) + " MiB");
    const std::string path = tree_path(name);
    if (type == '0' || type == '\0' || type == '7') {
      links_.erase(path);
      if (auto old = stored_.find(path); old != stored_.end()) {  // a later duplicate wins, as in tar
        if (old->second.memory) memory_ -= old->second.size;
        stored_.erase(old);
      }
      current_ = path;
      current_size_ = *size;
      data_left_ = *size;
      padding_ = padded - *size;
      return Ok{};
    }
    if (type == '2' || type == '1') {
      std::string target = long_link ? *long_link : tar_field(header.data() + 157, 100);
      std::string dir = type == '2' && path.find('/') != std::string::npos ? path.substr(0, path.rfind('/') + 1) : "";
      links_[path] = tree_path(dir + target);
    }
    long_link.reset();
    if (auto st = skip_bytes(padded); !st) return fail(st.error());
  }
}

void StreamTree::wait_idle(std::unique_lock<std::mutex>& lock) const {
  idle_.wait(lock, [this] { return !busy_; });
}

void StreamTree::release() const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    busy_ = false;
  }
  idle_.notify_all();
}

Result<std::unique_ptr<ByteReader>> StreamTree::open_stored(const Stored& stored) const {
  if (stored.memory) return std::unique_ptr<ByteReader>(std::make_unique<SharedMemoryReader>(stored.memory));
  auto reader = FileReader::open(stored.spool_path);
  if (!reader) return std::move(reader).error();
  return std::unique_ptr<ByteReader>(std::move(reader).value());
}

bool StreamTree::exists(const std::string& path) const { return size(path).has_value(); }

std::optional<std::uint64_t> StreamTree::size(const std::string& path) const {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wait_idle(lock);
    const std::string member = resolve(path);
    if (auto it = stored_.find(member); it != stored_.end()) return it->second.size;
    if (current_ == member) return current_size_;
    if (end_ || error_ || !advance()) return std::nullopt;
  }
}

bool StreamTree::exists_now(const std::string& path) const {
  std::unique_lock<std::mutex> lock(mutex_);
  wait_idle(lock);
  const std::string member = resolve(path);
  return stored_.contains(member) || current_ == member;
}

Result<StreamTree::Kind> StreamTree::detect() const {
  std::unique_lock<std::mutex> lock(mutex_);
  auto seen = [&](const std::string& path) { return stored_.contains(resolve(path)) || current_ == resolve(path); };
  while (true) {
    wait_idle(lock);
    if (seen("manifest.json")) return Kind::docker_archive;
    if (seen("oci-layout") && seen("index.json")) return Kind::oci_archive;
    if (error_) return *error_;
    if (end_) return make_error(Errc::malformed, name_ + " is not a container image (a tar without manifest.json or oci-layout)");
    if (auto st = advance(); !st) return std::move(st).error();
  }
}

void StreamTree::expect(const std::vector<std::string>& paths) {
  std::unique_lock<std::mutex> lock(mutex_);
  wait_idle(lock);
  uses_.clear();
  for (const std::string& path : paths) ++uses_[tree_path(path)];
  expected_ = true;
}

std::uint64_t StreamTree::spooled_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return spooled_;
}

Result<std::unique_ptr<ByteReader>> StreamTree::open(const std::string& path) const {
  std::unique_lock<std::mutex> lock(mutex_);
  const std::string key = tree_path(path);
  while (true) {
    wait_idle(lock);
    if (error_) return *error_;
    const std::string member = resolve(key);
    // Opens left for this member, through any of its names.
    unsigned uses = 0;
    for (const auto& [p, n] : uses_) {
      if (n > 0 && resolve(p) == member) uses += n;
    }
    if (unresolved_link_pending(key)) ++uses;  // it may be opened again through a link not read yet
    auto consume = [&] {
      if (auto it = uses_.find(key); it != uses_.end() && it->second > 0) --it->second;
    };
    if (auto it = stored_.find(member); it != stored_.end()) {
      consume();
      return open_stored(it->second);
    }
    if (current_ == member) {
      if (data_left_ != current_size_) {
        return make_error(Errc::internal, key + " was already read from " + name_ + " (a stream is read once)");
      }
      if (expected_ && uses <= 1) {
        consume();
        busy_ = true;
        return std::unique_ptr<ByteReader>(std::make_unique<MemberReader>(*this, current_size_));
      }
      if (auto st = keep_current(); !st) {
        error_ = st.error();
        return std::move(st).error();
      }
      continue;
    }
    if (end_) return make_error(Errc::not_found, key + " is missing from " + name_);
    if (auto st = advance(); !st) return std::move(st).error();
  }
}

}  // namespace layerleak::oci
