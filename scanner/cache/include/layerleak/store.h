// layerleak store: where results and shared work live, behind one interface with two implementations.
//
// SQLite (cache::ScanCache, layerleak/cache.h: one file in a directory, one machine) and PostgreSQL
// (libpq: several processes or machines, `audit` workers and `serve` replicas sharing one database).
// open_store() picks one from a spec. What a store holds:
// - per-layer results (pipeline::LayerCache) and image reports (the JSON report of one complete image);
// - a work queue for audits: items enqueued under a run name, claimed by one worker at a time under a
//   lease, completed with a result; an expired lease (a crashed worker) makes the item claimable again;
// - claims for serve: one owner at a time per (scope, key), with a lease, so replicas never scan the same
//   digest at once.
//
// Layer results hold FULL secret values (they rebuild `--show-secrets` reports): the database must be
// private to the scanner (its own PostgreSQL role and database, TLS to a remote server, no read access for
// anyone else), exactly as a --cache directory must be.
//
// Thread-safe. Every method reports database failures as errors; a layer or report lookup that fails reads
// as a miss (a store only saves work, it never changes a result).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/core.h"
#include "layerleak/pipeline.h"

namespace layerleak::cache {

struct CacheStats {
  std::uint64_t layer_hits = 0;
  std::uint64_t layer_misses = 0;
  std::uint64_t layer_puts = 0;
  std::uint64_t report_hits = 0;
  std::uint64_t report_misses = 0;
  std::uint64_t report_puts = 0;
  std::uint64_t evicted = 0;  // entries dropped to keep an in-memory cache within its budget
};

// One unit of an audit's work. `key` is unique within `run`; `payload` is the enqueuer's (any bytes).
struct WorkItem {
  std::string run;
  std::string key;
  std::string payload;
};

// A completed item: its payload and the result its worker stored (any bytes; JSON by convention).
struct CompletedItem {
  std::string key;
  std::string payload;
  std::string result;
};

// The answer of one `--verify` check, kept by the secret key's fingerprint (serve and audit reuse it for a
// TTL). Never the secret: only what the report shows. `unknown` is never stored.
struct VerificationRecord {
  std::string status;  // live, invalid or unsupported
  std::string checked_at;
  std::optional<int> http_status;
  std::string reason;
  std::string api_key_json;  // the API key's metadata as a JSON object, "" when none
};

struct WorkCounts {
  std::uint64_t total = 0;    // items enqueued under the run
  std::uint64_t done = 0;     // completed
  std::uint64_t claimed = 0;  // not done, held by a worker whose lease has not expired
};

class Store : public pipeline::LayerCache {
 public:
  ~Store() override = default;

  // pipeline::LayerCache: get(LayerKey) and put(LayerKey, CachedLayer).

  // The JSON report of one complete image scan, by manifest digest ("sha256:...") and profile. put_report
  // replaces what is stored for (digest, profile): callers put complete reports of scans that verified that
  // digest themselves, so a newer complete scan of the same content is the only thing that can replace one.
  virtual std::optional<std::string> get_report(const std::string& manifest_digest, const std::string& profile) = 0;
  virtual Status put_report(const std::string& manifest_digest, const std::string& profile, std::string_view report_json) = 0;

  // --- Verification results (--verify in serve and audit) ---
  // The record stored for `fingerprint` when it was stored less than `ttl` ago (the store's clock), else
  // nullopt (also on a database failure: a miss only costs a request). put replaces it; a record with
  // status "unknown" is never stored (a timeout now says nothing about the next minute).
  virtual std::optional<VerificationRecord> get_verification(const std::string& fingerprint, std::chrono::seconds ttl) = 0;
  virtual Status put_verification(const std::string& fingerprint, const VerificationRecord& record) = 0;

  // --- Work queue (audit) ---
  // Adds the items not yet under `run` (by key); items already there keep their payload, claim and result,
  // so every worker of an audit may enqueue the same plan. Returns how many were new.
  virtual Result<std::uint64_t> enqueue(const std::string& run, const std::vector<WorkItem>& items) = 0;
  // Claims one item of `run` that is not done and not held under an unexpired lease (first enqueued first),
  // for `worker` until now + lease. nullopt: nothing claimable now (all done, or the rest held by others).
  // PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent workers never wait on each other or get the same item.
  virtual Result<std::optional<WorkItem>> claim_next(const std::string& run, const std::string& worker,
                                                     std::chrono::milliseconds lease) = 0;
  // Extends `worker`'s lease on an item it holds; false when it no longer holds it (lease lost, done).
  virtual Result<bool> renew(const std::string& run, const std::string& key, const std::string& worker,
                             std::chrono::milliseconds lease) = 0;
  // Stores the result of an item. The first completion wins: true when this call completed it, false when
  // it was done already (a worker that lost its lease finished after the one that took over, or the
  // reverse); the stored result is never replaced. Fails with Errc::not_found for an unknown item.
  virtual Result<bool> complete(const std::string& run, const std::string& key, std::string_view result) = 0;
  // Every completed item of `run`, ordered by key (byte order), whoever completed it.
  virtual Result<std::vector<CompletedItem>> results(const std::string& run) = 0;
  virtual Result<WorkCounts> pending(const std::string& run) = 0;

  // --- Claims (serve) ---
  // Takes (scope, key) for `owner` until now + lease when nobody holds it, its lease expired, or `owner`
  // holds it already (then the lease is extended). false: another owner holds it.
  virtual Result<bool> try_claim(const std::string& scope, const std::string& key, const std::string& owner,
                                 std::chrono::milliseconds lease) = 0;
  // Gives a claim up (only when `owner` holds it; otherwise nothing happens).
  virtual Status release(const std::string& scope, const std::string& key, const std::string& owner) = 0;

  // Counters since open (this process only).
  virtual CacheStats stats() const = 0;
  // What the store is, for logs: the SQLite file's path, or "postgresql://HOST:PORT/DB" (never a password).
  virtual std::string describe() const = 0;
  // The newest schema migration applied, and whether this open applied any (tests: migrations run once).
  virtual int schema_version() const = 0;
  virtual bool applied_migrations() const = 0;
};

// Whether `spec` names a PostgreSQL database: "postgresql://…", "postgres://…", or "postgresql:" alone
// (libpq's PG* environment variables: PGHOST, PGDATABASE, PGUSER, PGPASSFILE…).
bool is_postgres_spec(std::string_view spec);

// Opens a store: a PostgreSQL URI (above) through libpq, anything else is a directory for the SQLite file
// (ScanCache::open). Migrations are applied before it returns. Errc::io when the database cannot be reached
// or used (the message never holds the URI's password), Errc::unsupported for a schema newer than this
// layerleak knows.
Result<std::unique_ptr<Store>> open_store(const std::string& spec);

}  // namespace layerleak::cache
