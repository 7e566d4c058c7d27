// Compiled Hyperscan databases kept on disk between runs, keyed by everything that decides their
// bytes: Hyperscan's version, the CPU features it compiles for, the mode, and every expression with
// its flags and id. Why: compiling the rules is most of a short run's start-up (~80 ms; ~700 ms under
// AddressSanitizer, whose allocator Hyperscan's compiler keeps busy), and CI jobs, hooks and tests
// start the scanner many times with the same rules.
//
// A cache never changes a result: a missing, foreign, truncated or corrupt file is a miss (Hyperscan
// checks the version, platform and a checksum on deserialising), and a failed write is dropped.
// Files are read only from a directory owned by the current user and not writable by others, so the
// cache is as trusted as the user's own home directory.
#pragma once

#include <hs/hs.h>

#include <memory>
#include <string>
#include <vector>

#include "layerleak/core.h"

namespace layerleak::detect {

struct DatabaseDeleter {
  void operator()(hs_database_t* db) const { hs_free_database(db); }
};
using DatabasePtr = std::unique_ptr<hs_database_t, DatabaseDeleter>;

struct CompileInput {
  std::vector<const char*> expressions;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  unsigned mode = HS_MODE_STREAM;
};

// The cache file name for `input` ("<sha256 hex>.hsdb").
std::string database_cache_key(const CompileInput& input);

// Reads `dir`/<key>.hsdb; null on any problem (no file, unsafe directory, wrong platform, damage).
DatabasePtr load_cached_database(const std::string& dir, const std::string& key);

// Writes `db` as `dir`/<key>.hsdb (0600, through a temporary file and a rename; `dir` created 0700).
// Best effort: failures are ignored.
void store_cached_database(const std::string& dir, const std::string& key, const hs_database_t& db);

}  // namespace layerleak::detect
