// The command line: subcommands and their options (CLI11), usage errors, dispatch. `scan` lives in
// scan_options.cpp and scan_command.cpp; this file keeps `rules` and `serve`.
#include <malloc.h>
#include <signal.h>

#include <algorithm>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli_internal.h"
#include "layerleak/cli.h"
#include "layerleak/detect.h"
#include "layerleak/pipeline.h"
#include "layerleak/report.h"
#include "layerleak/rules.h"
#include "layerleak/serve.h"

namespace layerleak::cli {

int fail(const std::string& message) {
  std::cerr << "layerleak: error: " << message << '\n';
  return kExitIncomplete;
}

namespace {

// Where compiled rule databases are kept between runs: $LAYERLEAK_RULES_CACHE ("off" = nowhere), else
// $XDG_CACHE_HOME/layerleak/rules, else ~/.cache/layerleak/rules.
std::string rules_cache_dir() {
  if (const char* dir = std::getenv("LAYERLEAK_RULES_CACHE")) return std::string_view(dir) == "off" ? "" : dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && xdg[0] == '/') return std::string(xdg) + "/layerleak/rules";
  if (const char* home = std::getenv("HOME"); home && home[0] == '/') return std::string(home) + "/.cache/layerleak/rules";
  return "";
}

}  // namespace

Result<std::shared_ptr<const detect::Detector>> load_detector(const std::vector<std::string>& rule_files) {
  auto rules = rules::builtin_rules();
  if (!rules) return std::move(rules).error();
  for (const std::string& path : rule_files) {
    // A regular file of bounded size: a device or FIFO named as rules would otherwise be read forever.
    auto reader = FileReader::open(path);
    if (!reader) return make_error(reader.error().code, "cannot read rules file " + path + ": " + reader.error().message);
    auto read = read_all(**reader, 16u << 20);
    if (!read) return make_error(read.error().code, "rules file " + path + ": " + read.error().message);
    const std::string text = std::move(read).value();
    auto extra = rules::parse_rules(text, path);
    if (!extra) return std::move(extra).error();
    if (auto st = rules::merge_rules(*rules, std::move(extra).value()); !st) {
      return std::move(st).error().with_context(path);
    }
  }
  return detect::Detector::compile(std::move(rules).value(), detect::CompileOptions{rules_cache_dir()});
}

namespace {

// A batch command (scan, audit) allocates and frees the same large buffers for every file and layer:
// the held bytes of a gated file (up to 1 MiB), decoded views, nested archives. glibc serves blocks
// over 128 KiB with mmap and returns freed memory above 128 KiB at the heap's top to the system, so
// each such buffer was faulted in again page by page (3% of a layer scan's CPU in page faults).
// Keeping them costs nothing in peak RSS, which is what the process needs at its busiest anyway. Why
// not for serve: a long-running server should give memory back between scans.
void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
}

int run_rules_list(const std::vector<std::string>& rule_files) {
  auto detector = load_detector(rule_files);
  if (!detector) return fail(detector.error().message);
  for (const rules::Rule& rule : (*detector)->rules().rules) {
    std::printf("%-28s %-9s %s\n", rule.id.c_str(), std::string(rules::severity_name(rule.severity)).c_str(),
                rule.title.c_str());
  }
  return kExitClean;
}

int run_rules_check(const std::vector<std::string>& rule_files) {
  auto detector = load_detector(rule_files);
  if (!detector) return fail(detector.error().message);
  const rules::RuleSet& set = (*detector)->rules();
  std::vector<std::string> problems = rules::lint_rules(set);
  auto example_problems = detect::check_rule_examples(*detector);
  if (!example_problems) return fail(example_problems.error().message);
  problems.insert(problems.end(), example_problems->begin(), example_problems->end());
  std::size_t examples = 0;
  for (const rules::Rule& rule : set.rules) examples += rule.examples.size() + rule.negative_examples.size();
  for (const std::string& p : problems) std::printf("problem: %s\n", p.c_str());
  std::printf("%zu rules, %zu examples checked, %zu problems\n", set.rules.size(), examples, problems.size());
  return problems.empty() ? kExitClean : kExitFindings;
}

// `layerleak serve`: options as given on the command line; run_serve_command validates them.
struct ServeCommand {
  serve::ServeOptions options;
  std::vector<std::string> rule_files;
  std::string fail_on = "medium";
  bool fail_open = false;
  bool fail_closed = false;
  unsigned jobs = 1;
  std::uint64_t max_file_size = 1ull << 30;
  unsigned max_archive_depth = 5;
  std::uint64_t max_ratio = 1000;
  std::uint64_t max_archive_members = 100000;
  std::string verify_endpoint;
};

int run_serve_command(ServeCommand cmd) {
  std::transform(cmd.fail_on.begin(), cmd.fail_on.end(), cmd.fail_on.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto fail_on = rules::parse_severity(cmd.fail_on);
  if (!fail_on) return fail("--fail-on must be one of info, low, medium, high, critical");
  if (cmd.fail_open && cmd.fail_closed) return fail("--fail-open and --fail-closed exclude each other");
  serve::ServeOptions& options = cmd.options;
  if (!options.verify.enabled && (options.verify.only_live || !cmd.verify_endpoint.empty())) {
    return fail(options.verify.only_live ? "--only-live needs --verify" : "--verify-endpoint needs --verify");
  }
  if (!cmd.verify_endpoint.empty()) options.verify.endpoint = cmd.verify_endpoint;  // checked by run_serve (exit 2)
  options.fail_on = *fail_on;
  options.fail_open = cmd.fail_open;
  options.scan.jobs = std::max(1u, cmd.jobs);
  options.scan.max_file_size = cmd.max_file_size;
  options.scan.max_archive_depth = cmd.max_archive_depth;
  options.scan.max_ratio = cmd.max_ratio;
  options.scan.max_archive_members = cmd.max_archive_members;
  auto detector = load_detector(cmd.rule_files);
  if (!detector) return fail(detector.error().message);
  ::signal(SIGPIPE, SIG_IGN);
  return serve::run_serve(options, *detector);
}

void add_serve_options(CLI::App& cmd, ServeCommand& serve) {
  cmd.add_option("--listen", serve.options.listen, "ADDR:PORT to listen on")->capture_default_str();
  cmd.add_option("--token-file", serve.options.token_file,
                 "File with the bearer token every request must carry (required unless listening on loopback)");
  cmd.add_option("--tls-cert", serve.options.tls_cert, "PEM certificate: serve HTTPS (Kubernetes webhooks need it)");
  cmd.add_option("--tls-key", serve.options.tls_key, "PEM private key for --tls-cert");
  cmd.add_flag("--admission-without-token", serve.options.admission_without_token,
               "Answer the Kubernetes admission endpoints without the token (API servers that cannot send one); "
               "needs --tls-cert and --allow-registry");
  cmd.add_option("--workers", serve.options.workers, "Scans running at once")->capture_default_str();
  cmd.add_option("--queue", serve.options.queue_size, "Scans waiting beyond the running ones; more get 429")
      ->capture_default_str();
  cmd.add_option("--scan-timeout", serve.options.scan_timeout_seconds,
                 "Seconds a scan may run before it is cancelled (and counts as incomplete)")->capture_default_str();
  cmd.add_option("--admission-wait", serve.options.admission_wait_seconds,
                 "Seconds an admission request waits for a scan of an image without a verdict")->capture_default_str();
  cmd.add_flag("--fail-open", serve.fail_open, "Admit images without a verdict in time (warning only)");
  cmd.add_flag("--fail-closed", serve.fail_closed, "Deny images without a verdict in time (the default)");
  cmd.add_flag("--log-only", serve.options.log_only, "Never deny admission; log and warn what would be denied");
  cmd.add_option("--fail-on", serve.fail_on, "Deny images with a finding at or above SEVERITY")->capture_default_str();
  auto* serve_cache = cmd.add_option("--cache", serve.options.cache_dir,
                                     "Directory of the result cache (SQLite, shared with `scan --cache`); default: in memory");
  cmd.add_option("--store", serve.options.store,
                 "Result store shared by replicas: a directory (SQLite) or postgresql://… (\"postgresql:\" = PG* "
                 "environment); replicas never scan the same digest at once")
      ->excludes(serve_cache);
  cmd.add_option("-j,--jobs", serve.jobs, "Worker threads per scan")->capture_default_str();
  cmd.add_option("--max-file-size", serve.max_file_size, "Skip (and report) larger files; 0 = no limit")
      ->capture_default_str();
  cmd.add_option("--max-archive-depth", serve.max_archive_depth, "Nested archive levels opened")->capture_default_str();
  cmd.add_option("--max-ratio", serve.max_ratio, "Decompression ratio limit for nested archives")->capture_default_str();
  cmd.add_option("--max-archive-members", serve.max_archive_members, "Members read per nested archive")
      ->capture_default_str();
  cmd.add_option("--rules", serve.rule_files, "Extra rules file(s), same format as the built-in ones");
  cmd.add_option("--creds", serve.options.scan.source.registry.creds,
                 "Registry credentials USER:PASS, or USER with the password in LAYERLEAK_REGISTRY_PASSWORD");
  cmd.add_option("--authfile", serve.options.scan.source.registry.authfile,
                 "Registry credentials file (docker config.json or containers auth.json)");
  cmd.add_option("--tls-verify", serve.options.scan.source.registry.tls_verify,
                 "Verify registry TLS certificates (--tls-verify=false also allows plain HTTP); a request "
                 "never changes it")
      ->capture_default_str();
  cmd.add_option("--allow-registry", serve.options.allowed_registries,
                 "HOST[:PORT] of a registry serve may contact (repeatable); others are never contacted and "
                 "their images get no verdict. Required with --creds");
  cmd.add_flag("--verify", serve.options.verify.enabled,
               "Check each scan's secret keys against the Scaleway IAM API before its verdict is stored (one GET per "
               "distinct key, results kept by fingerprint in the cache/store for --verify-ttl); off by default");
  cmd.add_option("--verify-endpoint", serve.verify_endpoint,
                 "API for --verify (default https://api.scaleway.com; http:// only for a loopback address)");
  cmd.add_option("--verify-budget", serve.options.verify.budget_seconds,
                 "Seconds --verify may take per scan; keys without an answer by then are 'unknown' (1-600)")
      ->check(CLI::Range(1u, 600u))
      ->capture_default_str();
  cmd.add_option("--verify-ttl", serve.options.verify.ttl_seconds,
                 "Seconds a --verify result is reused for other scans of the same key")
      ->check(CLI::Range(1u, 7u * 24 * 3600))
      ->capture_default_str();
  cmd.add_flag("--only-live", serve.options.verify.only_live, "With --verify: only keys verified live deny admission");
  cmd.add_flag("--allow-local-images", serve.options.allow_local_images,
               "Let POST /v1/scans read local sources (dir:, oci:, archives, paths) with serve's permissions; "
               "their results are never stored as verdicts");
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"layerleak: find leaked Scaleway credentials in container images", "layerleak"};
  app.set_version_flag("--version", std::string("layerleak ") + std::string(pipeline::version()));
  app.require_subcommand(1);

  ScanCommand scan;
  CLI::App* scan_cmd = app.add_subcommand("scan", "Scan images for Scaleway credentials");
  add_scan_options(*scan_cmd, scan);

  std::vector<std::string> rule_files;
  CLI::App* rules_cmd = app.add_subcommand("rules", "List or check detection rules");
  rules_cmd->require_subcommand(1);
  CLI::App* list_cmd = rules_cmd->add_subcommand("list", "List the rules");
  list_cmd->add_option("--rules", rule_files, "Extra rules file(s)");
  CLI::App* check_cmd = rules_cmd->add_subcommand("check", "Check every rule against its examples");
  check_cmd->add_option("--rules", rule_files, "Extra rules file(s)");

  ServeCommand serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Registry admission service: scan on push, verdicts by digest, "
                                                    "Kubernetes and Harbor hooks");
  add_serve_options(*serve_cmd, serve);

  std::function<int()> run_audit = add_audit_command(app);
  CLI::App* audit_cmd = app.get_subcommand("audit");

  // Why before CLI11: its message for a typo is "The following arguments were not expected"; ours names
  // the closest valid spelling.
  if (auto unknown = unknown_argument(argc, argv, app)) return fail(*unknown);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + " (see layerleak --help)");
  }
  if (*scan_cmd) {
    if (auto st = finish_scan_options(*scan_cmd, scan); !st) return fail(st.error().message);
    keep_freed_memory();
    return run_scan(scan);
  }
  if (*audit_cmd) {
    keep_freed_memory();
    return run_audit();
  }
  if (*serve_cmd) return run_serve_command(std::move(serve));
  if (*list_cmd) return run_rules_list(rule_files);
  if (*check_cmd) return run_rules_check(rule_files);
  return fail("unknown command");
}

}  // namespace layerleak::cli
