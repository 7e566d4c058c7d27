// A store that lives as long as one audit without --store/--cache: layer results (so a base layer shared by
// many images is read once per run), the run's work queue and claims, all in memory behind one mutex.
#include <chrono>
#include <map>
#include <mutex>

#include "layerleak/audit.h"

namespace layerleak::audit {

namespace {

using Clock = std::chrono::steady_clock;

std::string layer_key(const pipeline::LayerKey& key) {
  return key.diff_id.str() + "\n" + key.blob_digest.str() + "\n" + key.profile;
}

class MemoryStore final : public cache::Store {
 public:
  std::optional<pipeline::CachedLayer> get(const pipeline::LayerKey& key) override {
    std::lock_guard lock(mutex_);
    auto it = layers_.find(layer_key(key));
    if (it == layers_.end()) {
      ++stats_.layer_misses;
      return std::nullopt;
    }
    ++stats_.layer_hits;
    return it->second;
  }
  void put(const pipeline::LayerKey& key, const pipeline::CachedLayer& layer) override {
    std::lock_guard lock(mutex_);
    layers_[layer_key(key)] = layer;
    ++stats_.layer_puts;
  }

  std::optional<std::string> get_report(const std::string& digest, const std::string& profile) override {
    std::lock_guard lock(mutex_);
    auto it = reports_.find(digest + "\n" + profile);
    if (it == reports_.end()) return std::nullopt;
    return it->second;
  }
  Status put_report(const std::string& digest, const std::string& profile, std::string_view json) override {
    std::lock_guard lock(mutex_);
    reports_[digest + "\n" + profile] = std::string(json);
    return Ok{};
  }

  std::optional<cache::VerificationRecord> get_verification(const std::string& fingerprint, std::chrono::seconds ttl) override {
    std::lock_guard lock(mutex_);
    auto it = verifications_.find(fingerprint);
    if (it == verifications_.end() || Clock::now() - it->second.first >= ttl) return std::nullopt;
    return it->second.second;
  }
  Status put_verification(const std::string& fingerprint, const cache::VerificationRecord& record) override {
    if (record.status == "unknown") return Ok{};
    std::lock_guard lock(mutex_);
    verifications_[fingerprint] = {Clock::now(), record};
    return Ok{};
  }

  Result<std::uint64_t> enqueue(const std::string& run, const std::vector<cache::WorkItem>& items) override {
    std::lock_guard lock(mutex_);
    Run& r = runs_[run];
    std::uint64_t added = 0;
    for (const cache::WorkItem& item : items) {
      if (r.items.contains(item.key)) continue;
      r.items[item.key] = Item{item.payload, r.next++, "", {}, false, ""};
      ++added;
    }
    return added;
  }
  Result<std::optional<cache::WorkItem>> claim_next(const std::string& run, const std::string& worker,
                                                    std::chrono::milliseconds lease) override {
    std::lock_guard lock(mutex_);
    auto rit = runs_.find(run);
    if (rit == runs_.end()) return std::optional<cache::WorkItem>();
    const auto now = Clock::now();
    Item* best = nullptr;
    std::string best_key;
    for (auto& [key, item] : rit->second.items) {
      if (item.done || (!item.owner.empty() && item.until > now)) continue;
      if (best == nullptr || item.order < best->order) {
        best = &item;
        best_key = key;
      }
    }
    if (best == nullptr) return std::optional<cache::WorkItem>();
    best->owner = worker;
    best->until = now + lease;
    return std::optional<cache::WorkItem>(cache::WorkItem{run, best_key, best->payload});
  }
  Result<bool> renew(const std::string& run, const std::string& key, const std::string& worker,
                     std::chrono::milliseconds lease) override {
    std::lock_guard lock(mutex_);
    Item* item = find(run, key);
    if (item == nullptr || item->done || item->owner != worker) return false;
    item->until = Clock::now() + lease;
    return true;
  }
  Result<bool> complete(const std::string& run, const std::string& key, std::string_view result) override {
    std::lock_guard lock(mutex_);
    Item* item = find(run, key);
    if (item == nullptr) return make_error(Errc::not_found, "no work item " + key + " in run " + run);
    if (item->done) return false;
    item->done = true;
    item->result = std::string(result);
    return true;
  }
  Result<std::vector<cache::CompletedItem>> results(const std::string& run) override {
    std::lock_guard lock(mutex_);
    std::vector<cache::CompletedItem> out;
    if (auto rit = runs_.find(run); rit != runs_.end()) {
      for (const auto& [key, item] : rit->second.items) {
        if (item.done) out.push_back({key, item.payload, item.result});
      }
    }
    return out;
  }
  Result<cache::WorkCounts> pending(const std::string& run) override {
    std::lock_guard lock(mutex_);
    cache::WorkCounts counts;
    if (auto rit = runs_.find(run); rit != runs_.end()) {
      const auto now = Clock::now();
      for (const auto& [key, item] : rit->second.items) {
        ++counts.total;
        if (item.done) ++counts.done;
        else if (!item.owner.empty() && item.until > now) ++counts.claimed;
      }
    }
    return counts;
  }

  Result<bool> try_claim(const std::string& scope, const std::string& key, const std::string& owner,
                         std::chrono::milliseconds lease) override {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    Claim& c = claims_[scope + "\n" + key];
    if (!c.owner.empty() && c.owner != owner && c.until > now) return false;
    c.owner = owner;
    c.until = now + lease;
    return true;
  }
  Status release(const std::string& scope, const std::string& key, const std::string& owner) override {
    std::lock_guard lock(mutex_);
    auto it = claims_.find(scope + "\n" + key);
    if (it != claims_.end() && it->second.owner == owner) claims_.erase(it);
    return Ok{};
  }

  cache::CacheStats stats() const override {
    std::lock_guard lock(mutex_);
    return stats_;
  }
  std::string describe() const override { return "memory"; }
  int schema_version() const override { return 0; }
  bool applied_migrations() const override { return false; }

 private:
  std::map<std::string, std::pair<Clock::time_point, cache::VerificationRecord>> verifications_;
  struct Item {
    std::string payload;
    std::uint64_t order = 0;
    std::string owner;
    Clock::time_point until;
    bool done = false;
    std::string result;
  };
  struct Run {
    std::map<std::string, Item> items;
    std::uint64_t next = 0;
  };
  struct Claim {
    std::string owner;
    Clock::time_point until;
  };

  Item* find(const std::string& run, const std::string& key) {
    auto rit = runs_.find(run);
    if (rit == runs_.end()) return nullptr;
    auto it = rit->second.items.find(key);
    return it == rit->second.items.end() ? nullptr : &it->second;
  }

  mutable std::mutex mutex_;
  std::map<std::string, pipeline::CachedLayer> layers_;
  std::map<std::string, std::string> reports_;
  std::map<std::string, Run> runs_;
  std::map<std::string, Claim> claims_;
  cache::CacheStats stats_;
};

}  // namespace

std::unique_ptr<cache::Store> memory_store() { return std::make_unique<MemoryStore>(); }

}  // namespace layerleak::audit
