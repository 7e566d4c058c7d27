#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <vector>

#include "layerleak/cache.h"

namespace layerleak::cache {

namespace {

constexpr const char* kFileName = "layerleak-cache.sqlite3";
// The layout of a file written by layerleak before schema_migrations existed (meta.schema_version) is
// migration 1; later layouts only add tables, so the meta value stays "1" for older readers.
constexpr const char* kLegacyLayoutVersion = "1";

// Ordered; applied inside one BEGIN IMMEDIATE transaction, each recorded in schema_migrations. Never edit
// one that has shipped: add the next.
struct Migration {
  int version;
  std::vector<const char*> statements;
};
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      {1,
       {"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS layers (diff_id TEXT NOT NULL, profile TEXT NOT NULL, "
        "result BLOB NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (diff_id, profile))",
        "CREATE TABLE IF NOT EXISTS blobs (blob_digest TEXT NOT NULL PRIMARY KEY, diff_id TEXT NOT NULL, "
        "compression TEXT NOT NULL, compressed_bytes INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS reports (manifest_digest TEXT NOT NULL, profile TEXT NOT NULL, "
        "report TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (manifest_digest, profile))",
        "INSERT OR IGNORE INTO meta VALUES ('schema_version', '1')"}},
      {2,
       {// seq: enqueue order (claims go first enqueued first); claimed_until in ms since the epoch.
        "CREATE TABLE work_items (seq INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT NOT NULL, key TEXT NOT NULL, "
        "payload BLOB NOT NULL, owner TEXT, claimed_until INTEGER, done INTEGER NOT NULL DEFAULT 0, result BLOB, "
        "UNIQUE (run, key))",
        "CREATE INDEX work_items_claimable ON work_items (run, done, seq)",
        "CREATE TABLE claims (scope TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, "
        "claimed_until INTEGER NOT NULL, PRIMARY KEY (scope, key))"}},
      {3,
       {// --verify results by the secret key's fingerprint (never the secret); stored_at in ms since the epoch.
        "CREATE TABLE verifications (fingerprint TEXT NOT NULL PRIMARY KEY, status TEXT NOT NULL, "
        "checked_at TEXT NOT NULL, http_status INTEGER, reason TEXT NOT NULL, api_key TEXT, "
        "stored_at INTEGER NOT NULL)"}},
  };
  return list;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

Error db_error(sqlite3* db, const std::string& what) {
  return make_error(Errc::io, "cache: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

Result<Stmt> prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
    return db_error(db, std::string("cannot prepare \"") + sql + "\"");
  }
  return Stmt(raw);
}

Status exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    Error e = make_error(Errc::io, std::string("cache: ") + (message ? message : "error") + " in \"" + sql + "\"");
    sqlite3_free(message);
    return e;
  }
  return Ok{};
}

// Binds text (or bytes) by index; SQLITE_TRANSIENT copies, so the argument need not outlive the call.
void bind_text(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}
void bind_blob(sqlite3_stmt* stmt, int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
}
std::string column(sqlite3_stmt* stmt, int index) {
  const void* data = sqlite3_column_blob(stmt, index);
  const int size = sqlite3_column_bytes(stmt, index);
  return data ? std::string(static_cast<const char*>(data), static_cast<std::size_t>(size)) : std::string();
}

// Resets a statement (and its bindings) when the scope ends, so it is ready for the next use.
struct Reset {
  sqlite3_stmt* stmt;
  ~Reset() {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
};

}  // namespace

struct ScanCache::Impl {
  std::string path;
  std::mutex mutex;  // guards the connection and its statements
  Db db;
  Stmt get_layer;
  Stmt get_blob;
  Stmt put_layer;
  Stmt put_blob;
  Stmt get_report;
  Stmt put_report;
  std::atomic<std::uint64_t> layer_hits{0}, layer_misses{0}, layer_puts{0};
  std::atomic<std::uint64_t> report_hits{0}, report_misses{0}, report_puts{0};
  std::atomic<std::uint64_t> evicted{0};
  std::uint64_t max_bytes = 0;  // 0: no budget (a file)
  int schema_version = 0;
  bool applied_migrations = false;
  int failed_code = 0;  // SQLite's error code of the statement that failed a transaction (before ROLLBACK)

  // Brings the schema up to the newest migration, one process at a time (BEGIN IMMEDIATE takes the
  // file's write lock; the others wait in the busy timeout, then find the migrations applied).
  Status migrate();
  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK when it fails). Called with `mutex` held.
  template <class T, class F>
  Result<T> transaction(F&& body);

  // Drops the oldest layer results and reports until what is stored fits max_bytes.
  // Called with `mutex` held after a put. Why oldest first rather than least recently used: a put is
  // the only write, and keeping it so spares a write on every hit.
  void evict_locked();
};

namespace {

std::uint64_t query_count(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) return 0;
  Stmt stmt(raw);
  return sqlite3_step(raw) == SQLITE_ROW ? static_cast<std::uint64_t>(sqlite3_column_int64(raw, 0)) : 0;
}

constexpr const char* kStoredBytes =
    "SELECT (SELECT coalesce(sum(length(CAST(result AS BLOB))), 0) FROM layers) + "
    "(SELECT coalesce(sum(length(CAST(report AS BLOB))), 0) FROM reports)";

}  // namespace

void ScanCache::Impl::evict_locked() {
  if (max_bytes == 0) return;
  sqlite3* raw = db.get();
  struct Table {
    const char* name;
    const char* column;
    std::uint64_t bytes = 0;
  } tables[] = {{"layers", "result"}, {"reports", "report"}};
  for (Table& t : tables) {
    t.bytes = query_count(raw, (std::string("SELECT coalesce(sum(length(CAST(") + t.column + " AS BLOB))), 0) FROM " + t.name).c_str());
  }
  bool dropped_layers = false;
  while (tables[0].bytes + tables[1].bytes > max_bytes) {
    // The oldest row of each table (rowids grow with every put); the older of the two goes, or, put in
    // the same second, the one from the table holding more.
    struct Oldest {
      bool found = false;
      sqlite3_int64 rowid = 0, created = 0;
      std::uint64_t size = 0;
    } oldest[2];
    for (int i = 0; i < 2; ++i) {
      const std::string sql = std::string("SELECT rowid, created, length(CAST(") + tables[i].column + " AS BLOB)) FROM " +
                              tables[i].name + " ORDER BY rowid LIMIT 1";
      sqlite3_stmt* select = nullptr;
      if (sqlite3_prepare_v2(raw, sql.c_str(), -1, &select, nullptr) != SQLITE_OK) return;
      Stmt owned(select);
      if (sqlite3_step(select) == SQLITE_ROW) {
        oldest[i] = {true, sqlite3_column_int64(select, 0), sqlite3_column_int64(select, 1),
                     static_cast<std::uint64_t>(sqlite3_column_int64(select, 2))};
      }
    }
    if (!oldest[0].found && !oldest[1].found) break;
    int victim = !oldest[1].found ? 0 : !oldest[0].found ? 1 : oldest[0].created != oldest[1].created
                                                                  ? (oldest[0].created < oldest[1].created ? 0 : 1)
                                                                  : (tables[0].bytes >= tables[1].bytes ? 0 : 1);
    const std::string remove = std::string("DELETE FROM ") + tables[victim].name + " WHERE rowid = " + std::to_string(oldest[victim].rowid);
    if (!exec(raw, remove.c_str())) return;
    tables[victim].bytes -= std::min(tables[victim].bytes, oldest[victim].size);
    dropped_layers = dropped_layers || victim == 0;
    ++evicted;
  }
  // Blob rows only say which content a blob holds; without the layer result they are of no use.
  if (dropped_layers) (void)exec(raw, "DELETE FROM blobs WHERE diff_id NOT IN (SELECT diff_id FROM layers)");
}

Status ScanCache::Impl::migrate() {
  sqlite3* raw = db.get();
  auto applied = transaction<int>([&]() -> Result<int> {
    if (auto st = exec(raw, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)"); !st) {
      return std::move(st).error();
    }
    // A file from before schema_migrations: its meta table says which layout it has.
    const bool has_meta = query_count(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'") > 0;
    if (has_meta) {
      auto version = prepare(raw, "SELECT value FROM meta WHERE key = 'schema_version'");
      if (!version) return std::move(version).error();
      const int step = sqlite3_step(version->get());
      if (step != SQLITE_ROW && step != SQLITE_DONE) return db_error(raw, "cannot read the schema version of " + path);
      if (step == SQLITE_ROW && column(version->get(), 0) != kLegacyLayoutVersion) {
        return make_error(Errc::unsupported, "cache: " + path + " was written by another layerleak version (schema " +
                                                 column(version->get(), 0) + "); remove it or use another --cache DIR");
      }
    }
    const int current = static_cast<int>(query_count(raw, "SELECT coalesce(max(version), 0) FROM schema_migrations"));
    if (current > migrations().back().version) {
      return make_error(Errc::unsupported, "cache: " + path + " has schema migration " + std::to_string(current) +
                                               ", newer than this layerleak knows (" +
                                               std::to_string(migrations().back().version) + "); upgrade layerleak");
    }
    for (const Migration& m : migrations()) {
      if (m.version <= current) continue;
      for (const char* sql : m.statements) {
        if (auto st = exec(raw, sql); !st) return std::move(st).error();
      }
      const std::string record = "INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", " +
                                 std::to_string(static_cast<long long>(std::time(nullptr))) + ")";
      if (auto st = exec(raw, record.c_str()); !st) return std::move(st).error();
      applied_migrations = true;
    }
    return migrations().back().version;
  });
  if (!applied) {
    Error e = std::move(applied).error();
    return e.message.find(path) == std::string::npos ? e.with_context(path) : e;
  }
  schema_version = *applied;
  return Ok{};
}

template <class T, class F>
Result<T> ScanCache::Impl::transaction(F&& body) {
  sqlite3* raw = db.get();
  if (auto st = exec(raw, "BEGIN IMMEDIATE"); !st) return std::move(st).error();
  Result<T> out = body();
  if (out) {
    if (auto st = exec(raw, "COMMIT"); !st) {
      (void)exec(raw, "ROLLBACK");
      return std::move(st).error();
    }
  } else {
    failed_code = sqlite3_errcode(raw);
    (void)exec(raw, "ROLLBACK");
  }
  return out;
}

ScanCache::ScanCache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ScanCache::~ScanCache() = default;

namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Creates DIR 0700 when it does not exist; an existing DIR (or a symlink to one: the user's choice) is
// left exactly as it is. Why not create_directories + chmod: chmod on an existing shared directory
// (say /var/cache) would lock its other users out.
Status ensure_directory(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Ok{};
    return make_error(Errc::io, "cache: " + dir + " exists and is not a directory");
  }
  if (errno != ENOENT) return make_error(Errc::io, "cache: cannot use directory " + dir + ": " + errno_text(errno));
  const std::filesystem::path parent = std::filesystem::path(dir).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return make_error(Errc::io, "cache: cannot create directory " + parent.string() + ": " + ec.message());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(Errc::io, "cache: cannot create directory " + dir + ": " + errno_text(errno));
  }
  return Ok{};
}

// Makes sure PATH is a regular file that is not a symlink, creating it 0600 (whatever the umask) when
// it does not exist. Why create it here rather than let SQLite: SQLite creates files 0644 & ~umask, and
// a chmod afterwards leaves a window in which the full secret values are readable by everyone.
Status ensure_database_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    const bool ok = ::fchmod(fd, 0600) == 0;  // the umask may have taken bits off, never added any
    ::close(fd);
    if (!ok) return make_error(Errc::io, "cache: cannot set the mode of " + path + ": " + errno_text(errno));
    return Ok{};
  }
  if (errno != EEXIST) return make_error(Errc::io, "cache: cannot create " + path + ": " + errno_text(errno));
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return make_error(Errc::io, "cache: cannot use " + path + ": " + errno_text(errno));
  if (S_ISLNK(st.st_mode)) {
    return make_error(Errc::io, "cache: " + path + " is a symbolic link; refusing to follow it (remove it or use another --cache DIR)");
  }
  if (!S_ISREG(st.st_mode)) return make_error(Errc::io, "cache: " + path + " is not a regular file");
  return Ok{};
}

// Renames PATH and its -wal and -shm companions to PATH.corrupt-<unix time>[-wal|-shm]. Returns the new
// name of the database file. Why the companions too: SQLite would replay an old -wal into the new file.
Result<std::string> move_aside(const std::string& path) {
  const std::string aside = path + ".corrupt-" + std::to_string(static_cast<long long>(std::time(nullptr)));
  if (std::rename(path.c_str(), aside.c_str()) != 0) {
    return make_error(Errc::io, "cache: cannot move the damaged " + path + " aside: " + errno_text(errno));
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string from = path + suffix;
    if (std::rename(from.c_str(), (aside + suffix).c_str()) != 0 && errno != ENOENT) {
      return make_error(Errc::io, "cache: cannot move " + from + " aside: " + errno_text(errno));
    }
  }
  return aside;
}

}  // namespace

Result<std::unique_ptr<ScanCache>> ScanCache::open(const std::string& dir) {
  if (auto st = ensure_directory(dir); !st) return std::move(st).error();
  // Why resolve the directory: SQLITE_OPEN_NOFOLLOW refuses a symbolic link anywhere in the path, and a
  // --cache directory reached through one (a mounted volume) is the user's choice. Only the database
  // file itself must never be a link.
  std::error_code resolved_error;
  const std::filesystem::path resolved = std::filesystem::canonical(dir, resolved_error);
  if (resolved_error) return make_error(Errc::io, "cache: cannot resolve " + dir + ": " + resolved_error.message());
  const std::string path = (resolved / kFileName).string();
  if (auto st = ensure_database_file(path); !st) return std::move(st).error();
  bool damaged = false;
  auto opened = open_file(path, &damaged);
  if (opened || !damaged) return opened;
  // Why not fail: a cache only saves work, and a damaged file used to stop serve from starting (and
  // so admit or deny every pod, by failurePolicy). The old file is kept for whoever wants to look.
  auto aside = move_aside(path);
  if (!aside) return std::move(aside).error();
  std::fprintf(stderr, "layerleak: cache %s is damaged (%s); moved aside to %s; starting empty\n", path.c_str(),
               opened.error().message.c_str(), aside->c_str());
  if (auto st = ensure_database_file(path); !st) return std::move(st).error();
  return open_file(path, nullptr);
}

Result<std::unique_ptr<ScanCache>> ScanCache::open_in_memory(std::uint64_t max_bytes) {
  auto opened = open_file(":memory:");
  if (opened) (*opened)->impl_->max_bytes = std::max<std::uint64_t>(max_bytes, 1);
  return opened;
}

Result<std::unique_ptr<ScanCache>> ScanCache::open_file(const std::string& path, bool* damaged) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  sqlite3* raw = nullptr;
  // The file exists already (open() made it 0600); NOFOLLOW closes the gap between that check and this open.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (path == ":memory:" ? SQLITE_OPEN_CREATE : SQLITE_OPEN_NOFOLLOW);
  const int rc = sqlite3_open_v2(impl->path.c_str(), &raw, flags, nullptr);
  impl->db.reset(raw);
  if (rc != SQLITE_OK) return db_error(raw, "cannot open " + impl->path);
  sqlite3* db = impl->db.get();
  // Why no PRAGMA quick_check: it reads the whole file on every `scan --cache`. A file that is not a
  // database, or whose schema pages are damaged, fails the statements below with SQLITE_NOTADB or
  // SQLITE_CORRUPT; damage deeper in reads as a miss (see get()).
  const auto mark_damage = [&] {
    const int code = (impl->failed_code ? impl->failed_code : sqlite3_errcode(db)) & 0xff;
    if (damaged && (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)) *damaged = true;
  };
  // Why a busy timeout: `scan --cache` and `serve` may share the file; WAL lets readers run while one
  // process writes, and the timeout waits out the other's short write transactions.
  sqlite3_busy_timeout(db, 10000);
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"}) {
    if (auto st = exec(db, sql); !st) {
      mark_damage();
      return std::move(st).error().with_context(impl->path);
    }
  }
  if (auto st = impl->migrate(); !st) {
    mark_damage();
    return std::move(st).error();
  }
  struct {
    Stmt* stmt;
    const char* sql;
  } statements[] = {
      {&impl->get_layer, "SELECT result FROM layers WHERE diff_id = ?1 AND profile = ?2"},
      {&impl->get_blob, "SELECT diff_id, compression, compressed_bytes FROM blobs WHERE blob_digest = ?1"},
      {&impl->put_layer, "INSERT OR REPLACE INTO layers VALUES (?1, ?2, ?3, ?4)"},
      {&impl->put_blob, "INSERT OR REPLACE INTO blobs VALUES (?1, ?2, ?3, ?4)"},
      {&impl->get_report, "SELECT report FROM reports WHERE manifest_digest = ?1 AND profile = ?2"},
      {&impl->put_report, "INSERT OR REPLACE INTO reports VALUES (?1, ?2, ?3, ?4)"},
  };
  for (auto& [stmt, sql] : statements) {
    auto prepared = prepare(db, sql);
    if (!prepared) return std::move(prepared).error();
    *stmt = std::move(prepared).value();
  }
  return std::unique_ptr<ScanCache>(new ScanCache(std::move(impl)));
}

std::optional<pipeline::CachedLayer> ScanCache::get(const pipeline::LayerKey& key) {
  std::string compression;
  std::uint64_t compressed_bytes = 0;
  std::string stored;
  {
    std::lock_guard lock(impl_->mutex);
    // The blob must be known to hold this content: compression and size are reported per blob.
    sqlite3_stmt* blob = impl_->get_blob.get();
    Reset reset_blob{blob};
    bind_text(blob, 1, key.blob_digest.str());
    if (sqlite3_step(blob) != SQLITE_ROW || column(blob, 0) != key.diff_id.str()) {
      ++impl_->layer_misses;
      return std::nullopt;
    }
    compression = column(blob, 1);
    compressed_bytes = static_cast<std::uint64_t>(sqlite3_column_int64(blob, 2));
    sqlite3_stmt* layer = impl_->get_layer.get();
    Reset reset_layer{layer};
    bind_text(layer, 1, key.diff_id.str());
    bind_text(layer, 2, key.profile);
    if (sqlite3_step(layer) != SQLITE_ROW) {
      ++impl_->layer_misses;
      return std::nullopt;
    }
    stored = column(layer, 0);
  }
  auto decoded = decode_layer(stored);
  if (!decoded) {
    ++impl_->layer_misses;
    return std::nullopt;
  }
  decoded->compression = std::move(compression);
  decoded->compressed_bytes = compressed_bytes;
  ++impl_->layer_hits;
  return std::move(decoded).value();
}

void ScanCache::put(const pipeline::LayerKey& key, const pipeline::CachedLayer& layer) {
  const std::string encoded = encode_layer(layer);
  const auto now = static_cast<sqlite3_int64>(std::time(nullptr));
  std::lock_guard lock(impl_->mutex);
  sqlite3* db = impl_->db.get();
  if (!exec(db, "BEGIN IMMEDIATE")) return;
  bool ok = true;
  {
    sqlite3_stmt* stmt = impl_->put_layer.get();
    Reset reset{stmt};
    bind_text(stmt, 1, key.diff_id.str());
    bind_text(stmt, 2, key.profile);
    bind_blob(stmt, 3, encoded);
    sqlite3_bind_int64(stmt, 4, now);
    ok = sqlite3_step(stmt) == SQLITE_DONE;
  }
  if (ok) {
    sqlite3_stmt* stmt = impl_->put_blob.get();
    Reset reset{stmt};
    bind_text(stmt, 1, key.blob_digest.str());
    bind_text(stmt, 2, key.diff_id.str());
    bind_text(stmt, 3, layer.compression);
    sqlite3_bind_int64(stmt, 4, static_cast<sqlite3_int64>(layer.compressed_bytes));
    ok = sqlite3_step(stmt) == SQLITE_DONE;
  }
  // A failed put is dropped (the cache must never change a result); the next scan simply misses.
  if (ok && exec(db, "COMMIT")) {
    ++impl_->layer_puts;
    impl_->evict_locked();
  } else {
    (void)exec(db, "ROLLBACK");
  }
}

std::optional<std::string> ScanCache::get_report(const std::string& manifest_digest, const std::string& profile) {
  std::lock_guard lock(impl_->mutex);
  sqlite3_stmt* stmt = impl_->get_report.get();
  Reset reset{stmt};
  bind_text(stmt, 1, manifest_digest);
  bind_text(stmt, 2, profile);
  if (sqlite3_step(stmt) != SQLITE_ROW) {
    ++impl_->report_misses;
    return std::nullopt;
  }
  ++impl_->report_hits;
  return column(stmt, 0);
}

Status ScanCache::put_report(const std::string& manifest_digest, const std::string& profile, std::string_view report_json) {
  std::lock_guard lock(impl_->mutex);
  sqlite3_stmt* stmt = impl_->put_report.get();
  Reset reset{stmt};
  bind_text(stmt, 1, manifest_digest);
  bind_text(stmt, 2, profile);
  bind_text(stmt, 3, report_json);
  sqlite3_bind_int64(stmt, 4, static_cast<sqlite3_int64>(std::time(nullptr)));
  if (sqlite3_step(stmt) != SQLITE_DONE) return db_error(impl_->db.get(), "cannot store the report of " + manifest_digest);
  ++impl_->report_puts;
  impl_->evict_locked();
  return Ok{};
}

CacheStats ScanCache::stats() const {
  return CacheStats{impl_->layer_hits.load(), impl_->layer_misses.load(), impl_->layer_puts.load(),
                    impl_->report_hits.load(), impl_->report_misses.load(), impl_->report_puts.load(),
                    impl_->evicted.load()};
}

std::uint64_t ScanCache::stored_bytes() const {
  std::lock_guard lock(impl_->mutex);
  return query_count(impl_->db.get(), kStoredBytes);
}

const std::string& ScanCache::path() const { return impl_->path; }

// --- Work queue and claims ---

namespace {

// One-off statements for the queue: prepared per call (the queue is used far less than the layer cache).
struct Query {
  Stmt stmt;
  static Result<Query> make(sqlite3* db, const char* sql) {
    auto prepared = prepare(db, sql);
    if (!prepared) return std::move(prepared).error();
    return Query{std::move(prepared).value()};
  }
  sqlite3_stmt* get() const { return stmt.get(); }
};

}  // namespace

Result<std::uint64_t> ScanCache::enqueue(const std::string& run, const std::vector<WorkItem>& items) {
  std::lock_guard lock(impl_->mutex);
  sqlite3* db = impl_->db.get();
  return impl_->transaction<std::uint64_t>([&]() -> Result<std::uint64_t> {
    auto q = Query::make(db, "INSERT INTO work_items (run, key, payload) VALUES (?1, ?2, ?3) ON CONFLICT (run, key) DO NOTHING");
    if (!q) return std::move(q).error();
    std::uint64_t added = 0;
    for (const WorkItem& item : items) {
      Reset reset{q->get()};
      bind_text(q->get(), 1, run);
      bind_text(q->get(), 2, item.key);
      bind_blob(q->get(), 3, item.payload);
      if (sqlite3_step(q->get()) != SQLITE_DONE) return db_error(db, "cannot enqueue work of run " + run);
      added += static_cast<std::uint64_t>(sqlite3_changes(db));
    }
    return added;
  });
}

Result<std::optional<WorkItem>> ScanCache::claim_next(const std::string& run, const std::string& worker,
                                                      std::chrono::milliseconds lease) {
  std::lock_guard lock(impl_->mutex);
  sqlite3* db = impl_->db.get();
  // Why a transaction rather than SKIP LOCKED: SQLite has one writer at a time, so BEGIN IMMEDIATE makes
  // the select and the update one step for every process sharing the file.
  return impl_->transaction<std::optional<WorkItem>>([&]() -> Result<std::optional<WorkItem>> {
    const std::int64_t now = now_ms();
    auto pick = Query::make(db, "SELECT seq, key, payload FROM work_items WHERE run = ?1 AND done = 0 AND "
                                "(claimed_until IS NULL OR claimed_until <= ?2) ORDER BY seq LIMIT 1");
    if (!pick) return std::move(pick).error();
    bind_text(pick->get(), 1, run);
    sqlite3_bind_int64(pick->get(), 2, now);
    const int step = sqlite3_step(pick->get());
    if (step == SQLITE_DONE) return std::optional<WorkItem>();
    if (step != SQLITE_ROW) return db_error(db, "cannot claim work of run " + run);
    WorkItem item{run, column(pick->get(), 1), column(pick->get(), 2)};
    const sqlite3_int64 seq = sqlite3_column_int64(pick->get(), 0);
    auto take = Query::make(db, "UPDATE work_items SET owner = ?1, claimed_until = ?2 WHERE seq = ?3");
    if (!take) return std::move(take).error();
    bind_text(take->get(), 1, worker);
    sqlite3_bind_int64(take->get(), 2, now + lease.count());
    sqlite3_bind_int64(take->get(), 3, seq);
    if (sqlite3_step(take->get()) != SQLITE_DONE) return db_error(db, "cannot claim work of run " + run);
    return std::optional<WorkItem>(std::move(item));
  });
}

Result<bool> ScanCache::renew(const std::string& run, const std::string& key, const std::string& worker,
                              std::chrono::milliseconds lease) {
  std::lock_guard lock(impl_->mutex);
  sqlite3* db = impl_->db.get();
  auto q = Query::make(db, "UPDATE work_items SET claimed_until = ?4 WHERE run = ?1 AND key = ?2 AND owner = ?3 "
                           "AND done = 0 AND claimed_until > ?5");
  if (!q) return std::move(q).error();
  const std::int64_t now = now_ms();
  bind_text(q->get(), 1, run);
  bind_text(q->get(), 2, key);
  bind_text(q->get(), 3, worker);
  sqlite3_bind_int64(q->get(), 4, now + lease.count());
  sqlite3_bind_int64(q->get(), 5, now);
  if (sqlite3_step(q->get()) != SQLITE_DONE) return db_error(db, "cannot renew the lease on " + key);
  return sqlite3_changes(db) == 1;
}

Result<bool> ScanCache::complete(const std::string& run, const std::string& key, std::string_view result) {
  std::lock_guard lock(impl_->mutex);
  sqlite3* db = impl_->db.get();
  return impl_->transaction<bool>([&]() -> Result<bool> {
    auto q = Query::make(db, "UPDATE work_items SET done = 1, result = ?3, claimed_until = NULL "
                             "WHERE run = ?1 AND key = ?2 AND done = 0");
    if (!q) return std::move(q).error();
    bind_text(q->get(), 1, run);
    bind_text(q->get(), 2, key);
    bind_blob(q->get(), 3, result);
    if (sqlite3_step(q->get()) != SQLITE_DONE) return db_error(db, "cannot complete " + key);
    if (sqlite3_changes(db) == 1) return true;
    auto exists = Query::make(db, "SELECT 1 FROM work_items WHERE run = ?1 AND key = ?2");
    if (!exists) return std::move(exists).error();
    bind_text(exists->get(), 1, run);
    bind_text(exists->get(), 2, key);
    if (sqlite3_step(exists->get()) != SQLITE_ROW) {
      return make_error(Errc::not_found, "store: no work item " + key + " in run " + run);
    }
    return false;
  });
}

Result<std::vector<CompletedItem>> ScanCache::results(const std::string& run) {
  std::lock_guard lock(impl_->mutex);
  sqlite3* db = impl_->db.get();
  // Why CAST: ORDER BY a BLOB compares bytes (memcmp), as PostgreSQL's COLLATE "C" does for text.
  auto q = Query::make(db, "SELECT key, payload, result FROM work_items WHERE run = ?1 AND done = 1 ORDER BY CAST(key AS BLOB)");
  if (!q) return std::move(q).error();
  bind_text(q->get(), 1, run);
  std::vector<CompletedItem> out;
  int step = SQLITE_ROW;
  while ((step = sqlite3_step(q->get())) == SQLITE_ROW) {
    out.push_back({column(q->get(), 0), column(q->get(), 1), column(q->get(), 2)});
  }
  if (step != SQLITE_DONE) return db_error(db, "cannot read the results of run " + run);
  return out;
}

Result<WorkCounts> ScanCache::pending(const std::string& run) {
  std::lock_guard lock(impl_->mutex);
  sqlite3* db = impl_->db.get();
  auto q = Query::make(db, "SELECT count(*), coalesce(sum(done), 0), coalesce(sum(done = 0 AND claimed_until > ?2), 0) "
                           "FROM work_items WHERE run = ?1");
  if (!q) return std::move(q).error();
  bind_text(q->get(), 1, run);
  sqlite3_bind_int64(q->get(), 2, now_ms());
  if (sqlite3_step(q->get()) != SQLITE_ROW) return db_error(db, "cannot count the work of run " + run);
  return WorkCounts{static_cast<std::uint64_t>(sqlite3_column_int64(q->get(), 0)),
                    static_cast<std::uint64_t>(sqlite3_column_int64(q->get(), 1)),
                    static_cast<std::uint64_t>(sqlite3_column_int64(q->get(), 2))};
}

Result<bool> ScanCache::try_claim(const std::string& scope, const std::string& key, const std::string& owner,
                                  std::chrono::milliseconds lease) {
  std::lock_guard lock(impl_->mutex);
  sqlite3* db = impl_->db.get();
  auto q = Query::make(db, "INSERT INTO claims VALUES (?1, ?2, ?3, ?4) ON CONFLICT (scope, key) DO UPDATE SET "
                           "owner = excluded.owner, claimed_until = excluded.claimed_until "
                           "WHERE claims.owner = excluded.owner OR claims.claimed_until <= ?5");
  if (!q) return std::move(q).error();
  const std::int64_t now = now_ms();
  bind_text(q->get(), 1, scope);
  bind_text(q->get(), 2, key);
  bind_text(q->get(), 3, owner);
  sqlite3_bind_int64(q->get(), 4, now + lease.count());
  sqlite3_bind_int64(q->get(), 5, now);
  if (sqlite3_step(q->get()) != SQLITE_DONE) return db_error(db, "cannot claim " + key);
  return sqlite3_changes(db) == 1;
}

Status ScanCache::release(const std::string& scope, const std::string& key, const std::string& owner) {
  std::lock_guard lock(impl_->mutex);
  sqlite3* db = impl_->db.get();
  auto q = Query::make(db, "DELETE FROM claims WHERE scope = ?1 AND key = ?2 AND owner = ?3");
  if (!q) return std::move(q).error();
  bind_text(q->get(), 1, scope);
  bind_text(q->get(), 2, key);
  bind_text(q->get(), 3, owner);
  if (sqlite3_step(q->get()) != SQLITE_DONE) return db_error(db, "cannot release " + key);
  return Ok{};
}

std::optional<VerificationRecord> ScanCache::get_verification(const std::string& fingerprint, std::chrono::seconds ttl) {
  std::lock_guard lock(impl_->mutex);
  sqlite3* db = impl_->db.get();
  auto q = Query::make(db, "SELECT status, checked_at, http_status, reason, api_key FROM verifications "
                           "WHERE fingerprint = ?1 AND stored_at > ?2");
  if (!q) return std::nullopt;
  bind_text(q->get(), 1, fingerprint);
  sqlite3_bind_int64(q->get(), 2, now_ms() - static_cast<std::int64_t>(ttl.count()) * 1000);
  if (sqlite3_step(q->get()) != SQLITE_ROW) return std::nullopt;
  VerificationRecord record{column(q->get(), 0), column(q->get(), 1), std::nullopt, column(q->get(), 3), column(q->get(), 4)};
  if (sqlite3_column_type(q->get(), 2) == SQLITE_INTEGER) record.http_status = sqlite3_column_int(q->get(), 2);
  return record;
}

Status ScanCache::put_verification(const std::string& fingerprint, const VerificationRecord& record) {
  if (record.status == "unknown") return Ok{};  // Why: a timeout now says nothing about the next minute
  std::lock_guard lock(impl_->mutex);
  sqlite3* db = impl_->db.get();
  auto q = Query::make(db, "INSERT OR REPLACE INTO verifications VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!q) return std::move(q).error();
  bind_text(q->get(), 1, fingerprint);
  bind_text(q->get(), 2, record.status);
  bind_text(q->get(), 3, record.checked_at);
  if (record.http_status) sqlite3_bind_int(q->get(), 4, *record.http_status);
  bind_text(q->get(), 5, record.reason);
  if (!record.api_key_json.empty()) bind_text(q->get(), 6, record.api_key_json);
  sqlite3_bind_int64(q->get(), 7, now_ms());
  if (sqlite3_step(q->get()) != SQLITE_DONE) return db_error(db, "cannot store a verification result");
  return Ok{};
}

int ScanCache::schema_version() const { return impl_->schema_version; }
bool ScanCache::applied_migrations() const { return impl_->applied_migrations; }

}  // namespace layerleak::cache
