// What every conversation with one registry shares within the process: idle connections (kept in
// libcurl multi handles lent to one transfer at a time), the DNS cache and TLS sessions (a libcurl share
// handle), the ConnectGuard (so that a reused connection never leaves the private-network policy
// undecided), a counting semaphore bounding transfers in flight, the "not before" time a 429 or 503 with
// Retry-After sets for the whole registry, and bearer tokens by credentials and scope.
// Thread-safe. Internal to the oci library.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "layerleak/core.h"

namespace layerleak::oci::registry {

class ConnectGuard;

class RegistryPool {
 public:
  using Clock = std::chrono::steady_clock;

  // `registry` names the registry in messages; `concurrency` (>= 1) bounds transfers in flight.
  RegistryPool(std::string registry, std::shared_ptr<ConnectGuard> guard, unsigned concurrency);
  ~RegistryPool();
  RegistryPool(const RegistryPool&) = delete;
  RegistryPool& operator=(const RegistryPool&) = delete;

  const std::shared_ptr<ConnectGuard>& guard() const { return guard_; }
  unsigned concurrency() const { return concurrency_; }

  // Waits until the registry's "not before" time has passed and a slot is free, then takes the slot.
  // A thread that already holds a slot of this pool does not wait for a second one (a transfer opened
  // while another is still alive on the same thread would otherwise deadlock at concurrency 1).
  // Errc::cancelled when `cancel` becomes true while waiting (looked at every 100 ms).
  Status acquire(const std::atomic<bool>* cancel);
  // A slot for a request made ahead of need (read later, by another thread), only when one is free now
  // and another stays free: never waits. Why: such a request holds its slot until the scan that made it
  // reads it, after requests (a config, another scan's) that must not wait for it; with one slot always
  // left to them, they never do. The slot is held by no thread: release(std::thread::id()).
  bool try_acquire_ahead();
  // Gives back a slot taken by acquire() on thread `owner` (std::thread::id() for try_acquire_ahead()).
  void release(std::thread::id owner);
  // No transfer of this registry starts before now + `wait` (a later time already set is kept).
  void defer(Clock::duration wait);
  // How long until transfers may start again (zero when they may now).
  Clock::duration deferred_for() const;

  // A libcurl multi handle (CURLM*) with the idle connections of earlier transfers, for one transfer;
  // give it back with give_back() when the transfer is over (or abandoned).
  void* take_multi();
  void give_back(void* multi);
  // The libcurl share handle (CURLSH*): DNS cache and TLS sessions.
  void* share() const { return share_; }

  // Bearer tokens, by a key naming credentials, token service and scope.
  struct Token {
    std::string value;
    Clock::time_point refresh_at{};
  };
  std::optional<Token> token(const std::string& key) const;
  void put_token(const std::string& key, Token token);
  void drop_token(const std::string& key, const std::string& value);

  // The scheme ("https" or "http") an earlier session found the registry speaking; "" before that.
  std::string scheme() const;
  void set_scheme(const std::string& scheme);

  // Counters for tests and logs.
  void count_connection() { connections_.fetch_add(1, std::memory_order_relaxed); }
  unsigned connections_opened() const { return connections_.load(); }
  unsigned transfers_started() const { return transfers_.load(); }
  unsigned peak_in_flight() const { return peak_.load(); }

 private:
  struct ShareLocks;
  void take_locked(std::thread::id owner);  // counts a slot taken (mutex_ held)

  std::string registry_;
  std::shared_ptr<ConnectGuard> guard_;
  unsigned concurrency_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  unsigned in_flight_ = 0;
  std::map<std::thread::id, unsigned> held_;  // slots held per thread
  Clock::time_point not_before_{};
  std::vector<void*> idle_multis_;
  std::map<std::string, Token> tokens_;
  std::string scheme_;

  void* share_ = nullptr;
  std::unique_ptr<ShareLocks> locks_;
  std::atomic<unsigned> connections_{0};
  std::atomic<unsigned> transfers_{0};
  std::atomic<unsigned> peak_{0};
};

// The process-wide pool for one key (registry host and the options that change how it is reached);
// created on first use with `make`. At most 32 are kept: past that, the least recently used pools no
// session holds are closed.
std::shared_ptr<RegistryPool> shared_pool(const std::string& key, const std::function<std::shared_ptr<RegistryPool>()>& make);

// Parses a Retry-After value: delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT",
// RFC 850 and asctime forms too), the date taken relative to `now`. The wait, capped at `cap`; a date in
// the past is zero; nullopt when the value is neither.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::time_t now,
                                                      std::chrono::seconds cap = std::chrono::seconds(60));

}  // namespace layerleak::oci::registry
