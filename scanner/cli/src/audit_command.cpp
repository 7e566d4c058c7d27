// `layerleak audit docker://HOST[:PORT][/NAMESPACE]`: every repository and tag of a registry, each distinct
// image manifest scanned once, each distinct layer read once; one report; exit status as scan (the worst).
// Workers started with the same --store and --run-id share the work (layerleak/audit.h).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "cli_internal.h"
#include "layerleak/audit.h"
#include "layerleak/pipeline.h"
#include "layerleak/rules.h"
#include "layerleak/store.h"
#include "layerleak/verify.h"
#include "report_file.h"

namespace layerleak::cli {

namespace {

std::atomic<bool> g_audit_interrupted{false};

extern "C" void on_audit_interrupt(int) { g_audit_interrupted.store(true); }

struct AuditCommand {
  std::string target;
  std::string repositories_from;
  std::string format = "text";
  std::string output;
  bool show_secrets = false;
  std::string fail_on = "medium";
  // Findings options as scan's (cli_internal.h apply_config / load_suppressions).
  std::string baseline;
  std::string ignore;
  bool only_runtime = false;
  std::string config;
  std::optional<std::vector<suppress::IgnoreEntry>> config_ignores;
  std::string config_origin;
  std::string platform = "linux/amd64";
  bool all_platforms = false;
  unsigned jobs = 0;
  std::uint64_t max_file_size = 1ull << 30;
  unsigned max_archive_depth = 5;
  std::uint64_t max_ratio = 1000;
  std::uint64_t max_archive_members = 100000;
  std::vector<std::string> rule_files;
  std::string creds;
  std::string authfile;
  bool tls_verify = true;
  unsigned registry_concurrency = 4;
  unsigned images_in_flight = 4;
  bool progress = false;
  bool no_progress = false;
  bool quiet = false;
  std::string cache_dir;
  std::string store;
  std::string run_id;
  double lease_seconds = 120;
  bool verify = false;
  std::string verify_endpoint;
  unsigned verify_budget_seconds = 60;
  unsigned verify_ttl_seconds = 3600;
  bool only_live = false;
};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Unique among the workers of a run: host, process and a random part (pids repeat across containers).
std::string worker_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown");
  std::random_device random;
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + std::to_string(random());
}

std::string mib(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

void draw(const std::string& line) {
  std::fprintf(stderr, "\r\x1b[K%s", line.c_str());
  std::fflush(stderr);
}

// --verify: each image's report verified against the IAM API with the store's verification cache, so every
// worker sharing the store checks each distinct key once (within --verify-ttl). As scan: after suppression (a
// suppressed key is never sent), on a copy, since the audit suppresses the whole report at the end. The
// endpoint is checked here, before anything is planned (exit 2).
Result<std::function<void(report::ScanReport&)>> audit_verifier(AuditCommand& cmd, cache::Store& store, const std::string& worker,
                                                                 const suppress::Suppressions& suppressions) {
  if (!cmd.verify) {
    if (cmd.only_live) return make_error(Errc::invalid_argument, "--only-live needs --verify");
    if (!cmd.verify_endpoint.empty()) return make_error(Errc::invalid_argument, "--verify-endpoint needs --verify");
    return std::function<void(report::ScanReport&)>();
  }
  auto endpoint = verify::check_endpoint(cmd.verify_endpoint.empty() ? verify::kDefaultEndpoint : cmd.verify_endpoint);
  if (!endpoint) return std::move(endpoint).error();
  verify::Options check;
  check.endpoint = *endpoint;
  check.budget = std::chrono::seconds(cmd.verify_budget_seconds);
  check.cancel = &g_audit_interrupted;
  check.user_agent = "layerleak/" + std::string(pipeline::version());
  const auto ttl = std::chrono::seconds(cmd.verify_ttl_seconds);
  auto calls = std::make_shared<std::atomic<unsigned>>(0);
  const bool only_runtime = cmd.only_runtime;
  return std::function<void(report::ScanReport&)>([check, ttl, calls, worker, &store, &suppressions,
                                                   only_runtime](report::ScanReport& scan) {
    report::ScanReport active = scan;
    suppress::apply(active, suppressions);
    if (only_runtime) suppress::suppress_hidden(active);
    {
      // One owner per call: images in flight in this process claim keys apart from each other.
      verify::StoreVerificationCache results(store, ttl, worker + ":verify:" + std::to_string(++*calls), check.budget,
                                             &g_audit_interrupted);
      verify::verify_report(active, check, &results);
    }
    std::map<std::string, report::Verification> found;  // by rule id and fingerprint
    for (const report::ImageReport& image : active.images) {
      for (const auto* list : {&image.findings, &image.suppressed}) {
        for (const report::Finding& f : *list) {
          if (f.verification) found.emplace(f.rule_id + '\n' + f.fingerprint, *f.verification);
        }
      }
    }
    for (report::ImageReport& image : scan.images) {
      for (auto* list : {&image.findings, &image.suppressed}) {
        for (report::Finding& f : *list) {
          auto it = found.find(f.rule_id + '\n' + f.fingerprint);
          if (it == found.end()) continue;
          f.verification = it->second;
          if (it->second.status == "invalid") f.severity = std::min(f.severity, rules::Severity::low);  // as verify_report
        }
      }
    }
  });
}

// --only-live: the highest severity among findings verified live.
std::optional<rules::Severity> max_live_severity(const report::ScanReport& scan) {
  std::optional<rules::Severity> max;
  for (const report::ImageReport& image : scan.images) {
    for (const report::Finding& f : image.findings) {
      if (f.verification && f.verification->status == "live" && (!max || f.severity > *max)) max = f.severity;
    }
  }
  return max;
}

int run_audit_command(AuditCommand& cmd, const CLI::App& app) {
  auto given = [&](const char* option) { return app.get_option(option)->count() > 0; };
  if (given("--platform") && given("--all-platforms")) return fail("--platform and --all-platforms exclude each other: pick one");
  if (given("--progress") && given("--no-progress")) return fail("--progress and --no-progress exclude each other: pick one");
  if (!cmd.store.empty() && !cmd.cache_dir.empty()) return fail("--store and --cache exclude each other: pick one");
  auto config = load_config(cmd.config);
  if (!config) return fail(config.error().message);
  if (*config) apply_config(given, **config, cmd);
  cmd.format = lower(cmd.format);
  cmd.fail_on = lower(cmd.fail_on);
  const auto format = parse_format(cmd.format);
  if (!format || *format == report::Format::gitlab) return fail("--format " + cmd.format + " is not supported by audit (text, json, sarif, html)");
  if (!rules::parse_severity(cmd.fail_on) && cmd.fail_on != "none") {
    return fail("--fail-on " + cmd.fail_on + ": must be one of info, low, medium, high, critical, none");
  }
  if (cmd.registry_concurrency < 1 || cmd.registry_concurrency > 64) return fail("--registry-concurrency must be 1 to 64");
  if (cmd.images_in_flight < 1 || cmd.images_in_flight > 64) return fail("--images-in-flight must be 1 to 64");
  if (!(cmd.lease_seconds >= 1 && cmd.lease_seconds <= 86400)) return fail("--lease must be 1 to 86400 seconds");
  auto target = oci::parse_registry_target(cmd.target);
  if (!target) return fail(target.error().message);
  auto platform = oci::Platform::parse(cmd.platform);
  if (!platform) return fail(platform.error().message);
  std::optional<std::vector<std::string>> repositories;
  if (!cmd.repositories_from.empty()) {
    auto list = audit::read_repository_list(cmd.repositories_from);
    if (!list) return fail(list.error().message);
    repositories = std::move(list).value();
  }

  std::unique_ptr<ReportFile> file;
  if (!cmd.output.empty()) {
    auto created = ReportFile::create(cmd.output);
    if (!created) return fail(created.error().message);
    file = std::move(created).value();
  }
  auto detector = load_detector(cmd.rule_files);
  if (!detector) return fail(detector.error().message);
  auto suppressions = load_suppressions(cmd.baseline, cmd.ignore, cmd.config_ignores, cmd.config_origin, **detector);
  if (!suppressions) return fail(suppressions.error().message);

  std::unique_ptr<cache::Store> store;
  if (!cmd.store.empty() || !cmd.cache_dir.empty()) {
    const std::string spec = cmd.store.empty() ? cmd.cache_dir : cmd.store;
    auto opened = cache::open_store(spec);
    if (!opened) return fail(std::string(cmd.store.empty() ? "--cache: " : "--store: ") + opened.error().message);
    store = std::move(opened).value();
  } else {
    store = audit::memory_store();
  }

  struct sigaction action {};
  action.sa_handler = on_audit_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  audit::RunOptions run;
  run.scan.select.platform = *platform;
  run.scan.select.all_platforms = cmd.all_platforms;
  run.scan.jobs = cmd.jobs != 0 ? cmd.jobs : std::max(1u, std::thread::hardware_concurrency());
  run.scan.max_file_size = cmd.max_file_size;
  run.scan.max_archive_depth = cmd.max_archive_depth;
  run.scan.max_ratio = cmd.max_ratio;
  run.scan.max_archive_members = cmd.max_archive_members;
  run.scan.source.registry.creds = cmd.creds;
  run.scan.source.registry.authfile = cmd.authfile;
  run.scan.source.registry.tls_verify = cmd.tls_verify;
  run.scan.source.registry.concurrency = cmd.registry_concurrency;
  run.scan.source.cancel = &g_audit_interrupted;
  run.scan.cancel = &g_audit_interrupted;
  run.show_secrets = cmd.show_secrets;
  if (auto verifier = audit_verifier(cmd, *store, run.worker, *suppressions); !verifier) return fail(verifier.error().message);
  else run.verify = std::move(verifier).value();
  run.images_in_flight = cmd.images_in_flight;
  run.worker = worker_name();
  run.lease = std::chrono::milliseconds(static_cast<std::int64_t>(cmd.lease_seconds * 1000));
  const std::string target_text = target->registry + (target->namespace_prefix.empty() ? "" : "/" + target->namespace_prefix);
  run.run = audit::run_name(target_text + "\n" + (cmd.all_platforms ? std::string("*") : platform->str()),
                            pipeline::cache_profile((*detector)->rules().digest, run.scan), cmd.run_id);

  const bool show_progress = !cmd.no_progress && (cmd.progress || (!cmd.quiet && ::isatty(STDERR_FILENO)));
  auto catalog = audit::open_registry_catalog(*target, run.scan.source);
  if (!catalog) return fail(catalog.error().message);
  auto registry_expander = audit::registry_expander(target->registry, run.scan.source);
  auto expander = audit::stored_expander(*registry_expander, *store);
  audit::PlanOptions plan_options;
  plan_options.registry = target->registry;
  plan_options.repositories = repositories;
  plan_options.select = run.scan.select;
  plan_options.cancel = &g_audit_interrupted;
  plan_options.concurrency = cmd.registry_concurrency;  // the registry client bounds the transfers the same way
  if (show_progress) {
    plan_options.on_progress = [](const audit::PlanProgress& p) {
      draw("planning: repositories " + std::to_string(p.repositories_done) + "/" + std::to_string(p.repositories_total) +
           "  images " + std::to_string(p.images));
    };
    run.on_progress = [](const audit::RunProgress& p) {
      draw("images " + std::to_string(p.images_done) + "/" + std::to_string(p.images_total) + "  layers " +
           std::to_string(p.current.layers_done) + "/" + std::to_string(p.current.layers_total) + "  " +
           mib(p.current.bytes_done) + (p.current.bytes_total ? " of " + mib(p.current.bytes_total) : ""));
    };
  }
  auto make = [&] { return audit::make_plan(**catalog, *expander, plan_options); };
  // A named run may have other workers: one plans, the rest use its plan. A private run plans alone.
  audit::Plan plan = cmd.run_id.empty() ? make() : audit::plan_once(*store, run, make);
  report::AuditReport result = audit::run_audit(plan, *store, *detector, run);
  result.registry = target_text;
  // As scan: suppressed findings leave the images' findings (they stay in the report as suppressed), so the
  // counts and the exit status are those of what remains.
  suppress::apply(result.scan, *suppressions);
  if (cmd.only_runtime) suppress::suppress_hidden(result.scan);
  audit::count_findings(result);
  if (show_progress) std::fputs("\r\x1b[K", stderr);

  report::ReportOptions options;
  options.show_secrets = cmd.show_secrets;
  options.full_access_keys = cmd.verify;
  options.summary_only = cmd.quiet && file == nullptr;
  if (!cmd.show_secrets) options.redact_text = pipeline::text_redactor(*detector);
  std::ostringstream rendered;
  if (auto st = report::write_audit_report(result, *format, options, rendered); !st) return fail(st.error().message);
  if (file) {
    if (auto st = file->commit(rendered.view()); !st) return fail(st.error().message);
  } else if (const int err = write_all(STDOUT_FILENO, rendered.view()); err != 0 && err != EPIPE) {
    return fail(std::string("cannot write the report: ") + std::strerror(err));
  }
  // Why on stderr too: a CI log shows why the audit is incomplete even with -o (redacted like the report).
  for (const report::ErrorEntry& e : result.errors) {
    // A registry's own error text may hold escapes or line breaks: never raw on a terminal.
    std::cerr << "layerleak: error: "
              << report::terminal_safe(options.redact_text ? options.redact_text(e.message) : e.message) << '\n';
  }
  if (!result.complete()) return kExitIncomplete;
  auto threshold = rules::parse_severity(cmd.fail_on);
  if (!threshold) return kExitClean;
  auto max = cmd.only_live ? max_live_severity(result.scan) : result.scan.max_severity();
  return (max && *max >= *threshold) ? kExitFindings : kExitClean;
}

}  // namespace

std::function<int()> add_audit_command(CLI::App& app) {
  auto cmd = std::make_shared<AuditCommand>();
  CLI::App* sub = app.add_subcommand("audit", "Audit a registry: every repository and tag, each layer read once");
  sub->add_option("TARGET", cmd->target, "docker://HOST[:PORT][/NAMESPACE]")->required();
  sub->add_option("--repositories-from", cmd->repositories_from,
                  "Audit the repositories listed in FILE (one a line, '#' comments) instead of the catalog");
  sub->add_option("--format", cmd->format, "Report format: text, json, sarif or html")->capture_default_str();
  sub->add_option("-o,--output", cmd->output, "Write the report to FILE (mode 0600) instead of standard output");
  sub->add_flag("--show-secrets", cmd->show_secrets, "Print secret values in full (default: redacted)");
  sub->add_option("--fail-on", cmd->fail_on, "Exit 1 when a finding at or above SEVERITY remains (or none)")->capture_default_str();
  sub->add_option("--baseline", cmd->baseline,
                  "Suppress findings whose fingerprint is in FILE (an earlier JSON report, a JSON array or a list)");
  sub->add_option("--ignore", cmd->ignore, "Allowlist YAML: path globs, rule ids, fingerprints, each with a reason");
  sub->add_flag("--only-runtime", cmd->only_runtime, "Ignore findings whose file was deleted or overwritten by a later layer");
  sub->add_option("--config", cmd->config, "Configuration file (default: .layerleak.yaml in the working directory, if any)");
  sub->add_option("--platform", cmd->platform, "OS/ARCH[/VARIANT] to pick from multi-platform indexes")->capture_default_str();
  sub->add_flag("--all-platforms", cmd->all_platforms, "Audit every platform of every index");
  sub->add_option("-j,--jobs", cmd->jobs, "Worker threads per image (default: number of cores)");
  sub->add_option("--max-file-size", cmd->max_file_size, "Skip (and report) larger files; 0 = no limit")->capture_default_str();
  sub->add_option("--max-archive-depth", cmd->max_archive_depth, "Nested archive levels opened")->capture_default_str();
  sub->add_option("--max-ratio", cmd->max_ratio, "Decompression ratio limit for nested archives")->capture_default_str();
  sub->add_option("--max-archive-members", cmd->max_archive_members, "Members read per nested archive")->capture_default_str();
  sub->add_option("--rules", cmd->rule_files, "Extra rules file (repeatable)")->allow_extra_args(false);
  sub->add_option("--creds", cmd->creds, "Registry credentials USER:PASS, or USER with the password in LAYERLEAK_REGISTRY_PASSWORD");
  sub->add_option("--authfile", cmd->authfile, "Registry credentials file (docker config.json or containers auth.json)");
  sub->add_option("--tls-verify", cmd->tls_verify, "Verify registry TLS certificates (--tls-verify=false also allows plain HTTP)")
      ->capture_default_str();
  sub->add_option("--registry-concurrency", cmd->registry_concurrency, "Transfers in flight at once to the registry (1-64)")
      ->capture_default_str();
  sub->add_option("--images-in-flight", cmd->images_in_flight,
                  "Images this worker scans at once, each with -j layer threads (1-64)")
      ->capture_default_str();
  sub->add_flag("--verify", cmd->verify,
                "Check each distinct secret key against the Scaleway IAM API once for the whole audit (every "
                "worker: results kept by fingerprint in the store for --verify-ttl); off by default");
  sub->add_option("--verify-endpoint", cmd->verify_endpoint,
                  "API for --verify (default https://api.scaleway.com; http:// only for a loopback address)");
  sub->add_option("--verify-budget", cmd->verify_budget_seconds,
                  "Seconds --verify may take per image; keys without an answer by then are 'unknown' (1-600)")
      ->check(CLI::Range(1u, 600u))
      ->capture_default_str();
  sub->add_option("--verify-ttl", cmd->verify_ttl_seconds, "Seconds a --verify result in the store is reused")
      ->check(CLI::Range(1u, 7u * 24 * 3600))
      ->capture_default_str();
  sub->add_flag("--only-live", cmd->only_live, "With --verify: only keys verified live decide the exit status");
  sub->add_flag("--progress", cmd->progress, "Show progress on standard error");
  sub->add_flag("--no-progress", cmd->no_progress, "Never show progress");
  sub->add_flag("-q,--quiet", cmd->quiet, "Print only the summary line of the text report");
  sub->add_option("--cache", cmd->cache_dir, "Layer results in DIR (SQLite, shared with scan and serve); default: in memory");
  sub->add_option("--store", cmd->store,
                  "postgresql://… store shared by cooperating workers (or a directory, as --cache)");
  sub->add_option("--run-id", cmd->run_id,
                  "Name of the run: workers with the same --store, target and --run-id share the work; "
                  "default: a run of this process alone");
  sub->add_option("--lease", cmd->lease_seconds, "Seconds an image stays claimed by a worker that stopped answering")
      ->capture_default_str();
  return [cmd, sub] { return run_audit_command(*cmd, *sub); };
}

}  // namespace layerleak::cli
