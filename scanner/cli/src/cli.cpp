#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "layerleak/cache.h"
#include "layerleak/cli.h"
#include "layerleak/detect.h"
#include "layerleak/pipeline.h"
#include "layerleak/report.h"
#include "layerleak/rules.h"
#include "layerleak/serve.h"
#include "layerleak/suppress.h"
#include "report_file.h"

namespace layerleak::cli {

namespace {

// Set by SIGINT/SIGTERM: the scan stops at the next file boundary and reports itself incomplete.
std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted.store(true); }

void install_interrupt_handler() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // Writes to a closed pipe or socket (a credential helper that exits early, a registry that hangs
  // up) fail with EPIPE instead of killing the process.
  ::signal(SIGPIPE, SIG_IGN);
}

constexpr int kExitClean = 0;
constexpr int kExitFindings = 1;
constexpr int kExitIncomplete = 2;

struct ScanCommand {
  std::string image;
  std::string format = "text";
  std::string output;
  bool show_secrets = false;
  std::string fail_on = "medium";
  bool only_runtime = false;
  std::string platform = "linux/amd64";
  bool all_platforms = false;
  unsigned jobs = 0;
  std::uint64_t max_file_size = 1ull << 30;
  unsigned max_archive_depth = 5;
  std::uint64_t max_ratio = 1000;
  std::uint64_t max_archive_members = 100000;
  std::vector<std::string> rule_files;
  std::string baseline;
  std::string ignore;
  bool progress = false;
  bool no_progress = false;
  std::string cache_dir;  // --cache DIR: per-layer results shared with other scans and `serve`
  std::string creds;
  std::string authfile;
  bool tls_verify = true;
};

int fail(const std::string& message) {
  std::cerr << "layerleak: error: " << message << '\n';
  return kExitIncomplete;
}

// Built-in rules plus the user's rule files, compiled.
Result<std::shared_ptr<const detect::Detector>> load_detector(const std::vector<std::string>& rule_files) {
  auto rules = rules::builtin_rules();
  if (!rules) return std::move(rules).error();
  for (const std::string& path : rule_files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(Errc::not_found, "cannot read rules file " + path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto extra = rules::parse_rules(text, path);
    if (!extra) return std::move(extra).error();
    if (auto st = rules::merge_rules(*rules, std::move(extra).value()); !st) {
      return std::move(st).error().with_context(path);
    }
  }
  return detect::Detector::compile(std::move(rules).value());
}

// One line on standard error, redrawn in place: "[=====>    ] 52%  3/5 layers  120.4/231.0 MiB".
void print_progress(const pipeline::Progress& p) {
  constexpr int kWidth = 30;
  const double fraction = p.bytes_total > 0 ? std::min(1.0, static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total))
                          : p.layers_total > 0 ? static_cast<double>(p.layers_done) / static_cast<double>(p.layers_total)
                                               : 1.0;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '=');
  if (filled < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  std::fprintf(stderr, "\r[%s] %3d%%  %zu/%zu layers  %.1f MiB", bar.c_str(), static_cast<int>(fraction * 100),
               p.layers_done, p.layers_total, static_cast<double>(p.bytes_done) / (1024.0 * 1024.0));
  std::fflush(stderr);
}

// The commit an image was built from, for GitLab's report: the image's own
// org.opencontainers.image.revision (label or annotation) first, then CI_COMMIT_SHA.
std::string commit_sha(const report::ScanReport& result) {
  constexpr const char* kRevision = "org.opencontainers.image.revision";
  for (const report::ImageReport& image : result.images) {
    if (auto it = image.labels.find(kRevision); it != image.labels.end() && !it->second.empty()) return it->second;
    if (auto it = image.annotations.find(kRevision); it != image.annotations.end() && !it->second.empty()) return it->second;
  }
  const char* env = std::getenv("CI_COMMIT_SHA");
  return env ? env : "";
}

int run_scan(const ScanCommand& cmd) {
  auto fail_on = rules::parse_severity(cmd.fail_on);
  if (!fail_on && cmd.fail_on != "none") {
    return fail("--fail-on must be one of info, low, medium, high, critical, none");
  }
  report::Format format;
  if (cmd.format == "text") {
    format = report::Format::text;
  } else if (cmd.format == "json") {
    format = report::Format::json;
  } else if (cmd.format == "sarif") {
    format = report::Format::sarif;
  } else if (cmd.format == "gitlab") {
    format = report::Format::gitlab;
  } else {
    return fail("--format " + cmd.format + " is not supported (text, json, sarif, gitlab)");
  }
  // Why before scanning: a scan may take minutes; an output file that cannot be written fails now.
  if (!cmd.output.empty()) {
    if (auto st = check_report_path(cmd.output); !st) return fail(st.error().message);
  }
  pipeline::ScanOptions options;
  auto platform = oci::Platform::parse(cmd.platform);
  if (!platform) return fail(platform.error().message);
  options.select.platform = *platform;
  options.select.all_platforms = cmd.all_platforms;
  options.jobs = cmd.jobs != 0 ? cmd.jobs : std::max(1u, std::thread::hardware_concurrency());
  options.max_file_size = cmd.max_file_size;
  options.max_archive_depth = cmd.max_archive_depth;
  options.max_ratio = cmd.max_ratio;
  options.max_archive_members = cmd.max_archive_members;
  options.source.registry.creds = cmd.creds;
  options.source.registry.authfile = cmd.authfile;
  options.source.registry.tls_verify = cmd.tls_verify;

  auto detector = load_detector(cmd.rule_files);
  if (!detector) return fail(detector.error().message);

  // Suppression files are read before scanning: a bad one stops the run, never means "no suppression".
  suppress::Suppressions suppressions;
  if (!cmd.baseline.empty()) {
    auto baseline = suppress::load_baseline(cmd.baseline);
    if (!baseline) return fail("--baseline: " + baseline.error().message);
    suppressions.baseline_fingerprints = std::move(baseline).value();
    suppressions.baseline_origin = cmd.baseline;
  }
  if (!cmd.ignore.empty()) {
    auto ignores = suppress::load_ignore_file(cmd.ignore);
    if (!ignores) return fail("--ignore: " + ignores.error().message);
    for (const suppress::IgnoreEntry& entry : *ignores) {
      if (!entry.rule_id.empty() && !(*detector)->rules().find(entry.rule_id)) {
        return fail("--ignore: " + cmd.ignore + ": line " + std::to_string(entry.line) + ": unknown rule id \"" +
                    entry.rule_id + "\"");
      }
    }
    suppressions.ignores = std::move(ignores).value();
  }

  std::unique_ptr<cache::ScanCache> layer_cache;
  if (!cmd.cache_dir.empty()) {
    auto opened = cache::ScanCache::open(cmd.cache_dir);
    if (!opened) return fail("--cache: " + opened.error().message);
    layer_cache = std::move(opened).value();
    options.layer_cache = layer_cache.get();
  }

  install_interrupt_handler();
  options.cancel = &g_interrupted;
  const bool show_progress = !cmd.no_progress && (cmd.progress || ::isatty(STDERR_FILENO));
  if (show_progress) options.on_progress = print_progress;
  report::ScanReport result = pipeline::scan(cmd.image, *detector, options);
  if (show_progress) std::fputs("\r\x1b[K", stderr);
  suppress::apply(result, suppressions);
  if (cmd.only_runtime) suppress::suppress_hidden(result);

  report::ReportOptions report_options;
  report_options.show_secrets = cmd.show_secrets;
  if (!cmd.show_secrets) report_options.redact_text = pipeline::text_redactor(*detector);
  if (format == report::Format::gitlab) {
    report_options.commit_sha = commit_sha(result);
    if (report_options.commit_sha.empty()) {
      return fail("--format gitlab needs the commit the image was built from: set the image label or annotation "
                  "org.opencontainers.image.revision, or CI_COMMIT_SHA");
    }
  }
  // With -o the report is rendered in memory, then written to a temporary file renamed over FILE
  // (report_file.h): 0600 with --show-secrets, never through a symlink, never seen half-written.
  std::ostringstream file;
  std::ostream* out = &std::cout;
  if (!cmd.output.empty()) {
    out = &file;
  } else {
    report_options.color = format == report::Format::text && ::isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
  }
  if (auto st = report::write_report(result, format, report_options, *out); !st) {
    return fail(st.error().message + (cmd.output.empty() ? "" : " to " + cmd.output));
  }
  if (!cmd.output.empty()) {
    if (auto st = write_report_file(cmd.output, file.view(), cmd.show_secrets); !st) return fail(st.error().message);
  }

  // Errors go to standard error too, so a CI log shows why the gate failed even with -o; redacted like
  // the report (a message may quote a path named after a key).
  std::optional<report::ScanReport> redacted;
  if (!cmd.show_secrets && std::any_of(result.images.begin(), result.images.end(),
                                       [](const report::ImageReport& i) { return !i.errors.empty(); })) {
    redacted = report::redact_report(result, report_options);
  }
  for (const report::ImageReport& image : (redacted ? *redacted : result).images) {
    for (const report::ErrorEntry& e : image.errors) std::cerr << "layerleak: error: " << e.message << '\n';
  }
  if (!result.complete()) return kExitIncomplete;
  if (!fail_on) return kExitClean;
  auto max = result.max_severity();
  return (max && *max >= *fail_on) ? kExitFindings : kExitClean;
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
};

int run_serve_command(ServeCommand cmd) {
  auto fail_on = rules::parse_severity(cmd.fail_on);
  if (!fail_on) return fail("--fail-on must be one of info, low, medium, high, critical");
  if (cmd.fail_open && cmd.fail_closed) return fail("--fail-open and --fail-closed exclude each other");
  serve::ServeOptions& options = cmd.options;
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

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"layerleak: find leaked Scaleway credentials in container images", "layerleak"};
  app.set_version_flag("--version", std::string("layerleak ") + std::string(pipeline::version()));
  app.require_subcommand(1);

  ScanCommand scan;
  CLI::App* scan_cmd = app.add_subcommand("scan", "Scan an image for Scaleway credentials");
  scan_cmd->add_option("IMAGE", scan.image,
                       "docker://HOST[:PORT]/REPO[:TAG|@DIGEST], docker-archive:PATH[:REF], oci-archive:PATH[:REF], "
                       "oci:DIR[:REF], dir:DIR, or a PATH")
      ->required();
  scan_cmd->add_option("--format", scan.format, "Report format: text, json, sarif or gitlab")->capture_default_str();
  scan_cmd->add_option("-o,--output", scan.output, "Write the report to FILE instead of standard output");
  scan_cmd->add_flag("--show-secrets", scan.show_secrets, "Print secret values in full (default: redacted)");
  scan_cmd->add_option("--fail-on", scan.fail_on, "Exit 1 when a finding at or above SEVERITY remains (or none)")
      ->capture_default_str();
  scan_cmd->add_option("--baseline", scan.baseline,
                       "Suppress findings whose fingerprint is in FILE (an earlier JSON report, a JSON array or a list)");
  scan_cmd->add_option("--ignore", scan.ignore, "Allowlist YAML: path globs, rule ids, fingerprints, each with a reason");
  scan_cmd->add_flag("--only-runtime", scan.only_runtime,
                     "Ignore findings whose file was deleted or overwritten by a later layer");
  scan_cmd->add_option("--platform", scan.platform, "OS/ARCH[/VARIANT] to pick from a multi-platform index")
      ->capture_default_str();
  scan_cmd->add_flag("--all-platforms", scan.all_platforms, "Scan every platform of an index");
  scan_cmd->add_option("-j,--jobs", scan.jobs, "Worker threads (default: number of cores)");
  scan_cmd->add_option("--max-file-size", scan.max_file_size, "Skip (and report) files larger than this many bytes; 0 = no limit")
      ->capture_default_str();
  scan_cmd->add_option("--max-archive-depth", scan.max_archive_depth,
                       "Open archives inside layers (zip, jar, tar, gzip, zstd, bzip2, xz) this many levels deep; 0 = never")
      ->capture_default_str();
  scan_cmd->add_option("--max-ratio", scan.max_ratio,
                       "Stop reading an archive that decompresses to more than N bytes per stored byte; 0 = no limit")
      ->capture_default_str();
  scan_cmd->add_option("--max-archive-members", scan.max_archive_members, "Stop reading an archive after N members")
      ->capture_default_str();
  scan_cmd->add_option("--rules", scan.rule_files, "Extra rules file(s), same format as the built-in ones");
  scan_cmd->add_option("--creds", scan.creds,
                       "Registry credentials USER:PASS, or USER with the password in LAYERLEAK_REGISTRY_PASSWORD");
  scan_cmd->add_option("--authfile", scan.authfile,
                       "Registry credentials file (docker config.json or containers auth.json); default: "
                       "$REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json");
  scan_cmd->add_option("--tls-verify", scan.tls_verify,
                       "Verify registry TLS certificates (--tls-verify=false also allows plain HTTP)")
      ->capture_default_str();
  scan_cmd->add_flag("--progress", scan.progress, "Show progress on standard error");
  scan_cmd->add_flag("--no-progress", scan.no_progress, "Never show progress");
  scan_cmd->add_option("--cache", scan.cache_dir,
                       "Reuse complete layer results from DIR (SQLite, shared with `serve`); created if missing");

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
  serve_cmd->add_option("--listen", serve.options.listen, "ADDR:PORT to listen on")->capture_default_str();
  serve_cmd->add_option("--token-file", serve.options.token_file,
                        "File with the bearer token every request must carry (required unless listening on loopback)");
  serve_cmd->add_option("--tls-cert", serve.options.tls_cert, "PEM certificate: serve HTTPS (Kubernetes webhooks need it)");
  serve_cmd->add_option("--tls-key", serve.options.tls_key, "PEM private key for --tls-cert");
  serve_cmd->add_option("--workers", serve.options.workers, "Scans running at once")->capture_default_str();
  serve_cmd->add_option("--queue", serve.options.queue_size, "Scans waiting beyond the running ones; more get 429")
      ->capture_default_str();
  serve_cmd->add_option("--scan-timeout", serve.options.scan_timeout_seconds,
                        "Seconds a scan may run before it is cancelled (and counts as incomplete)")->capture_default_str();
  serve_cmd->add_option("--admission-wait", serve.options.admission_wait_seconds,
                        "Seconds an admission request waits for a scan of an image without a verdict")->capture_default_str();
  serve_cmd->add_flag("--fail-open", serve.fail_open, "Admit images without a verdict in time (warning only)");
  serve_cmd->add_flag("--fail-closed", serve.fail_closed, "Deny images without a verdict in time (the default)");
  serve_cmd->add_flag("--log-only", serve.options.log_only, "Never deny admission; log and warn what would be denied");
  serve_cmd->add_option("--fail-on", serve.fail_on, "Deny images with a finding at or above SEVERITY")->capture_default_str();
  serve_cmd->add_option("--cache", serve.options.cache_dir,
                        "Directory of the result cache (SQLite, shared with `scan --cache`); default: in memory");
  serve_cmd->add_option("-j,--jobs", serve.jobs, "Worker threads per scan")->capture_default_str();
  serve_cmd->add_option("--max-file-size", serve.max_file_size, "Skip (and report) larger files; 0 = no limit")
      ->capture_default_str();
  serve_cmd->add_option("--max-archive-depth", serve.max_archive_depth, "Nested archive levels opened")->capture_default_str();
  serve_cmd->add_option("--max-ratio", serve.max_ratio, "Decompression ratio limit for nested archives")->capture_default_str();
  serve_cmd->add_option("--max-archive-members", serve.max_archive_members, "Members read per nested archive")
      ->capture_default_str();
  serve_cmd->add_option("--rules", serve.rule_files, "Extra rules file(s), same format as the built-in ones");
  serve_cmd->add_option("--creds", serve.options.scan.source.registry.creds,
                        "Registry credentials USER:PASS, or USER with the password in LAYERLEAK_REGISTRY_PASSWORD");
  serve_cmd->add_option("--authfile", serve.options.scan.source.registry.authfile,
                        "Registry credentials file (docker config.json or containers auth.json)");
  serve_cmd->add_option("--tls-verify", serve.options.scan.source.registry.tls_verify,
                        "Verify registry TLS certificates (--tls-verify=false also allows plain HTTP); a request "
                        "never changes it")
      ->capture_default_str();
  serve_cmd->add_option("--allow-registry", serve.options.allowed_registries,
                        "HOST[:PORT] of a registry serve may contact (repeatable); others are never contacted and "
                        "their images get no verdict. Required with --creds");
  serve_cmd->add_flag("--allow-local-images", serve.options.allow_local_images,
                      "Let POST /v1/scans read local sources (dir:, oci:, archives, paths) with serve's permissions; "
                      "their results are never stored as verdicts");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitIncomplete;
  }
  if (*scan_cmd) return run_scan(scan);
  if (*serve_cmd) return run_serve_command(std::move(serve));
  if (*list_cmd) return run_rules_list(rule_files);
  if (*check_cmd) return run_rules_check(rule_files);
  return fail("unknown command");
}

}  // namespace layerleak::cli
