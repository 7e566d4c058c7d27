// layerleak cache: results that never need computing twice, in one SQLite file shared by `scan --cache`
// and `serve`.
//
// Two kinds of entries: per-layer results (pipeline::CachedLayer) by diffID, blob digest and scan
// profile, so a base layer shared by many images is read once; and image reports (the JSON report of one
// image, secrets redacted) by manifest digest and profile, so a verdict survives restarts. Only complete
// results are ever stored (the pipeline puts complete layers only; callers put complete images only).
//
// The file holds full secret values (layer entries must rebuild `--show-secrets` reports): a directory
// the cache creates is 0700 (an existing one keeps its mode), the file is created 0600 and is never
// followed through a symlink. Thread-safe (one connection behind a mutex); several processes may share
// the file (WAL, busy timeout). A damaged entry reads as a miss, never as an error; a damaged file is
// moved aside at open and the cache starts empty.
//
// Not responsible for: deciding what is complete (pipeline, serve), eviction from a file (delete the file
// to start over). An in-memory cache evicts its oldest entries past a byte budget: it serves a
// long-running `serve` without --cache, whose memory must stay bounded.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "layerleak/core.h"
#include "layerleak/pipeline.h"
#include "layerleak/store.h"

namespace layerleak::cache {

// The SQLite implementation of Store (layerleak/store.h); open_store(DIR) opens one.
class ScanCache final : public Store {
 public:
  // Opens or creates DIR/layerleak-cache.sqlite3 (and DIR, 0700, when it does not exist). A file that is
  // not a database or whose schema is damaged is renamed to layerleak-cache.sqlite3.corrupt-<unix time>
  // (with its -wal and -shm), a line saying so goes to stderr, and a new empty file is used. Fails with
  // Errc::io naming the path when DIR cannot be made, the database file is a symlink or not a regular
  // file, or the damaged file cannot be moved; Errc::unsupported for another schema version.
  static Result<std::unique_ptr<ScanCache>> open(const std::string& dir);
  // A private cache that lives as long as the object. When its layer results and reports together pass
  // `max_bytes`, the oldest stored are dropped until they fit again (a later lookup simply misses).
  static constexpr std::uint64_t kDefaultMemoryBytes = 256ull << 20;
  static Result<std::unique_ptr<ScanCache>> open_in_memory(std::uint64_t max_bytes = kDefaultMemoryBytes);
  ~ScanCache() override;
  ScanCache(const ScanCache&) = delete;
  ScanCache& operator=(const ScanCache&) = delete;

  std::optional<pipeline::CachedLayer> get(const pipeline::LayerKey& key) override;
  void put(const pipeline::LayerKey& key, const pipeline::CachedLayer& layer) override;

  // The JSON report of one complete image scan, by manifest digest ("sha256:...") and profile.
  // Replacement rule: put_report replaces the report stored for (digest, profile). That is safe only
  // because callers put complete reports of scans that verified that digest themselves (never a local
  // source, never a digest taken from reference text): a newer complete scan of the same content is the
  // only thing that can replace a report.
  std::optional<std::string> get_report(const std::string& manifest_digest, const std::string& profile) override;
  Status put_report(const std::string& manifest_digest, const std::string& profile, std::string_view report_json) override;

  std::optional<VerificationRecord> get_verification(const std::string& fingerprint, std::chrono::seconds ttl) override;
  Status put_verification(const std::string& fingerprint, const VerificationRecord& record) override;

  // Work queue and claims (Store): BEGIN IMMEDIATE transactions, so processes sharing the file take turns.
  // Leases are measured on this machine's clock.
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

  // Counters since open() (this process only).
  CacheStats stats() const override;
  std::string describe() const override { return path(); }
  int schema_version() const override;
  bool applied_migrations() const override;
  // Bytes of layer results and reports held now (the figure the in-memory budget bounds).
  std::uint64_t stored_bytes() const;
  const std::string& path() const;

 private:
  struct Impl;
  static Result<std::unique_ptr<ScanCache>> open_file(const std::string& path, bool* damaged = nullptr);
  explicit ScanCache(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The stored form of a layer result (CBOR, versioned). decode_layer fails with Errc::malformed.
std::string encode_layer(const pipeline::CachedLayer& layer);
Result<pipeline::CachedLayer> decode_layer(std::string_view text);

}  // namespace layerleak::cache
