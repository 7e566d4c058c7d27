// The scan jobs of `serve` (scanner/serve/src/job_queue.h, internal to the serve library): results are
// published to readers only when complete, and the queue keeps a bounded number of finished jobs.
// Meant to run under ThreadSanitizer as well as in the normal builds.
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "../../scanner/serve/src/job_queue.h"  // internal header: the queue has no public interface
#include "fixture_builder.h"
#include "layerleak/cache.h"
#include "test_support.h"

using namespace layerleak;
namespace fx = layerleak::testing;
using layerleak::testing::TempDir;

namespace {

fx::ImageSpec leaky_image(const std::string& tag) {
  fx::ImageSpec spec;
  spec.repo_tags = {"example/app:" + tag};
  fx::LayerSpec layer;
  layer.created_by = "COPY . /app";
  for (int i = 0; i < 200; ++i) layer.layer.file("app/f" + std::to_string(i), std::string(2000, 'x'));
  layer.layer.file("app/.env", "SCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c\n");
  spec.layers = {layer};
  return spec;
}

}  // namespace

TEST_CASE("a job's report is read consistently while its scan runs, and finished jobs are bounded") {
  TempDir dir;
  const std::string layout = dir.file("layout");
  REQUIRE(fx::write_oci_layout({leaky_image("1"), leaky_image("2"), leaky_image("3")}, layout));
  serve::ServeOptions options;
  options.workers = 2;
  options.jobs_kept = 2;
  options.allow_local_images = true;
  auto opened = cache::ScanCache::open_in_memory();
  REQUIRE(opened);
  serve::Metrics metrics;
  serve::JobQueue queue(options, fx::builtin_detector(), **opened, metrics);

  std::vector<std::string> ids;
  for (const char* tag : {"1", "2", "3"}) {
    serve::JobSpec spec;
    spec.reference = "oci:" + layout + ":" + tag;
    const auto submitted = queue.submit(spec);
    REQUIRE(submitted.outcome == serve::JobQueue::Outcome::accepted);
    ids.push_back(submitted.id);
  }
  // Readers poll while the workers write: the worker used to fill report_json and verdicts outside the
  // lock that get() copies them under (a data race ThreadSanitizer reports). A reader sees either
  // nothing or the whole result.
  std::atomic<bool> done{false};
  std::atomic<int> inconsistent{0};
  std::thread reader([&] {
    while (!done) {
      for (const std::string& id : ids) {
        if (auto job = queue.get(id)) {
          if (job->state == serve::JobState::running && (job->report || !job->verdicts.empty())) ++inconsistent;
          if (job->state == serve::JobState::done && job->verdicts.empty()) ++inconsistent;
        }
      }
    }
  });
  for (const std::string& id : ids) queue.wait(id, std::chrono::steady_clock::now() + std::chrono::seconds(60));
  done = true;
  reader.join();
  CHECK(inconsistent == 0);

  // jobs_kept = 2: the first finished job is gone, the last is there with a deny verdict.
  std::size_t kept = 0;
  for (const std::string& id : ids) kept += queue.get(id).has_value() ? 1 : 0;
  CHECK(kept == 2);
  auto last = queue.get(ids.back());
  if (!last) last = queue.get(ids[1]);
  REQUIRE(last);
  REQUIRE(last->state == serve::JobState::done);
  REQUIRE(last->verdicts.size() == 1);
  CHECK(last->verdicts[0].verdict == serve::wire::Verdict::deny);
  queue.stop();
}

TEST_CASE("serve refuses local sources by default, and a local scan never becomes a verdict") {
  TempDir dir;
  const std::string layout = dir.file("layout");
  REQUIRE(fx::write_oci_layout({leaky_image("1")}, layout));
  auto opened = cache::ScanCache::open_in_memory();
  REQUIRE(opened);
  serve::Metrics metrics;
  const std::string forged_digest = "sha256:" + std::string(64, 'c');

  serve::ServeOptions closed;
  serve::JobQueue refusing(closed, fx::builtin_detector(), **opened, metrics);
  const std::vector<std::string> local_references = {"oci:" + layout + ":1", "dir:" + dir.path.string(), layout,
                                                     "oci-archive:/etc/shadow", "docker-archive:/dev/zero",
                                                     "dir:" + dir.path.string() + ":@" + forged_digest};
  for (const std::string& reference : local_references) {
    serve::JobSpec spec;
    spec.reference = reference;
    const auto submitted = refusing.submit(spec);
    CHECK(submitted.outcome == serve::JobQueue::Outcome::refused);
    CHECK(submitted.why.find("--allow-local-images") != std::string::npos);
  }
  // Standard input and the Docker daemon: refused with their own reason, also with local images allowed.
  for (const std::string& reference : {std::string("-"), std::string("docker-archive:-"), std::string("docker-daemon:app:1")}) {
    serve::JobSpec spec;
    spec.reference = reference;
    const auto submitted = refusing.submit(spec);
    CHECK(submitted.outcome == serve::JobQueue::Outcome::refused);
    CHECK(submitted.why.find("serve never reads") != std::string::npos);
  }
  refusing.stop();

  serve::ServeOptions local;
  local.allow_local_images = true;
  serve::JobQueue queue(local, fx::builtin_detector(), **opened, metrics);
  // The forged-verdict attack: an empty directory scanned under a reference that names another image's digest.
  std::string ids[2];
  const std::string references[2] = {"dir:" + dir.file("empty") + ":@" + forged_digest, "oci:" + layout + ":1"};
  std::filesystem::create_directories(dir.file("empty"));
  for (int i = 0; i < 2; ++i) {
    serve::JobSpec spec;
    spec.reference = references[i];
    const auto submitted = queue.submit(spec);
    REQUIRE(submitted.outcome == serve::JobQueue::Outcome::accepted);
    ids[i] = submitted.id;
  }
  for (const std::string& id : ids) REQUIRE(queue.wait(id, std::chrono::steady_clock::now() + std::chrono::seconds(60)));
  auto scanned = queue.get(ids[1]);
  REQUIRE(scanned);
  REQUIRE(scanned->state == serve::JobState::done);
  REQUIRE(scanned->verdicts.size() == 1);
  CHECK(scanned->verdicts[0].verdict == serve::wire::Verdict::deny);
  const std::string real_digest = scanned->verdicts[0].manifest_digest;
  REQUIRE(real_digest.starts_with("sha256:"));
  // Neither the digest in the reference text nor the local image's own digest has a stored verdict.
  CHECK_FALSE(queue.stored_verdicts(forged_digest).has_value());
  CHECK_FALSE(queue.stored_verdicts(real_digest).has_value());
  CHECK((*opened)->stats().report_puts == 0);
  queue.stop();
}

TEST_CASE("serve contacts only allowed registries, without any request for the others") {
  auto opened = cache::ScanCache::open_in_memory();
  REQUIRE(opened);
  serve::Metrics metrics;
  serve::ServeOptions options;
  options.allowed_registries = {"registry.example:5000", "rg.fr-par.scw.cloud"};
  serve::JobQueue queue(options, fx::builtin_detector(), **opened, metrics);
  CHECK(queue.refusal("docker://registry.example:5000/team/app:1").empty());
  CHECK(queue.refusal("docker://RG.FR-PAR.SCW.CLOUD/ns/app@sha256:" + std::string(64, 'a')).empty());
  for (const std::string other : {"docker://registry.example:5001/team/app:1", "docker://evil.example/team/app:1",
                                  "docker://nginx:latest", "docker://registry.example/team/app:1"}) {
    const std::string why = queue.refusal(other);
    CHECK(why.find("--allow-registry") != std::string::npos);
    serve::JobSpec spec;
    spec.reference = other;
    const auto started = std::chrono::steady_clock::now();
    CHECK(queue.submit(spec).outcome == serve::JobQueue::Outcome::refused);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(50));  // no request made
  }
  queue.stop();
}
