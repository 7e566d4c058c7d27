// `layerleak audit`: the plan (tags to digests to image manifests, each distinct manifest once with every
// tag naming it, platforms as scan selects them), the repository list file, the work queue of the private
// store, work item payloads, and the audit report in every format (golden JSON and text, redaction).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <unistd.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "layerleak/audit.h"

using namespace layerleak;

namespace {

const std::string kD1 = "sha256:" + std::string(64, '1');  // a plain manifest, tagged in two repositories
const std::string kIdx = "sha256:" + std::string(64, 'a');  // an index: amd64 + arm64
const std::string kAmd = "sha256:" + std::string(64, '2');
const std::string kArm = "sha256:" + std::string(64, '3');
const std::string kArmIdx = "sha256:" + std::string(64, 'b');  // an index with arm64 only

class FakeCatalog final : public audit::Catalog {
 public:
  std::map<std::string, std::map<std::string, std::string>> repos;  // repo -> tag -> digest
  std::set<std::string> broken;                                     // tags/list fails

  Result<std::vector<std::string>> repositories() override {
    std::vector<std::string> out;
    for (const auto& [name, tags] : repos) out.push_back(name);
    return out;
  }
  Result<std::vector<std::string>> tags(const std::string& repository) override {
    if (broken.contains(repository)) return make_error(Errc::network, "connection reset");
    auto it = repos.find(repository);
    if (it == repos.end()) return make_error(Errc::not_found, "no such repository");
    std::vector<std::string> out;
    for (const auto& [tag, digest] : it->second) out.push_back(tag);
    return out;
  }
  Result<std::string> resolve(const std::string& repository, const std::string& tag) override {
    return repos.at(repository).at(tag);
  }
};

class FakeExpander final : public audit::Expander {
 public:
  std::mutex mutex;  // make_plan with concurrency > 1 calls from several threads
  std::map<std::string, int> calls;
  Result<std::vector<audit::SelectedImage>> expand(const std::string&, const std::string& digest) override {
    {
      std::lock_guard lock(mutex);
      ++calls[digest];
    }
    if (digest == kIdx) return std::vector<audit::SelectedImage>{{kAmd, "linux/amd64", kIdx}, {kArm, "linux/arm64", kIdx}};
    if (digest == kArmIdx) return std::vector<audit::SelectedImage>{{kArm, "linux/arm64", kArmIdx}};
    return std::vector<audit::SelectedImage>{{digest, "linux/amd64", ""}};
  }
};

FakeCatalog sample_catalog() {
  FakeCatalog c;
  c.repos["app"] = {{"1.0", kD1}, {"latest", kD1}};
  c.repos["base"] = {{"copy", kD1}, {"multi", kIdx}, {"armonly", kArmIdx}};
  return c;
}

const audit::PlannedImage* find(const audit::Plan& plan, const std::string& digest) {
  for (const audit::PlannedImage& i : plan.images) {
    if (i.manifest_digest == digest) return &i;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("audit plan: each manifest once with every tag naming it, default platform", "[audit]") {
  FakeCatalog catalog = sample_catalog();
  FakeExpander expander;
  audit::PlanOptions options;
  options.registry = "127.0.0.1:5000";
  audit::Plan plan = audit::make_plan(catalog, expander, options);
  CHECK(plan.repositories == 2);
  CHECK(plan.errors.empty());
  REQUIRE(plan.images.size() == 2);  // D1 and the amd64 manifest of the index
  const audit::PlannedImage* d1 = find(plan, kD1);
  REQUIRE(d1 != nullptr);
  CHECK(d1->repository == "app");  // the first repository holding it
  CHECK(d1->tags == std::vector<std::string>{"app:1.0", "app:latest", "base:copy"});
  CHECK(d1->reference("127.0.0.1:5000") == "docker://127.0.0.1:5000/app@" + kD1);
  const audit::PlannedImage* amd = find(plan, kAmd);
  REQUIRE(amd != nullptr);
  CHECK(amd->repository == "base");
  CHECK(amd->platform == "linux/amd64");
  CHECK(amd->index_digest == kIdx);
  CHECK(amd->tags == std::vector<std::string>{"base:multi"});
  CHECK(find(plan, kArm) == nullptr);
  // The arm64-only index is skipped for linux/amd64, said so, and the audit stays complete.
  REQUIRE(plan.skipped.size() == 1);
  CHECK(plan.skipped[0].tag == "base:armonly");
  CHECK(plan.skipped[0].reason.find("linux/arm64") != std::string::npos);
  // One expansion per distinct digest, however many tags name it.
  CHECK(expander.calls[kD1] == 1);
  // Ordered by repository, then digest.
  CHECK(plan.images[0].repository == "app");
  CHECK(plan.images[1].repository == "base");
}

TEST_CASE("audit plan: --all-platforms and a platform that matches only some indexes", "[audit]") {
  FakeCatalog catalog = sample_catalog();
  FakeExpander expander;
  audit::PlanOptions options;
  options.registry = "r";
  options.select.all_platforms = true;
  audit::Plan all = audit::make_plan(catalog, expander, options);
  REQUIRE(all.images.size() == 3);
  CHECK(all.skipped.empty());
  const audit::PlannedImage* arm = find(all, kArm);
  REQUIRE(arm != nullptr);
  CHECK(arm->tags == std::vector<std::string>{"base:armonly", "base:multi"});

  options.select.all_platforms = false;
  options.select.platform = *oci::Platform::parse("linux/arm64");
  audit::Plan arm_only = audit::make_plan(catalog, expander, options);
  CHECK(find(arm_only, kArm) != nullptr);
  CHECK(find(arm_only, kAmd) == nullptr);
  CHECK(find(arm_only, kD1) != nullptr);  // a plain manifest is the image whatever the platform asked
}

TEST_CASE("audit plan: a repository that fails to list is an error, the others are planned", "[audit]") {
  FakeCatalog catalog = sample_catalog();
  catalog.broken.insert("app");
  FakeExpander expander;
  audit::PlanOptions options;
  options.registry = "r";
  audit::Plan plan = audit::make_plan(catalog, expander, options);
  REQUIRE(plan.errors.size() == 1);
  CHECK(plan.errors[0].code == "network");
  CHECK(plan.errors[0].message.find("app") != std::string::npos);
  const audit::PlannedImage* d1 = find(plan, kD1);
  REQUIRE(d1 != nullptr);
  CHECK(d1->repository == "base");
  CHECK(d1->tags == std::vector<std::string>{"base:copy"});

  options.repositories = std::vector<std::string>{"base"};  // a given list replaces the catalog
  catalog.broken.clear();
  audit::Plan listed = audit::make_plan(catalog, expander, options);
  CHECK(listed.repositories == 1);
  CHECK(find(listed, kD1)->tags == std::vector<std::string>{"base:copy"});
}

TEST_CASE("audit --repositories-from: comments, blanks, invalid names refused", "[audit]") {
  const auto dir = std::filesystem::temp_directory_path() / ("layerleak-audit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "repos.txt").string();
  {
    std::ofstream out(path);
    out << "# production\n  team/app  \n\nbase\r\n# end\n";
  }
  auto list = audit::read_repository_list(path);
  REQUIRE(list);
  CHECK(*list == std::vector<std::string>{"team/app", "base"});
  {
    std::ofstream out(path);
    out << "good\nBad/Name:tag\n";
  }
  auto bad = audit::read_repository_list(path);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("line 2") != std::string::npos);
  CHECK_FALSE(audit::read_repository_list((dir / "missing").string()));
  CHECK_FALSE(audit::read_repository_list(dir.string()));  // a directory is not a list
  std::filesystem::remove_all(dir);
}

TEST_CASE("audit work items: payload round trip, malformed payloads refused", "[audit]") {
  audit::PlannedImage image{"team/app", kAmd, "linux/amd64", kIdx, {"team/app:1", "team/app:latest"}};
  auto back = audit::decode_item(audit::encode_item(image));
  REQUIRE(back);
  CHECK(back->repository == image.repository);
  CHECK(back->manifest_digest == image.manifest_digest);
  CHECK(back->index_digest == kIdx);
  CHECK(back->tags == image.tags);
  CHECK_FALSE(audit::decode_item("{}"));
  CHECK_FALSE(audit::decode_item("not json"));
  CHECK_FALSE(audit::decode_item(R"({"repository":"a","manifest_digest":"md5:x","platform":"","index_digest":"","tags":[]})"));
}

TEST_CASE("audit run names: named runs are shared, unnamed ones private", "[audit]") {
  CHECK(audit::run_name("r", "p", "nightly") == audit::run_name("r", "p", "nightly"));
  CHECK(audit::run_name("r", "p", "nightly") != audit::run_name("r", "p2", "nightly"));
  CHECK(audit::run_name("r", "p", "nightly") != audit::run_name("r2", "p", "nightly"));
  CHECK(audit::run_name("r", "p", "") != audit::run_name("r", "p", ""));
}

TEST_CASE("audit memory store: idempotent enqueue, one claim at a time, expired leases, first completion wins",
          "[audit]") {
  auto store = audit::memory_store();
  using namespace std::chrono_literals;
  std::vector<cache::WorkItem> items{{"run", "k1", "p1"}, {"run", "k2", "p2"}};
  REQUIRE(*store->enqueue("run", items) == 2);
  REQUIRE(*store->enqueue("run", {{"run", "k1", "changed"}, {"run", "k3", "p3"}}) == 1);
  auto a = store->claim_next("run", "A", 50ms);
  REQUIRE(a);
  REQUIRE(*a);
  CHECK((*a)->key == "k1");
  CHECK((*a)->payload == "p1");  // the first enqueue's payload stays
  auto b = store->claim_next("run", "B", 10s);
  REQUIRE(*b);
  CHECK((*b)->key == "k2");
  auto c = store->claim_next("run", "B", 10s);
  REQUIRE(*c);
  CHECK((*c)->key == "k3");
  CHECK_FALSE(*store->claim_next("run", "C", 10s));  // everything held
  auto counts = store->pending("run");
  CHECK(counts->total == 3);
  CHECK(counts->claimed == 3);
  std::this_thread::sleep_for(80ms);  // A "crashed": its lease runs out
  auto again = store->claim_next("run", "C", 10s);
  REQUIRE(*again);
  CHECK((*again)->key == "k1");
  CHECK(*store->complete("run", "k1", "from C"));
  CHECK_FALSE(*store->complete("run", "k1", "from A, late"));
  CHECK(*store->renew("run", "k2", "B", 10s));
  CHECK_FALSE(*store->renew("run", "k2", "A", 10s));
  CHECK(*store->complete("run", "k2", "r2"));
  CHECK(*store->complete("run", "k3", "r3"));
  CHECK_FALSE(store->complete("run", "nope", "x"));
  auto results = store->results("run");
  REQUIRE(results->size() == 3);
  CHECK((*results)[0].result == "from C");
  CHECK(store->pending("run")->done == 3);
  // Claims (layers being read): one owner at a time, released or expired.
  CHECK(*store->try_claim("layer", "L", "A", 50ms));
  CHECK_FALSE(*store->try_claim("layer", "L", "B", 50ms));
  REQUIRE(store->release("layer", "L", "A"));
  CHECK(*store->try_claim("layer", "L", "B", 50ms));
  std::this_thread::sleep_for(80ms);
  CHECK(*store->try_claim("layer", "L", "A", 50ms));
}

// ---- Report rendering ------------------------------------------------------------------------------------

namespace {

const std::string kSecret = "6f2c1a3e-9b7d-4e5f-8a1b-2c3d4e5f6b7c";
const std::string kAccess = "SCW0RE86PQ1Z4K7H2M5N";
const std::string kOther = "11111111-2222-4333-8444-555555555555";

report::Finding finding(const std::string& secret, const std::string& path, std::size_t layer, const std::string& diff_id) {
  report::Finding f;
  f.rule_id = "scaleway.secret-key";
  f.title = "Scaleway API secret key";
  f.severity = rules::Severity::critical;
  f.confidence = rules::Confidence::high;
  f.secret = secret;
  f.fingerprint = report::fingerprint(f.rule_id, secret);
  f.paired_access_key = secret == kSecret ? kAccess : "";
  f.location.kind = "layer";
  f.location.layer_index = layer;
  f.location.layer_digest = "sha256:" + std::string(64, 'c');
  f.location.diff_id = diff_id;
  f.location.created_by = "COPY .env /app/";
  f.location.path = path;
  f.location.line = 2;
  f.location.column = 16;
  f.location.offset = 36;
  return f;
}

report::ImageReport image(const std::string& repo, const std::string& digest, std::vector<std::string> tags) {
  report::ImageReport i;
  i.reference = "docker://127.0.0.1:5000/" + repo + "@" + digest;
  i.transport = "docker";
  i.manifest_digest = digest;
  i.config_digest = "sha256:" + std::string(64, 'f');
  i.platform = "linux/amd64";
  i.tags = std::move(tags);
  for (std::size_t l = 0; l < 2; ++l) {
    report::LayerSummary s;
    s.index = l;
    s.digest = "sha256:" + std::string(63, 'c') + std::to_string(l);
    s.diff_id = "sha256:" + std::string(63, 'd') + std::to_string(l);
    s.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
    s.compression = "gzip";
    s.created_by = l == 0 ? "ADD base.tar /" : "COPY .env /app/";
    s.compressed_size = 1000;
    s.entries = 3;
    s.bytes_scanned = 300;
    s.complete = true;
    i.layers.push_back(s);
  }
  i.entries = 6;
  i.bytes_scanned = 600;
  return i;
}

report::AuditReport sample_audit() {
  report::AuditReport a;
  a.registry = "127.0.0.1:5000";
  a.scan.tool_version = "0.1.0";
  a.scan.rules_digest = "sha256:" + std::string(64, '9');
  report::ImageReport app = image("app", kD1, {"app:1.0", "app:latest"});
  app.findings.push_back(finding(kSecret, "/app/.env", 1, app.layers[1].diff_id));
  report::ImageReport worker = image("worker", kAmd, {"worker:2"});
  worker.findings.push_back(finding(kSecret, "/srv/.env", 1, worker.layers[1].diff_id));
  worker.findings.push_back(finding(kOther, "/srv/old.env", 1, worker.layers[1].diff_id));
  report::ImageReport clean = image("zzz", kArm, {"zzz:latest"});
  a.scan.images = {app, worker, clean};
  a.summary = {3, 3, 2, 4, 4, 0};
  a.skipped.push_back({"base:armonly", "no image for platform linux/amd64 (available: linux/arm64)"});
  return a;
}

std::string render(const report::AuditReport& a, report::Format format, const report::ReportOptions& options = {}) {
  std::ostringstream out;
  auto st = report::write_audit_report(a, format, options, out);
  INFO((st ? std::string() : st.error().message));
  REQUIRE(st);
  return out.str();
}

void check_golden(const std::string& name, const std::string& actual) {
  const auto path = std::filesystem::path(LAYERLEAK_TEST_DATA_DIR) / "golden" / name;
  const char* update = std::getenv("LAYERLEAK_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << actual;
    REQUIRE(out.good());
    WARN("rewrote " << path.string());
    return;
  }
  std::ifstream in(path, std::ios::binary);
  INFO("golden file " << path.string() << " (LAYERLEAK_UPDATE_GOLDEN=1 rewrites it)");
  REQUIRE(in.good());
  std::stringstream expected;
  expected << in.rdbuf();
  CHECK(actual == expected.str());
}

}  // namespace

TEST_CASE("audit report: golden JSON and text", "[audit][golden]") {
  const report::AuditReport a = sample_audit();
  const std::string json = render(a, report::Format::json);
  check_golden("audit.json", json);
  check_golden("audit.txt", render(a, report::Format::text));
  auto j = nlohmann::json::parse(json);
  CHECK(j["kind"] == "audit");
  CHECK(j["schema_version"] == 1);
  CHECK(j["registry"] == "127.0.0.1:5000");
  CHECK(j["summary"]["layers_total"] == 4);
  CHECK(j["summary"]["images_with_findings"] == 2);
  CHECK(j["images"].size() == 3);
  CHECK(j["images"][0]["tags"] == nlohmann::json({"app:1.0", "app:latest"}));
  CHECK(j["complete"] == true);
  CHECK(j["skipped"][0]["tag"] == "base:armonly");
}

TEST_CASE("audit report: text and HTML list each credential once with every image and tag", "[audit]") {
  const report::AuditReport a = sample_audit();
  const std::string text = render(a, report::Format::text);
  const std::string fp = report::fingerprint("scaleway.secret-key", kSecret);
  auto count = [](const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
  };
  CHECK(count(text, "fingerprint " + fp) == 1);
  const auto block = text.substr(text.find(fp), text.find("\n\n", text.find(fp)) - text.find(fp));
  CHECK(block.find("app:1.0, app:latest") != std::string::npos);
  CHECK(block.find("worker:2") != std::string::npos);
  CHECK(block.find("/srv/.env") != std::string::npos);
  CHECK(text.find("3 repositories, 3 images, 2 with findings, 2 credentials") != std::string::npos);
  report::ReportOptions quiet;
  quiet.summary_only = true;
  CHECK(count(render(a, report::Format::text, quiet), "\n") == 1);

  const std::string html = render(a, report::Format::html);
  CHECK(count(html, "<h3>") == 2);
  CHECK(html.find("Content-Security-Policy") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  // Repositories by risk: the ones with critical keys before the clean one.
  CHECK(html.find("<code>app</code>") < html.find("<code>zzz</code>"));
  CHECK(html.find("<code>worker</code>") < html.find("<code>zzz</code>"));
}

TEST_CASE("audit report: no format prints a full secret unless show_secrets; SARIF one run per image", "[audit]") {
  report::AuditReport a = sample_audit();
  a.errors.push_back({"network", "listing team/" + kOther + ": refused", std::nullopt});  // a key in free text
  for (report::Format f : {report::Format::json, report::Format::text, report::Format::html, report::Format::sarif}) {
    const std::string out = render(a, f);
    CHECK(out.find(kSecret) == std::string::npos);
    CHECK(out.find(kAccess) == std::string::npos);
    CHECK(out.find(kOther) == std::string::npos);
  }
  report::ReportOptions show;
  show.show_secrets = true;
  CHECK(render(a, report::Format::json, show).find(kSecret) != std::string::npos);
  CHECK(render(a, report::Format::text, show).find(kSecret) != std::string::npos);
  auto sarif = nlohmann::json::parse(render(a, report::Format::sarif));
  CHECK(sarif["runs"].size() == 3);
  std::ostringstream out;
  CHECK_FALSE(report::write_audit_report(a, report::Format::gitlab, {}, out));
  CHECK_FALSE(a.complete());
  CHECK(nlohmann::json::parse(render(a, report::Format::json))["complete"] == false);
}

TEST_CASE("audit plan: concurrent listing and resolving give the same plan, each digest expanded once", "[audit]") {
  FakeCatalog catalog = sample_catalog();
  for (int r = 0; r < 30; ++r) {  // more repositories and tags than threads, a failing one in the middle
    auto& tags = catalog.repos["r" + std::to_string(100 + r)];
    for (int t = 0; t < 7; ++t) tags["t" + std::to_string(t)] = (t % 3 == 0) ? kIdx : "sha256:" + std::string(63, 'c') + std::to_string(t);
  }
  catalog.broken.insert("r115");
  auto plan_with = [&](unsigned concurrency, FakeExpander& expander) {
    audit::PlanOptions options;
    options.registry = "127.0.0.1:5000";
    options.concurrency = concurrency;
    std::size_t calls = 0;
    options.on_progress = [&](const audit::PlanProgress&) { ++calls; };  // one call at a time
    audit::Plan plan = audit::make_plan(catalog, expander, options);
    CHECK(calls >= 1);
    return plan;
  };
  FakeExpander one_expander, many_expander;
  const audit::Plan one = plan_with(1, one_expander);
  const audit::Plan many = plan_with(8, many_expander);
  CHECK(audit::encode_item(one.images.front()) == audit::encode_item(many.images.front()));
  REQUIRE(one.images.size() == many.images.size());
  for (std::size_t i = 0; i < one.images.size(); ++i) CHECK(audit::encode_item(one.images[i]) == audit::encode_item(many.images[i]));
  REQUIRE(one.errors.size() == 1);
  REQUIRE(many.errors.size() == 1);
  CHECK(many.errors[0].message == one.errors[0].message);
  REQUIRE(one.skipped.size() == many.skipped.size());
  for (std::size_t i = 0; i < one.skipped.size(); ++i) CHECK(one.skipped[i].tag == many.skipped[i].tag);
  for (const auto& [digest, n] : many_expander.calls) CHECK(n == 1);
  CHECK(many_expander.calls.size() == one_expander.calls.size());
}

TEST_CASE("audit: expansions and a named run's plan are kept in the store", "[audit]") {
  auto store = audit::memory_store();
  FakeExpander inner;
  auto stored = audit::stored_expander(inner, *store);
  auto first = stored->expand("base", kIdx);
  auto second = stored->expand("other", kIdx);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(inner.calls[kIdx] == 1);  // the second answer came from the store
  REQUIRE(second->size() == 2);
  CHECK((*second)[1].manifest_digest == kArm);
  CHECK((*second)[1].platform == "linux/arm64");
  CHECK((*second)[1].index_digest == kIdx);

  // plan_once: the first worker plans and stores the plan; another worker of the run uses it unplanned.
  FakeCatalog catalog = sample_catalog();
  audit::RunOptions a;
  a.run = "audit:test-plan";
  a.worker = "a";
  a.poll = std::chrono::milliseconds(10);
  audit::RunOptions b = a;
  b.worker = "b";
  int made = 0;
  auto make = [&] {
    ++made;
    audit::PlanOptions options;
    options.registry = "127.0.0.1:5000";
    return audit::make_plan(catalog, inner, options);
  };
  const audit::Plan planned = audit::plan_once(*store, a, make);
  const audit::Plan reused = audit::plan_once(*store, b, make);
  CHECK(made == 1);
  CHECK(reused.registry == planned.registry);
  CHECK(reused.repositories == planned.repositories);
  REQUIRE(reused.images.size() == planned.images.size());
  for (std::size_t i = 0; i < planned.images.size(); ++i) CHECK(audit::encode_item(reused.images[i]) == audit::encode_item(planned.images[i]));
  REQUIRE(reused.skipped.size() == 1);
  CHECK(reused.skipped[0].reason == planned.skipped[0].reason);
  // Another run plans for itself.
  audit::RunOptions c = a;
  c.run = "audit:other-run";
  (void)audit::plan_once(*store, c, make);
  CHECK(made == 2);
}
