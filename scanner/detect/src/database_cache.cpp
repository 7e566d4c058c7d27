#include "database_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace layerleak::detect {

namespace {

// A compiled rule set is a few hundred KiB; anything far larger is not one of ours.
constexpr off_t kMaxFileBytes = 64 << 20;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

struct HsMemory {
  char* bytes = nullptr;
  ~HsMemory() { std::free(bytes); }  // hs_serialize_database allocates with the default misc allocator (malloc)
};

// The directory is ours alone: owned by this user, no write permission for group or others.
bool directory_is_private(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  return st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

bool make_private_directory(const std::string& dir) {
  if (directory_is_private(dir)) return true;
  // Parents (e.g. ~/.cache) are created as the user's other tools do; only the last level is ours.
  for (std::size_t slash = dir.find('/', 1); slash != std::string::npos; slash = dir.find('/', slash + 1)) {
    ::mkdir(dir.substr(0, slash).c_str(), 0755);
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return false;
  return directory_is_private(dir);
}

bool read_all(int fd, std::string& out) {
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool write_all(int fd, const char* bytes, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::string database_cache_key(const CompileInput& input) {
  Sha256 hash;
  hash.update(std::string_view("layerleak-hsdb-1\n"));
  hash.update(std::string_view(hs_version()));
  hs_platform_info_t platform{};
  if (hs_populate_platform(&platform) == HS_SUCCESS) {
    hash.update(std::string_view(reinterpret_cast<const char*>(&platform), sizeof platform));
  }
  hash.update(std::string_view("\nmode " + std::to_string(input.mode) + "\n"));
  for (std::size_t i = 0; i < input.expressions.size(); ++i) {
    // Lengths first, so that no two different lists hash the same bytes.
    std::string_view expression(input.expressions[i]);
    const std::string header = std::to_string(expression.size()) + ":" + std::to_string(input.flags[i]) + ":" +
                               std::to_string(input.ids[i]) + ":";
    hash.update(std::string_view(header));
    hash.update(expression);
  }
  return hash.finish().hex + ".hsdb";
}

DatabasePtr load_cached_database(const std::string& dir, const std::string& key) {
  if (dir.empty() || !directory_is_private(dir)) return nullptr;
  Fd file(::open((dir + "/" + key).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (file.fd < 0) return nullptr;
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || st.st_size <= 0 ||
      st.st_size > kMaxFileBytes) {
    return nullptr;
  }
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  if (!read_all(file.fd, bytes)) return nullptr;
  hs_database_t* db = nullptr;
  // Hyperscan refuses another version or platform and checks the bytecode's CRC.
  if (hs_deserialize_database(bytes.data(), bytes.size(), &db) != HS_SUCCESS) return nullptr;
  return DatabasePtr(db);
}

void store_cached_database(const std::string& dir, const std::string& key, const hs_database_t& db) {
  if (dir.empty() || !make_private_directory(dir)) return;
  HsMemory serialized;
  std::size_t size = 0;
  if (hs_serialize_database(&db, &serialized.bytes, &size) != HS_SUCCESS) return;
  std::string temp = dir + "/." + key + ".XXXXXX";
  Fd file(::mkostemp(temp.data(), O_CLOEXEC));  // 0600
  if (file.fd < 0) return;
  bool ok = write_all(file.fd, serialized.bytes, size);
  ok = ::close(file.fd) == 0 && ok;
  file.fd = -1;
  // Concurrent runs write the same bytes: whichever rename lands last wins, readers never see half a file.
  if (!ok || std::rename(temp.c_str(), (dir + "/" + key).c_str()) != 0) ::unlink(temp.c_str());
}

}  // namespace layerleak::detect
