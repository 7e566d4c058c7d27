// The registry listing's pure parts (issue 16): Link headers, the distribution name and tag grammar,
// Retry-After values, registry targets, message escaping; and the per-registry pool's bound on transfers
// in flight, its "not before" time and cancel flag. Against registries: tests/integration/test_registry_volume.py.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "registry/http.h"
#include "registry/pool.h"
#include "registry/registry.h"

using namespace layerleak;
using namespace layerleak::oci;

TEST_CASE("Link headers: the rel=next target", "[registry][catalog]") {
  CHECK(next_link(R"(</v2/_catalog?last=b&n=2>; rel="next")") == "/v2/_catalog?last=b&n=2");
  CHECK(next_link("</v2/_catalog?last=b&n=2>;rel=next") == "/v2/_catalog?last=b&n=2");
  CHECK(next_link(R"(<http://r.example/v2/x/tags/list?n=2&last=v1>; REL="Next")") == "http://r.example/v2/x/tags/list?n=2&last=v1");
  // Several links (or two Link headers joined by ", "): the one whose rel list holds "next".
  CHECK(next_link(R"(</first>; rel="prev", </second>; title="a, b; c"; rel="last next")") == "/second");
  CHECK(next_link(R"(</a>; rel="prev", </b>; rel="nextish")").empty());
  CHECK(next_link(R"(</a>; rel="prev")").empty());
  CHECK(next_link("").empty());
  // Not well formed: nothing is followed.
  CHECK(next_link(R"(/v2/_catalog?n=2; rel="next")").empty());
  CHECK(next_link(R"(</v2/_catalog?n=2; rel="next")").empty());
  CHECK(next_link(R"(</v2/_catalog?n=2>; rel="next)").empty());
  CHECK(next_link(R"(</v2/_catalog?n=2> rel="next")").empty());
}

TEST_CASE("repository names and tags follow the distribution grammar", "[registry][catalog]") {
  for (const char* ok : {"a", "library/alpine", "a/b/c", "a-b", "a--b", "a.b", "a_b", "a__b", "0/9", "team/app-1.2_x__y"}) {
    INFO(ok);
    CHECK(valid_repository_name(ok));
  }
  for (const char* bad : {"", "A", "a/B", "a..b", "a._b", "a___b", "a_-b", "-a", "a-", ".a", "a/", "/a", "a//b", "..", "../etc",
                          "a b", "a%2fb", "a?n=1", "a#b", "a:b", "a@b"}) {
    INFO(bad);
    CHECK_FALSE(valid_repository_name(bad));
  }
  CHECK(valid_repository_name(std::string(255, 'a')));
  CHECK_FALSE(valid_repository_name(std::string(256, 'a')));
  CHECK_FALSE(valid_repository_name(std::string("a\0b", 3)));

  for (const char* ok : {"latest", "v1.0", "_x", "1", "A-Z_a.z", "0.1.2-rc.1"}) {
    INFO(ok);
    CHECK(valid_tag_name(ok));
  }
  for (const char* bad : {"", ".x", "-x", "a/b", "a b", "a:b", "a@b", "../x", "a%20"}) {
    INFO(bad);
    CHECK_FALSE(valid_tag_name(bad));
  }
  CHECK(valid_tag_name(std::string(128, 't')));
  CHECK_FALSE(valid_tag_name(std::string(129, 't')));
}

TEST_CASE("Retry-After: seconds or an HTTP-date, capped", "[registry][catalog]") {
  using std::chrono::seconds;
  const std::time_t now = 1700000000;  // Tue, 14 Nov 2023 22:13:20 GMT
  CHECK(registry::parse_retry_after("0", now) == seconds(0));
  CHECK(registry::parse_retry_after(" 5 ", now) == seconds(5));
  CHECK(registry::parse_retry_after("120", now) == seconds(60));
  CHECK(registry::parse_retry_after("120", now, seconds(300)) == seconds(120));
  CHECK(registry::parse_retry_after("99999999999999999999999999", now) == seconds(60));  // no overflow
  CHECK(registry::parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now) == seconds(10));
  CHECK(registry::parse_retry_after("Tue, 14 Nov 2023 23:13:30 GMT", now) == seconds(60));
  CHECK(registry::parse_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", now) == seconds(0));  // in the past
  CHECK(registry::parse_retry_after("Tuesday, 14-Nov-23 22:13:25 GMT", now) == seconds(5));  // RFC 850
  CHECK(registry::parse_retry_after("Tue Nov 14 22:13:23 2023", now) == seconds(3));          // asctime
  for (const char* bad : {"", "-5", "5s", "1.5", "soon", "0x10", "Tue, 14 Nov 2023 22:13:30 GMT\r\nX: y", "+5"}) {
    INFO(bad);
    CHECK_FALSE(registry::parse_retry_after(bad, now).has_value());
  }
}

TEST_CASE("registry targets: docker://HOST[:PORT][/NAMESPACE]", "[registry][catalog]") {
  auto t = parse_registry_target("docker://127.0.0.1:5000");
  REQUIRE(t);
  CHECK(t->registry == "127.0.0.1:5000");
  CHECK(t->namespace_prefix.empty());
  t = parse_registry_target("docker://rg.fr-par.scw.cloud/team/app/");
  REQUIRE(t);
  CHECK(t->registry == "rg.fr-par.scw.cloud");
  CHECK(t->namespace_prefix == "team/app");
  t = parse_registry_target("localhost:5000/ns");
  REQUIRE(t);
  CHECK(t->registry == "localhost:5000");
  CHECK(t->namespace_prefix == "ns");
  t = parse_registry_target("docker://[::1]:5000");
  REQUIRE(t);
  CHECK(t->registry == "[::1]:5000");
  t = parse_registry_target("docker://index.docker.io/library");
  REQUIRE(t);
  CHECK(t->registry == "docker.io");
  for (const char* bad : {"docker://", "", "docker:///ns", "docker://ho st", "docker://host:port", "docker://host/UPPER",
                          "docker://host/ns@sha256:aaaa", "docker://host/a//b", "docker://host/ns:tag", "docker://h\x01st"}) {
    INFO(bad);
    auto r = parse_registry_target(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(r.error().message.find('\x01') == std::string::npos);
  }
}

TEST_CASE("registry text in messages is escaped and cut", "[registry][catalog]") {
  CHECK(printable("a/b") == "a/b");
  CHECK(printable(std::string("a\0b\r\n\x1b[31m\\", 11)) == "a\\x00b\\x0d\\x0a\\x1b[31m\\x5c");
  CHECK(printable("\xc3\xa9") == "\\xc3\\xa9");
  const std::string cut = printable(std::string(1000, 'x'), 10);
  CHECK(cut.starts_with("xxxxxxxxxx"));
  CHECK(cut.size() < 20);
}

TEST_CASE("the registry pool bounds transfers in flight across threads", "[registry][catalog]") {
  registry::RegistryPool pool("test", nullptr, 2);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 5; ++k) {
        REQUIRE(pool.acquire(nullptr));
        const int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        --inside;
        pool.release(std::this_thread::get_id());
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(most.load() <= 2);
  CHECK(most.load() >= 1);
  CHECK(pool.peak_in_flight() <= 2);
  CHECK(pool.transfers_started() == 40);
}

TEST_CASE("a thread holding a slot is not blocked by its own second transfer", "[registry][catalog]") {
  registry::RegistryPool pool("test", nullptr, 1);
  REQUIRE(pool.acquire(nullptr));
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(pool.acquire(nullptr));  // nested: would deadlock at concurrency 1 otherwise
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(500));
  // Another thread waits until both are given back.
  std::atomic<bool> got{false};
  std::thread other([&] {
    REQUIRE(pool.acquire(nullptr));
    got = true;
    pool.release(std::this_thread::get_id());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  CHECK_FALSE(got.load());
  pool.release(std::this_thread::get_id());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  CHECK_FALSE(got.load());
  pool.release(std::this_thread::get_id());
  other.join();
  CHECK(got.load());
}

TEST_CASE("a request ahead of need takes a slot only when another stays free, held by no thread", "[registry][catalog]") {
  registry::RegistryPool single("test", nullptr, 1);
  CHECK_FALSE(single.try_acquire_ahead());  // the only slot is never taken ahead

  registry::RegistryPool pool("test", nullptr, 3);
  REQUIRE(pool.try_acquire_ahead());
  REQUIRE(pool.try_acquire_ahead());
  CHECK_FALSE(pool.try_acquire_ahead());  // the last slot stays for requests that cannot wait (a config)
  REQUIRE(pool.acquire(nullptr));
  // Full now. The slots taken ahead are no thread's: this thread holds one slot (its own), and another
  // thread's request waits, as a later thread given the id of one that took a slot ahead would too.
  std::atomic<bool> cancel{false};
  std::atomic<bool> refused{false};
  std::thread other([&] {
    auto waited = pool.acquire(&cancel);
    refused = !waited && waited.error().code == Errc::cancelled;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  cancel = true;
  other.join();
  CHECK(refused.load());
  pool.release(std::thread::id());
  CHECK_FALSE(pool.try_acquire_ahead());  // 2 of 3 in flight: taking one more would leave none
  pool.release(std::this_thread::get_id());
  REQUIRE(pool.try_acquire_ahead());
  CHECK(pool.peak_in_flight() == 3);
  pool.defer(std::chrono::seconds(30));
  pool.release(std::thread::id());
  pool.release(std::thread::id());
  CHECK_FALSE(pool.try_acquire_ahead());  // nor while the registry asked to wait (429, Retry-After)
}

TEST_CASE("a 429's wait holds back every transfer of the registry, and cancel ends it", "[registry][catalog]") {
  registry::RegistryPool pool("test", nullptr, 4);
  pool.defer(std::chrono::milliseconds(400));
  CHECK(pool.deferred_for() > std::chrono::milliseconds(300));
  pool.defer(std::chrono::milliseconds(10));  // an earlier time does not shorten the wait
  CHECK(pool.deferred_for() > std::chrono::milliseconds(300));
  auto start = std::chrono::steady_clock::now();
  REQUIRE(pool.acquire(nullptr));
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(350));
  pool.release(std::this_thread::get_id());

  pool.defer(std::chrono::seconds(30));
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  start = std::chrono::steady_clock::now();
  auto waited = pool.acquire(&cancel);
  canceller.join();
  REQUIRE_FALSE(waited);
  CHECK(waited.error().code == Errc::cancelled);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500));
}

TEST_CASE("the process keeps at most 32 registry pools, never one in use", "[registry][catalog]") {
  int made = 0;
  auto make = [&] {
    ++made;
    return std::make_shared<registry::RegistryPool>("test", nullptr, 1);
  };
  // A pool held by a session survives any number of other registries.
  auto held = registry::shared_pool("bound-test-held", make);
  for (int i = 0; i < 100; ++i) registry::shared_pool("bound-test-" + std::to_string(i), make);
  CHECK(made == 101);
  CHECK(registry::shared_pool("bound-test-held", make) == held);
  CHECK(made == 101);
  // The most recent registries are still there; the oldest unheld ones were closed and are made again.
  registry::shared_pool("bound-test-99", make);
  CHECK(made == 101);
  registry::shared_pool("bound-test-0", make);
  CHECK(made == 102);
}

TEST_CASE("a pool keeps a bounded number of bearer tokens", "[registry][catalog]") {
  registry::RegistryPool pool("test", nullptr, 1);
  const auto later = registry::RegistryPool::Clock::now() + std::chrono::hours(1);
  for (int i = 0; i < 1000; ++i) {
    pool.put_token("scope-" + std::to_string(i), {"token-" + std::to_string(i), later + std::chrono::seconds(i)});
  }
  int kept = 0;
  for (int i = 0; i < 1000; ++i) kept += pool.token("scope-" + std::to_string(i)).has_value() ? 1 : 0;
  CHECK(kept == 256);
  CHECK(pool.token("scope-999").has_value());  // the newest (due last) are kept
  CHECK_FALSE(pool.token("scope-0").has_value());
}
