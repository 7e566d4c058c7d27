// layerleak_registry_probe [OPTIONS] COMMAND TARGET [ARGS…]
//
// A command-line front end to oci::RegistryCatalog, so Python tests can drive the registry listing
// against a real docker-registry or a hostile fake. TARGET is docker://HOST[:PORT][/NAMESPACE].
//   repos TARGET                     {"repositories": [...]}
//   tags TARGET REPO                 {"tags": [...]}
//   resolve TARGET REPO TAG…         {"digests": {"TAG": "sha256:…", …}} (TAG may be a digest)
//   resolve-all TARGET               {"digests": {"REPO:TAG": "sha256:…"}}: every tag of every repository
// Options: --page-size N, --concurrency N, --threads N (resolve: tags resolved by N threads at once),
// --max-retries N, --creds USER:PASS, --tls-verify=false. Warnings go to standard error as "warning: …". Exit 0, or 2 with
// {"error": {"code": "<errc>", "message": "…"}} on standard output.
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "layerleak/oci.h"

using namespace layerleak;

namespace {

int fail(const Error& e) {
  std::cout << nlohmann::json{{"error", {{"code", std::string(errc_name(e.code))}, {"message", e.message}}}}.dump() << "\n";
  return 2;
}

int usage(const std::string& why) {
  std::cerr << "layerleak_registry_probe: " << why << "\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  oci::RegistryOptions options;
  unsigned threads = 1;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto number = [&](unsigned& out) {
      if (i + 1 >= argc) return false;
      out = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
      return true;
    };
    if (a == "--page-size") {
      if (!number(options.page_size)) return usage("--page-size N");
    } else if (a == "--concurrency") {
      if (!number(options.concurrency)) return usage("--concurrency N");
    } else if (a == "--threads") {
      if (!number(threads) || threads == 0) return usage("--threads N");
    } else if (a == "--max-retries") {
      if (!number(options.max_retries)) return usage("--max-retries N");
    } else if (a == "--tls-verify=false") {
      options.tls_verify = false;
    } else if (a == "--creds") {
      if (i + 1 >= argc) return usage("--creds USER:PASS");
      options.creds = argv[++i];
    } else {
      args.push_back(a);
    }
  }
  if (args.size() < 2) return usage("COMMAND TARGET [ARGS...]");
  auto target = oci::parse_registry_target(args[1]);
  if (!target) return fail(target.error());
  auto catalog = oci::RegistryCatalog::open(*target, options, nullptr,
                                            [](const std::string& w) { std::cerr << "warning: " << w << "\n"; });
  if (!catalog) return fail(catalog.error());
  const std::string& command = args[0];
  if (command == "repos") {
    auto repos = (*catalog)->repositories();
    if (!repos) return fail(repos.error());
    std::cout << nlohmann::json{{"repositories", *repos}}.dump() << "\n";
    return 0;
  }
  if (command == "tags") {
    if (args.size() != 3) return usage("tags TARGET REPO");
    auto tags = (*catalog)->tags(args[2]);
    if (!tags) return fail(tags.error());
    std::cout << nlohmann::json{{"tags", *tags}}.dump() << "\n";
    return 0;
  }
  // resolve / resolve-all: (repository, tag) pairs, resolved by `threads` threads.
  std::vector<std::pair<std::string, std::string>> work;
  if (command == "resolve") {
    if (args.size() < 4) return usage("resolve TARGET REPO TAG...");
    for (std::size_t i = 3; i < args.size(); ++i) work.emplace_back(args[2], args[i]);
  } else if (command == "resolve-all") {
    auto repos = (*catalog)->repositories();
    if (!repos) return fail(repos.error());
    for (const std::string& repo : *repos) {
      auto tags = (*catalog)->tags(repo);
      if (!tags) return fail(tags.error());
      for (const std::string& tag : *tags) work.emplace_back(repo, tag);
    }
  } else {
    return usage("unknown command " + command);
  }
  std::mutex mutex;
  nlohmann::json digests = nlohmann::json::object();
  std::optional<Error> first_error;
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < work.size(); i = next++) {
        auto digest = (*catalog)->resolve(work[i].first, work[i].second);
        std::lock_guard lock(mutex);
        if (!digest) {
          if (!first_error) first_error = digest.error();
          continue;
        }
        digests[command == "resolve" ? work[i].second : work[i].first + ":" + work[i].second] = *digest;
      }
    });
  }
  for (auto& t : pool) t.join();
  if (first_error) return fail(*first_error);
  std::cout << nlohmann::json{{"digests", digests}}.dump() << "\n";
  return 0;
}
