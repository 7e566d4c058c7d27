// The Store interface (layerleak/store.h): the same cases run against SQLite (always) and PostgreSQL (when
// LAYERLEAK_TEST_POSTGRES holds a libpq URI of a server where the tests may create databases; CTest's
// store.postgresql starts one, tests/support/with_postgres.py). Each case gets a fresh database.
#include <libpq-fe.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <set>
#include <thread>

#include "layerleak/cache.h"
#include "layerleak/store.h"
#include "layerleak/verify.h"
#include "test_support.h"

using namespace layerleak;
using namespace std::chrono_literals;
using layerleak::testing::TempDir;

namespace {

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// Where a case's stores live: a temporary directory (SQLite) or a fresh database on the test server.
class Location {
 public:
  explicit Location(const std::string& backend) : backend_(backend) {
    if (backend_ == "sqlite") {
      spec_ = dir_.file("store");
      return;
    }
    const char* admin = std::getenv("LAYERLEAK_TEST_POSTGRES");
    REQUIRE(admin);
    static std::atomic<int> counter{0};
    const std::string name = "store_t" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
    PGconn* conn = PQconnectdb(admin);
    REQUIRE(conn);
    INFO(PQerrorMessage(conn));
    REQUIRE(PQstatus(conn) == CONNECTION_OK);
    PGresult* r = PQexec(conn, ("CREATE DATABASE " + name).c_str());  // a name of our own making, not input
    const bool created = PQresultStatus(r) == PGRES_COMMAND_OK;
    INFO(PQresultErrorMessage(r));
    PQclear(r);
    // The same server and user, the new database.
    PQconninfoOption* options = PQconninfo(conn);
    std::string host, port, user;
    for (PQconninfoOption* o = options; o && o->keyword; ++o) {
      const std::string key = o->keyword;
      const std::string value = o->val ? o->val : "";
      if (key == "host") host = value;
      if (key == "port") port = value;
      if (key == "user") user = value;
    }
    PQconninfoFree(options);
    PQfinish(conn);
    REQUIRE(created);
    spec_ = "postgresql://" + percent_encode(user) + "@/" + name + "?host=" + percent_encode(host) + "&port=" + port;
  }

  std::unique_ptr<cache::Store> open() const {
    auto opened = cache::open_store(spec_);
    INFO(spec_);
    if (!opened) FAIL(opened.error().message);
    return std::move(opened).value();
  }
  const std::string& spec() const { return spec_; }

 private:
  std::string backend_;
  TempDir dir_;
  std::string spec_;
};

// The backends this run tests: SQLite always, PostgreSQL when a server is given.
std::string backend() {
  const char* pg = std::getenv("LAYERLEAK_TEST_POSTGRES");
  return (pg && *pg) ? GENERATE(as<std::string>{}, "sqlite", "postgresql") : std::string("sqlite");
}

Digest digest_of(char c) { return Digest::parse("sha256:" + std::string(64, c)).value(); }

pipeline::CachedLayer sample_layer() {
  pipeline::CachedLayer layer;
  // Bytes a text column would not keep: NUL, invalid UTF-8.
  layer.detections.push_back({std::string("/a\0b\xff/c.env", 12), std::string("/a\0b\xff/c.env", 12), "scaleway.secret-key",
                              "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c", 7, 2, 3, rules::Severity::critical,
                              rules::Confidence::high, "plain", "SCW0RE86AB2CD4EF6GH8"});
  layer.changes.record("/a", true);
  layer.hardlinks["/x"] = {"/y"};
  layer.entries = 5;
  layer.bytes_scanned = 1234;
  layer.compressed_bytes = 5'000'000'000ull;  // past 32 bits
  layer.compression = "zstd";
  return layer;
}

}  // namespace

TEST_CASE("store: layer results and reports round-trip, keyed by blob, diffID and profile", "[store]") {
  const std::string which = backend();
  INFO(which);
  Location where(which);
  auto store = where.open();
  const pipeline::LayerKey key{digest_of('d'), digest_of('b'), "profile-1"};
  CHECK_FALSE(store->get(key));
  const pipeline::CachedLayer layer = sample_layer();
  store->put(key, layer);
  auto hit = store->get(key);
  REQUIRE(hit);
  CHECK(cache::encode_layer(*hit) == cache::encode_layer(layer));
  CHECK(hit->compressed_bytes == 5'000'000'000ull);
  CHECK(hit->compression == "zstd");
  CHECK(hit->detections.at(0).path == std::string("/a\0b\xff/c.env", 12));
  // Another profile, or a blob not known to hold this content: misses.
  CHECK_FALSE(store->get({digest_of('d'), digest_of('b'), "profile-2"}));
  CHECK_FALSE(store->get({digest_of('d'), digest_of('c'), "profile-1"}));
  CHECK_FALSE(store->get({digest_of('e'), digest_of('b'), "profile-1"}));
  // Reports: replaced by a newer put.
  CHECK_FALSE(store->get_report("sha256:aa", "p"));
  REQUIRE(store->put_report("sha256:aa", "p", "{\"x\":1}"));
  REQUIRE(store->put_report("sha256:aa", "p", "{\"x\":2, \"s\":\"'; DROP TABLE reports; --\"}"));
  CHECK(store->get_report("sha256:aa", "p") == std::optional<std::string>("{\"x\":2, \"s\":\"'; DROP TABLE reports; --\"}"));
  CHECK_FALSE(store->get_report("sha256:aa", "q"));
  const cache::CacheStats stats = store->stats();
  CHECK(stats.layer_hits == 1);
  CHECK(stats.layer_misses == 4);
  CHECK(stats.layer_puts == 1);
  CHECK(stats.report_puts == 2);
  // Another connection (process) sees what this one wrote.
  auto other = where.open();
  CHECK(other->get(key));
  CHECK(other->get_report("sha256:aa", "p"));
  CHECK(other->describe().find("password") == std::string::npos);
}

TEST_CASE("store: migrations run once when many open a fresh database at once", "[store]") {
  const std::string which = backend();
  INFO(which);
  Location where(which);
  constexpr int kOpeners = 6;
  std::vector<std::unique_ptr<cache::Store>> stores(kOpeners);
  std::vector<std::string> errors(kOpeners);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      auto opened = cache::open_store(where.spec());
      if (opened) stores[i] = std::move(opened).value();
      else errors[i] = opened.error().message;
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  int applied = 0;
  for (int i = 0; i < kOpeners; ++i) {
    INFO(errors[i]);
    REQUIRE(stores[i]);
    CHECK(stores[i]->schema_version() == 3);
    applied += stores[i]->applied_migrations() ? 1 : 0;
  }
  CHECK(applied == 1);
  // Every store works on the one schema.
  REQUIRE(stores[0]->put_report("sha256:bb", "p", "{}"));
  CHECK(stores[kOpeners - 1]->get_report("sha256:bb", "p"));
  auto again = where.open();
  CHECK_FALSE(again->applied_migrations());
  CHECK(again->schema_version() == 3);
}

TEST_CASE("store: enqueue is idempotent and claims go first enqueued first", "[store]") {
  const std::string which = backend();
  INFO(which);
  Location where(which);
  auto store = where.open();
  auto added = store->enqueue("run1", {{"", "b", "payload-b"}, {"", "a", std::string("pa\0yload", 8)}, {"", "c", "payload-c"}});
  REQUIRE(added);
  CHECK(*added == 3);
  // Every worker may enqueue the same plan: nothing changes for items already there.
  added = store->enqueue("run1", {{"", "a", "other"}, {"", "d", "payload-d"}});
  REQUIRE(added);
  CHECK(*added == 1);
  CHECK(store->enqueue("run2", {{"", "a", "run2"}}).value() == 1);  // runs are separate
  auto counts = store->pending("run1");
  REQUIRE(counts);
  CHECK(counts->total == 4);
  CHECK(counts->done == 0);
  CHECK(counts->claimed == 0);
  std::vector<std::string> order;
  while (true) {
    auto next = store->claim_next("run1", "w1", 60s);
    REQUIRE(next);
    if (!*next) break;
    CHECK((*next)->run == "run1");
    if ((*next)->key == "a") CHECK((*next)->payload == std::string("pa\0yload", 8));
    order.push_back((*next)->key);
  }
  CHECK(order == std::vector<std::string>{"b", "a", "c", "d"});
  CHECK(store->pending("run1")->claimed == 4);
  CHECK(store->pending("run2")->claimed == 0);
}

TEST_CASE("store: workers on separate connections never claim the same item", "[store]") {
  const std::string which = backend();
  INFO(which);
  Location where(which);
  constexpr int kItems = 120;
  std::vector<cache::WorkItem> items;
  for (int i = 0; i < kItems; ++i) items.push_back({"", "item-" + std::to_string(1000 + i), std::to_string(i)});
  auto planner = where.open();
  REQUIRE(planner->enqueue("audit", items).value() == kItems);
  constexpr int kWorkers = 3;
  std::vector<std::unique_ptr<cache::Store>> stores;
  for (int i = 0; i < kWorkers; ++i) stores.push_back(where.open());
  std::vector<std::vector<std::string>> claimed(kWorkers);
  std::vector<std::string> errors(kWorkers);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      const std::string me = "worker-" + std::to_string(w);
      while (true) {
        auto next = stores[w]->claim_next("audit", me, 60s);
        if (!next) {
          errors[w] = next.error().message;
          return;
        }
        if (!*next) return;
        claimed[w].push_back((*next)->key);
        auto done = stores[w]->complete("audit", (*next)->key, "{\"by\":\"" + me + "\"}");
        if (!done || !*done) errors[w] = "complete failed for " + (*next)->key;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::multiset<std::string> all;
  for (int w = 0; w < kWorkers; ++w) {
    INFO(errors[w]);
    CHECK(errors[w].empty());
    all.insert(claimed[w].begin(), claimed[w].end());
  }
  CHECK(all.size() == kItems);
  CHECK(std::set<std::string>(all.begin(), all.end()).size() == kItems);  // no item twice
  auto results = planner->results("audit");
  REQUIRE(results);
  REQUIRE(results->size() == kItems);
  CHECK(std::is_sorted(results->begin(), results->end(), [](const auto& a, const auto& b) { return a.key < b.key; }));
  CHECK(results->front().key == "item-1000");
  CHECK(results->front().payload == "0");
  CHECK(results->front().result.find("\"by\":\"worker-") != std::string::npos);
  auto counts = planner->pending("audit");
  CHECK(counts->done == kItems);
  CHECK(counts->claimed == 0);
}

TEST_CASE("store: an expired lease makes the item claimable again; the first completion wins", "[store]") {
  const std::string which = backend();
  INFO(which);
  Location where(which);
  auto a = where.open();
  auto b = where.open();
  REQUIRE(a->enqueue("r", {{"", "only", "p"}}).value() == 1);
  auto first = a->claim_next("r", "A", 300ms);
  REQUIRE(first);
  REQUIRE(*first);
  CHECK(a->renew("r", "only", "A", 300ms).value());
  CHECK_FALSE(b->claim_next("r", "B", 60s).value());  // held by A
  CHECK(b->pending("r")->claimed == 1);
  std::this_thread::sleep_for(450ms);  // A "died": its lease ran out
  CHECK(b->pending("r")->claimed == 0);
  auto second = b->claim_next("r", "B", 60s);
  REQUIRE(second);
  REQUIRE(*second);
  CHECK((*second)->key == "only");
  CHECK_FALSE(a->renew("r", "only", "A", 60s).value());  // A lost it
  // A was only slow: it finishes first and wins; B's later completion changes nothing.
  CHECK(a->complete("r", "only", "from-A").value());
  CHECK_FALSE(b->complete("r", "only", "from-B").value());
  CHECK_FALSE(b->renew("r", "only", "B", 60s).value());
  CHECK_FALSE(b->claim_next("r", "B", 60s).value());  // done items are never claimed
  auto results = b->results("r");
  REQUIRE(results);
  REQUIRE(results->size() == 1);
  CHECK(results->at(0).result == "from-A");
  auto missing = a->complete("r", "nope", "x");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
  CHECK(a->pending("r")->done == 1);
}

TEST_CASE("store: serve claims are exclusive, renewable by their owner and lost when they expire", "[store]") {
  const std::string which = backend();
  INFO(which);
  Location where(which);
  auto one = where.open();
  auto two = where.open();
  const std::string digest = "sha256:" + std::string(64, 'f');
  CHECK(one->try_claim("scan", digest, "replica-1", 60s).value());
  CHECK_FALSE(two->try_claim("scan", digest, "replica-2", 60s).value());
  CHECK(one->try_claim("scan", digest, "replica-1", 60s).value());  // its own: extended
  CHECK(two->try_claim("other-scope", digest, "replica-2", 60s).value());
  REQUIRE(two->release("scan", digest, "replica-2"));  // not its claim: nothing happens
  CHECK_FALSE(two->try_claim("scan", digest, "replica-2", 60s).value());
  REQUIRE(one->release("scan", digest, "replica-1"));
  CHECK(two->try_claim("scan", digest, "replica-2", 200ms).value());
  CHECK_FALSE(one->try_claim("scan", digest, "replica-1", 60s).value());
  std::this_thread::sleep_for(350ms);  // replica-2 crashed mid-scan
  CHECK(one->try_claim("scan", digest, "replica-1", 60s).value());
  CHECK_FALSE(two->try_claim("scan", digest, "replica-2", 60s).value());
}

TEST_CASE("store: open_store tells PostgreSQL URIs from directories and never prints a password", "[store]") {
  CHECK(cache::is_postgres_spec("postgresql://u@h/db"));
  CHECK(cache::is_postgres_spec("postgres://h"));
  CHECK(cache::is_postgres_spec("postgresql:"));
  CHECK_FALSE(cache::is_postgres_spec("./postgresql"));
  CHECK_FALSE(cache::is_postgres_spec("/var/cache/layerleak"));
  auto typo = cache::open_store("postgressql://u:hunter2@h/db");
  REQUIRE_FALSE(typo);
  CHECK(typo.error().code == Errc::invalid_argument);
  CHECK(typo.error().message.find("hunter2") == std::string::npos);
  // Nothing listens on port 1: the error names the server, never the password.
  auto unreachable = cache::open_store("postgresql://someone:hunter2@127.0.0.1:1/db?connect_timeout=2");
  REQUIRE_FALSE(unreachable);
  CHECK(unreachable.error().code == Errc::io);
  CHECK(unreachable.error().message.find("hunter2") == std::string::npos);
  CHECK(unreachable.error().message.find("127.0.0.1") != std::string::npos);
  TempDir dir;
  auto sqlite = cache::open_store(dir.file("c"));
  REQUIRE(sqlite);
  CHECK((*sqlite)->describe() == std::filesystem::canonical(dir.file("c")).string() + "/layerleak-cache.sqlite3");
}

TEST_CASE("store: a PostgreSQL store reconnects after its connection was dropped", "[store]") {
  const char* admin_uri = std::getenv("LAYERLEAK_TEST_POSTGRES");
  if (!admin_uri || !*admin_uri) return;  // PostgreSQL only (CTest's store.postgresql)
  Location where("postgresql");
  auto store = where.open();
  REQUIRE(store->put_report("sha256:cc", "p", "{\"n\":1}"));
  // The server ends every session on that database (a restart, an idle timeout, a failover would too).
  PGconn* admin = PQconnectdb(admin_uri);
  REQUIRE(PQstatus(admin) == CONNECTION_OK);
  const std::string db = where.spec().substr(where.spec().find("@/") + 2, where.spec().find('?') - where.spec().find("@/") - 2);
  const char* values[] = {db.c_str()};
  PGresult* r = PQexecParams(admin, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
                             1, nullptr, values, nullptr, nullptr, 0);
  const bool terminated = PQresultStatus(r) == PGRES_TUPLES_OK && std::string(PQgetvalue(r, 0, 0)) == "1";
  PQclear(r);
  PQfinish(admin);
  REQUIRE(terminated);
  std::this_thread::sleep_for(100ms);
  CHECK(store->get_report("sha256:cc", "p") == std::optional<std::string>("{\"n\":1}"));
  CHECK(store->put_report("sha256:cc", "p", "{\"n\":2}"));
  CHECK(store->enqueue("after", {{"", "k", "v"}}).value() == 1);
}

TEST_CASE("store: verification results by fingerprint within the TTL; unknown is never stored", "[store]") {
  const std::string which = backend();
  INFO(which);
  Location where(which);
  auto store = where.open();
  CHECK_FALSE(store->get_verification("fp-live", 3600s));
  const cache::VerificationRecord live{"live", "2026-12-03T08:40:09Z", 200, "HTTP 200",
                                       "{\"access_key\":\"SCW0RE86AB2CD4EF6GH8\",\"description\":\"'; DROP TABLE verifications; --\"}"};
  REQUIRE(store->put_verification("fp-live", live));
  auto hit = store->get_verification("fp-live", 3600s);
  REQUIRE(hit);
  CHECK(hit->status == "live");
  CHECK(hit->checked_at == live.checked_at);
  CHECK(hit->http_status == std::optional<int>(200));
  CHECK(hit->reason == "HTTP 200");
  CHECK(hit->api_key_json == live.api_key_json);
  // Older than the TTL: a miss (the row stays; a later put replaces it).
  std::this_thread::sleep_for(1100ms);
  CHECK_FALSE(store->get_verification("fp-live", 1s));
  CHECK(store->get_verification("fp-live", 3600s));
  // Replaced; no HTTP status and no metadata read back as absent.
  REQUIRE(store->put_verification("fp-live", {"invalid", "2026-12-03T09:00:00Z", 401, "revoked", ""}));
  REQUIRE(store->put_verification("fp-unsupported", {"unsupported", "", std::nullopt, "no safe check", ""}));
  hit = store->get_verification("fp-live", 3600s);
  REQUIRE(hit);
  CHECK(hit->status == "invalid");
  CHECK(hit->api_key_json.empty());
  hit = store->get_verification("fp-unsupported", 3600s);
  REQUIRE(hit);
  CHECK_FALSE(hit->http_status);
  // unknown (a timeout, a 500): never kept, and never replaces a stored answer.
  REQUIRE(store->put_verification("fp-unknown", {"unknown", "2026-12-03T09:00:00Z", 500, "HTTP 500", ""}));
  CHECK_FALSE(store->get_verification("fp-unknown", 3600s));
  REQUIRE(store->put_verification("fp-live", {"unknown", "2026-12-03T09:00:00Z", std::nullopt, "timeout", ""}));
  CHECK(store->get_verification("fp-live", 3600s)->status == "invalid");
  // Another connection (another replica or worker) reads the same answers.
  auto other = where.open();
  CHECK(other->get_verification("fp-live", 3600s)->status == "invalid");
}

TEST_CASE("store: a verification cache claims keys, so owners sharing a store check each key once", "[store]") {
  const std::string which = backend();
  INFO(which);
  Location where(which);
  auto first_store = where.open();
  auto second_store = where.open();
  verify::StoreVerificationCache first(*first_store, 3600s, "worker-1", 10s);
  verify::StoreVerificationCache second(*second_store, 3600s, "worker-2", 10s);
  CHECK_FALSE(first.get("fp-a"));  // nothing stored: claimed by worker-1, which checks it
  // worker-2 waits for worker-1's answer instead of sending its own request.
  std::optional<report::Verification> seen;
  const auto started = std::chrono::steady_clock::now();
  std::thread waiter([&] { seen = second.get("fp-a"); });
  std::this_thread::sleep_for(400ms);
  report::Verification live{"live", "2026-12-03T08:40:09Z", 403, "HTTP 403: valid key without IAM read permission", std::nullopt};
  live.api_key = report::ApiKeyInfo{"SCW0RE86AB2CD4EF6GH8", "ci key", "", "app-1", "proj-1", "2025-06-02T09:14:27Z", ""};
  first.put("fp-a", live);
  waiter.join();
  REQUIRE(seen);
  CHECK(std::chrono::steady_clock::now() - started >= 400ms);
  CHECK(seen->status == "live");
  CHECK(seen->http_status == std::optional<int>(403));
  REQUIRE(seen->api_key);
  CHECK(seen->api_key->description == "ci key");
  CHECK(seen->api_key->application_id == "app-1");
  // An unknown answer is not stored and frees the key: the waiter then claims it and checks it itself.
  CHECK_FALSE(first.get("fp-b"));
  std::optional<report::Verification> second_b{report::Verification{}};
  std::thread waiter_b([&] { second_b = second.get("fp-b"); });
  std::this_thread::sleep_for(300ms);
  first.put("fp-b", report::Verification{"unknown", "2026-12-03T08:40:09Z", std::nullopt, "timed out", std::nullopt});
  waiter_b.join();
  CHECK_FALSE(second_b);  // claimed by worker-2 now
  CHECK_FALSE(first_store->try_claim("verify", "fp-b", "worker-3", 10s).value());
}
