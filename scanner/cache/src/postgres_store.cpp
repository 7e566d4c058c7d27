// The PostgreSQL implementation of Store, over libpq. One connection behind a mutex (as the SQLite file's);
// several processes or machines share the database. Every value travels as a query parameter
// (PQexecParams), never inside SQL text; blobs (layer results, payloads, results) are BYTEA sent and read
// in binary. Leases are measured on the server's clock (clock_timestamp()), so workers on hosts whose clocks
// differ agree on when a lease ends.
#include "postgres_store.h"
#include "layerleak/cache.h"

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <vector>

namespace layerleak::cache {

namespace {

// Any constant of our own: pg_advisory_lock's key for "layerleak is migrating this database".
constexpr long long kMigrationLock = 0x6c61796c65616b31LL;  // "layleak1"

struct ConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultClearer {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;
using PgResult = std::unique_ptr<PGresult, ResultClearer>;

struct Migration {
  int version;
  std::vector<const char*> statements;
};

// Ordered; each applied in its own transaction and recorded in schema_migrations, all under the advisory
// lock. Never edit one that has shipped: add the next.
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      {1,
       {"CREATE TABLE layers (diff_id TEXT NOT NULL, profile TEXT NOT NULL, result BYTEA NOT NULL, "
        "created TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (diff_id, profile))",
        "CREATE TABLE blobs (blob_digest TEXT NOT NULL PRIMARY KEY, diff_id TEXT NOT NULL, "
        "compression TEXT NOT NULL, compressed_bytes BIGINT NOT NULL)",
        "CREATE TABLE reports (manifest_digest TEXT NOT NULL, profile TEXT NOT NULL, report TEXT NOT NULL, "
        "created TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (manifest_digest, profile))"}},
      {2,
       {"CREATE TABLE work_items (seq BIGSERIAL PRIMARY KEY, run TEXT NOT NULL, key TEXT COLLATE \"C\" NOT NULL, "
        "payload BYTEA NOT NULL, owner TEXT, claimed_until TIMESTAMPTZ, done BOOLEAN NOT NULL DEFAULT false, "
        "result BYTEA, UNIQUE (run, key))",
        "CREATE INDEX work_items_claimable ON work_items (run, seq) WHERE NOT done",
        "CREATE TABLE claims (scope TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, "
        "claimed_until TIMESTAMPTZ NOT NULL, PRIMARY KEY (scope, key))"}},
      {3,
       {"CREATE TABLE verifications (fingerprint TEXT NOT NULL PRIMARY KEY, status TEXT NOT NULL, "
        "checked_at TEXT NOT NULL, http_status INTEGER, reason TEXT NOT NULL, api_key TEXT, "
        "stored_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"}},
  };
  return list;
}

// A query parameter: text (digests, names, numbers as decimal text) or bytes (BYTEA, sent in binary).
struct Param {
  std::string_view value;
  bool binary = false;
};
Param text(std::string_view v) { return {v, false}; }
Param bytes(std::string_view v) { return {v, true}; }

std::string field(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return {};
  return std::string(PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col)));
}

// A big-endian int8 from a binary result.
std::int64_t int8_field(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, col));
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return static_cast<std::int64_t>(v);
}

class PostgresStore final : public Store {
 public:
  static Result<std::unique_ptr<Store>> open(const std::string& spec);

  std::optional<pipeline::CachedLayer> get(const pipeline::LayerKey& key) override;
  void put(const pipeline::LayerKey& key, const pipeline::CachedLayer& layer) override;
  std::optional<std::string> get_report(const std::string& manifest_digest, const std::string& profile) override;
  Status put_report(const std::string& manifest_digest, const std::string& profile, std::string_view report_json) override;
  std::optional<VerificationRecord> get_verification(const std::string& fingerprint, std::chrono::seconds ttl) override;
  Status put_verification(const std::string& fingerprint, const VerificationRecord& record) override;
  Result<std::uint64_t> enqueue(const std::string& run, const std::vector<WorkItem>& items) override;
  Result<std::optional<WorkItem>> claim_next(const std::string& run, const std::string& worker,
                                             std::chrono::milliseconds lease) override;
  Result<bool> renew(const std::string& run, const std::string& key, const std::string& worker,
                     std::chrono::milliseconds lease) override;
  Result<bool> complete(const std::string& run, const std::string& key, std::string_view result) override;
  Result<std::vector<CompletedItem>> results(const std::string& run) override;
  Result<WorkCounts> pending(const std::string& run) override;
  Result<bool> try_claim(const std::string& scope, const std::string& key, const std::string& owner,
                         std::chrono::milliseconds lease) override;
  Status release(const std::string& scope, const std::string& key, const std::string& owner) override;
  CacheStats stats() const override {
    return CacheStats{layer_hits_.load(), layer_misses_.load(), layer_puts_.load(), report_hits_.load(),
                      report_misses_.load(), report_puts_.load(), 0};
  }
  std::string describe() const override { return description_; }
  int schema_version() const override { return schema_version_; }
  bool applied_migrations() const override { return applied_migrations_; }

 private:
  explicit PostgresStore(Conn conn) : conn_(std::move(conn)) {}
  // Runs one statement with parameters; `binary_result` asks for binary columns (BYTEA as raw bytes, int8
  // as 8 big-endian bytes). Reconnects once when the connection was lost. Called with mutex_ held.
  Result<PgResult> run(const char* sql, const std::vector<Param>& params, bool binary_result = false);
  Status migrate();
  Error error(const std::string& what) const {
    std::string message = PQerrorMessage(conn_.get());
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    return make_error(Errc::io, "store: " + what + " (" + description_ + "): " + message);
  }

  mutable std::mutex mutex_;
  Conn conn_;
  std::string description_;
  int schema_version_ = 0;
  bool applied_migrations_ = false;
  std::atomic<std::uint64_t> layer_hits_{0}, layer_misses_{0}, layer_puts_{0};
  std::atomic<std::uint64_t> report_hits_{0}, report_misses_{0}, report_puts_{0};
};

Result<PgResult> PostgresStore::run(const char* sql, const std::vector<Param>& params, bool binary_result) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  // Text parameters must be NUL-terminated for libpq: keep copies.
  std::vector<std::string> owned;
  owned.reserve(params.size());
  for (const Param& p : params) {
    owned.emplace_back(p.value);
    values.push_back(owned.back().c_str());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    PgResult r(PQexecParams(conn_.get(), sql, static_cast<int>(values.size()), nullptr, values.data(), lengths.data(),
                            formats.data(), binary_result ? 1 : 0));
    const ExecStatusType status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
    // Why one retry after a reset: a database restart or a dropped idle connection must not fail every
    // later request of a long-running serve. Only when the connection itself is gone.
    if (attempt == 0 && PQstatus(conn_.get()) == CONNECTION_BAD) {
      PQreset(conn_.get());
      if (PQstatus(conn_.get()) == CONNECTION_OK) continue;
    }
    std::string message = r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_.get());
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    return make_error(Errc::io, "store (" + description_ + "): " + message);
  }
  return error("connection lost");
}

Result<std::unique_ptr<Store>> PostgresStore::open(const std::string& spec) {
  if (auto loaded = load_libpq(); !loaded) return std::move(loaded).error();
  // "postgresql:" alone: an empty conninfo, so libpq takes everything from PG* variables.
  const std::string conninfo = spec == "postgresql:" || spec == "postgres:" ? std::string() : spec;
  Conn conn(PQconnectdb(conninfo.c_str()));
  if (!conn) return make_error(Errc::io, "store: out of memory connecting to PostgreSQL");
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(conn)));
  PGconn* c = store->conn_.get();
  // Never the URI: it may hold a password.
  const char* host = PQhost(c);
  const char* port = PQport(c);
  const char* db = PQdb(c);
  store->description_ = std::string("postgresql://") + (host && host[0] != '/' ? host : "") + (port && *port ? std::string(":") + port : "") +
                        "/" + (db ? db : "") + (host && host[0] == '/' ? std::string(" (socket in ") + host + ")" : "");
  if (PQstatus(c) != CONNECTION_OK) return store->error("cannot connect");
  // Quiet NOTICEs ("relation already exists") would go to stderr otherwise.
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  std::lock_guard lock(store->mutex_);
  if (auto st = store->migrate(); !st) return std::move(st).error();
  return std::unique_ptr<Store>(std::move(store));
}

Status PostgresStore::migrate() {
  const std::string lock_key = std::to_string(kMigrationLock);
  // Session-level lock: held across the per-migration transactions, released below whatever happens.
  if (auto r = run("SELECT pg_advisory_lock($1::bigint)", {text(lock_key)}); !r) return std::move(r).error();
  auto body = [&]() -> Status {
    if (auto r = run("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                     "applied TIMESTAMPTZ NOT NULL DEFAULT now())", {});
        !r) {
      return std::move(r).error();
    }
    auto current = run("SELECT coalesce(max(version), 0) FROM schema_migrations", {});
    if (!current) return std::move(current).error();
    const int have = std::atoi(PQgetvalue(current->get(), 0, 0));
    if (have > migrations().back().version) {
      return make_error(Errc::unsupported, "store (" + description_ + "): schema migration " + std::to_string(have) +
                                               " is newer than this layerleak knows (" +
                                               std::to_string(migrations().back().version) + "); upgrade layerleak");
    }
    for (const Migration& m : migrations()) {
      if (m.version <= have) continue;
      if (auto r = run("BEGIN", {}); !r) return std::move(r).error();
      Status step = Ok{};
      for (const char* sql : m.statements) {
        if (auto r = run(sql, {}); !r) {
          step = std::move(r).error();
          break;
        }
      }
      if (step) {
        const std::string version = std::to_string(m.version);
        if (auto r = run("INSERT INTO schema_migrations (version) VALUES ($1::integer)", {text(version)}); !r) step = std::move(r).error();
      }
      if (step) {
        if (auto r = run("COMMIT", {}); !r) step = std::move(r).error();
      }
      if (!step) {
        (void)run("ROLLBACK", {});
        return std::move(step).error().with_context("migration " + std::to_string(m.version));
      }
      applied_migrations_ = true;
    }
    schema_version_ = migrations().back().version;
    return Ok{};
  };
  Status result = body();
  (void)run("SELECT pg_advisory_unlock($1::bigint)", {text(lock_key)});
  return result;
}

std::optional<pipeline::CachedLayer> PostgresStore::get(const pipeline::LayerKey& key) {
  PgResult found;
  {
    std::lock_guard lock(mutex_);
    // One round trip: the blob must be known to hold this content (compression and size are per blob).
    auto r = run("SELECT l.result, b.compression, b.compressed_bytes FROM blobs b JOIN layers l "
                 "ON l.diff_id = b.diff_id AND l.profile = $3 WHERE b.blob_digest = $1 AND b.diff_id = $2",
                 {text(key.blob_digest.str()), text(key.diff_id.str()), text(key.profile)}, true);
    if (!r || PQntuples(r->get()) != 1) {
      ++layer_misses_;
      return std::nullopt;
    }
    found = std::move(r).value();
  }
  auto decoded = decode_layer(field(found.get(), 0, 0));
  if (!decoded) {
    ++layer_misses_;
    return std::nullopt;
  }
  decoded->compression = field(found.get(), 0, 1);
  decoded->compressed_bytes = static_cast<std::uint64_t>(int8_field(found.get(), 0, 2));
  ++layer_hits_;
  return std::move(decoded).value();
}

void PostgresStore::put(const pipeline::LayerKey& key, const pipeline::CachedLayer& layer) {
  const std::string encoded = encode_layer(layer);
  const std::string compressed = std::to_string(layer.compressed_bytes);
  std::lock_guard lock(mutex_);
  // One statement, so no transaction is left open when the connection drops half-way.
  auto r = run("WITH l AS (INSERT INTO layers (diff_id, profile, result) VALUES ($1, $2, $3) ON CONFLICT (diff_id, profile) "
               "DO UPDATE SET result = excluded.result, created = now()) "
               "INSERT INTO blobs VALUES ($4, $1, $5, $6::bigint) ON CONFLICT (blob_digest) DO UPDATE SET "
               "diff_id = excluded.diff_id, compression = excluded.compression, compressed_bytes = excluded.compressed_bytes",
               {text(key.diff_id.str()), text(key.profile), bytes(encoded), text(key.blob_digest.str()), text(layer.compression),
                text(compressed)});
  // A failed put is dropped (the store must never change a result); the next scan simply misses.
  if (r) ++layer_puts_;
}

std::optional<std::string> PostgresStore::get_report(const std::string& manifest_digest, const std::string& profile) {
  std::lock_guard lock(mutex_);
  auto r = run("SELECT report FROM reports WHERE manifest_digest = $1 AND profile = $2", {text(manifest_digest), text(profile)});
  if (!r || PQntuples(r->get()) != 1) {
    ++report_misses_;
    return std::nullopt;
  }
  ++report_hits_;
  return field(r->get(), 0, 0);
}

Status PostgresStore::put_report(const std::string& manifest_digest, const std::string& profile, std::string_view report_json) {
  std::lock_guard lock(mutex_);
  auto r = run("INSERT INTO reports (manifest_digest, profile, report) VALUES ($1, $2, $3) ON CONFLICT (manifest_digest, profile) "
               "DO UPDATE SET report = excluded.report, created = now()",
               {text(manifest_digest), text(profile), text(report_json)});
  if (!r) return std::move(r).error().with_context("cannot store the report of " + manifest_digest);
  ++report_puts_;
  return Ok{};
}

std::optional<VerificationRecord> PostgresStore::get_verification(const std::string& fingerprint, std::chrono::seconds ttl) {
  const std::string seconds = std::to_string(ttl.count());
  std::lock_guard lock(mutex_);
  auto r = run("SELECT status, checked_at, http_status::text, reason, api_key FROM verifications WHERE fingerprint = $1 "
               "AND stored_at > clock_timestamp() - $2::bigint * interval '1 second'",
               {text(fingerprint), text(seconds)});
  if (!r || PQntuples(r->get()) != 1) return std::nullopt;
  const PGresult* row = r->get();
  VerificationRecord record{field(row, 0, 0), field(row, 0, 1), std::nullopt, field(row, 0, 3), field(row, 0, 4)};
  if (!PQgetisnull(row, 0, 2)) record.http_status = std::atoi(PQgetvalue(row, 0, 2));
  return record;
}

Status PostgresStore::put_verification(const std::string& fingerprint, const VerificationRecord& record) {
  if (record.status == "unknown") return Ok{};  // Why: a timeout now says nothing about the next minute
  const std::string http = record.http_status ? std::to_string(*record.http_status) : std::string();
  std::lock_guard lock(mutex_);
  // NULLIF: an absent http_status or api_key travels as "" and is stored as NULL (every value a parameter).
  auto r = run("INSERT INTO verifications (fingerprint, status, checked_at, http_status, reason, api_key) "
               "VALUES ($1, $2, $3, NULLIF($4, '')::integer, $5, NULLIF($6, '')) ON CONFLICT (fingerprint) DO UPDATE SET "
               "status = excluded.status, checked_at = excluded.checked_at, http_status = excluded.http_status, "
               "reason = excluded.reason, api_key = excluded.api_key, stored_at = clock_timestamp()",
               {text(fingerprint), text(record.status), text(record.checked_at), text(http), text(record.reason),
                text(record.api_key_json)});
  if (!r) return std::move(r).error().with_context("cannot store a verification result");
  return Ok{};
}

Result<std::uint64_t> PostgresStore::enqueue(const std::string& run_name, const std::vector<WorkItem>& items) {
  // Batches of multi-row INSERTs (placeholders only, every value a parameter): one round trip per batch
  // instead of per item, and each batch one statement (no transaction to lose with a connection).
  constexpr std::size_t kBatch = 500;
  std::lock_guard lock(mutex_);
  std::uint64_t added = 0;
  for (std::size_t start = 0; start < items.size(); start += kBatch) {
    const std::size_t end = std::min(items.size(), start + kBatch);
    std::string sql = "INSERT INTO work_items (run, key, payload) VALUES ";
    std::vector<Param> params{text(run_name)};
    for (std::size_t i = start; i < end; ++i) {
      const std::size_t n = params.size();
      sql += (i == start ? "" : ", ") + std::string("($1, $") + std::to_string(n + 1) + ", $" + std::to_string(n + 2) + ")";
      params.push_back(text(items[i].key));
      params.push_back(bytes(items[i].payload));
    }
    sql += " ON CONFLICT (run, key) DO NOTHING";
    auto r = run(sql.c_str(), params);
    if (!r) return std::move(r).error();
    added += static_cast<std::uint64_t>(std::atoll(PQcmdTuples(r->get())));
  }
  return added;
}

Result<std::optional<WorkItem>> PostgresStore::claim_next(const std::string& run_name, const std::string& worker,
                                                          std::chrono::milliseconds lease) {
  const std::string ms = std::to_string(lease.count());
  std::lock_guard lock(mutex_);
  // SKIP LOCKED: a row another worker is claiming right now is passed over, not waited for.
  auto r = run("UPDATE work_items SET owner = $2, claimed_until = clock_timestamp() + $3::bigint * interval '1 millisecond' "
               "WHERE seq = (SELECT seq FROM work_items WHERE run = $1 AND NOT done AND "
               "(claimed_until IS NULL OR claimed_until <= clock_timestamp()) ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) "
               "RETURNING key, payload",
               {text(run_name), text(worker), text(ms)}, true);
  if (!r) return std::move(r).error();
  if (PQntuples(r->get()) == 0) return std::optional<WorkItem>();
  return std::optional<WorkItem>(WorkItem{run_name, field(r->get(), 0, 0), field(r->get(), 0, 1)});
}

Result<bool> PostgresStore::renew(const std::string& run_name, const std::string& key, const std::string& worker,
                                  std::chrono::milliseconds lease) {
  const std::string ms = std::to_string(lease.count());
  std::lock_guard lock(mutex_);
  auto r = run("UPDATE work_items SET claimed_until = clock_timestamp() + $4::bigint * interval '1 millisecond' "
               "WHERE run = $1 AND key = $2 AND owner = $3 AND NOT done AND claimed_until > clock_timestamp()",
               {text(run_name), text(key), text(worker), text(ms)});
  if (!r) return std::move(r).error();
  return std::atoll(PQcmdTuples(r->get())) == 1;
}

Result<bool> PostgresStore::complete(const std::string& run_name, const std::string& key, std::string_view result) {
  std::lock_guard lock(mutex_);
  // The row lock the UPDATE takes orders two completions: the second sees done = true and changes nothing.
  auto r = run("UPDATE work_items SET done = true, result = $3, claimed_until = NULL WHERE run = $1 AND key = $2 AND NOT done",
               {text(run_name), text(key), bytes(result)});
  if (!r) return std::move(r).error();
  if (std::atoll(PQcmdTuples(r->get())) == 1) return true;
  auto exists = run("SELECT 1 FROM work_items WHERE run = $1 AND key = $2", {text(run_name), text(key)});
  if (!exists) return std::move(exists).error();
  if (PQntuples(exists->get()) == 0) return make_error(Errc::not_found, "store: no work item " + key + " in run " + run_name);
  return false;
}

Result<std::vector<CompletedItem>> PostgresStore::results(const std::string& run_name) {
  std::lock_guard lock(mutex_);
  auto r = run("SELECT key, payload, result FROM work_items WHERE run = $1 AND done ORDER BY key COLLATE \"C\"",
               {text(run_name)}, true);
  if (!r) return std::move(r).error();
  std::vector<CompletedItem> out;
  const int rows = PQntuples(r->get());
  out.reserve(static_cast<std::size_t>(rows));
  for (int i = 0; i < rows; ++i) out.push_back({field(r->get(), i, 0), field(r->get(), i, 1), field(r->get(), i, 2)});
  return out;
}

Result<WorkCounts> PostgresStore::pending(const std::string& run_name) {
  std::lock_guard lock(mutex_);
  auto r = run("SELECT count(*), count(*) FILTER (WHERE done), "
               "count(*) FILTER (WHERE NOT done AND claimed_until > clock_timestamp()) FROM work_items WHERE run = $1",
               {text(run_name)});
  if (!r) return std::move(r).error();
  return WorkCounts{std::strtoull(PQgetvalue(r->get(), 0, 0), nullptr, 10), std::strtoull(PQgetvalue(r->get(), 0, 1), nullptr, 10),
                    std::strtoull(PQgetvalue(r->get(), 0, 2), nullptr, 10)};
}

Result<bool> PostgresStore::try_claim(const std::string& scope, const std::string& key, const std::string& owner,
                                      std::chrono::milliseconds lease) {
  const std::string ms = std::to_string(lease.count());
  std::lock_guard lock(mutex_);
  auto r = run("INSERT INTO claims VALUES ($1, $2, $3, clock_timestamp() + $4::bigint * interval '1 millisecond') "
               "ON CONFLICT (scope, key) DO UPDATE SET owner = excluded.owner, claimed_until = excluded.claimed_until "
               "WHERE claims.owner = excluded.owner OR claims.claimed_until <= clock_timestamp() RETURNING owner",
               {text(scope), text(key), text(owner), text(ms)});
  if (!r) return std::move(r).error();
  return PQntuples(r->get()) == 1;
}

Status PostgresStore::release(const std::string& scope, const std::string& key, const std::string& owner) {
  std::lock_guard lock(mutex_);
  auto r = run("DELETE FROM claims WHERE scope = $1 AND key = $2 AND owner = $3", {text(scope), text(key), text(owner)});
  if (!r) return std::move(r).error();
  return Ok{};
}

}  // namespace

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& spec) { return PostgresStore::open(spec); }

}  // namespace layerleak::cache
