// The options of `layerleak scan`: declared for CLI11, then completed and checked as a whole (the
// configuration file under the command line, --images-from, contradictions) before anything is scanned.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "cli_internal.h"
#include "layerleak/oci.h"
#include "layerleak/rules.h"
#include "layerleak/verify.h"

namespace layerleak::cli {

namespace {

bool given(const CLI::App& cmd, const std::string& option) { return cmd.get_option(option)->count() > 0; }

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// One reference a line (see read_list_file); standard input cannot be listed.
Status read_images_from(const std::string& path, std::vector<std::string>& images) {
  constexpr std::string_view kOption = "--images-from";
  auto lines = read_list_file(path, kOption);
  if (!lines) return std::move(lines).error();
  for (ListedLine& line : *lines) {
    if (oci::reads_standard_input(line.text)) {
      return make_error(Errc::invalid_argument, list_line_where(kOption, path, line.number) + ": \"" + line.text +
                                                    "\" (standard input) cannot be listed; give it as an argument");
    }
    images.push_back(std::move(line.text));
  }
  return Ok{};
}

// --verify's companions need it; the endpoint is checked here, before anything is scanned (exit 2).
Status check_verify_options(ScanCommand& scan) {
  if (!scan.verify) {
    if (scan.only_live) return make_error(Errc::invalid_argument, "--only-live needs --verify");
    if (!scan.verify_endpoint.empty()) return make_error(Errc::invalid_argument, "--verify-endpoint needs --verify");
    return Ok{};
  }
  auto endpoint = verify::check_endpoint(scan.verify_endpoint.empty() ? verify::kDefaultEndpoint : scan.verify_endpoint);
  if (!endpoint) return std::move(endpoint).error();
  scan.verify_endpoint = *endpoint;
  return Ok{};
}

Status check_values(ScanCommand& scan) {
  const std::string from = scan.config_origin.empty() ? "" : " (or in " + scan.config_origin + ")";
  if (!parse_format(scan.format)) {
    return make_error(Errc::invalid_argument, "--format " + scan.format + " is not supported (text, json, sarif, gitlab, html)" + from);
  }
  if (!rules::parse_severity(scan.fail_on) && scan.fail_on != "none") {
    return make_error(Errc::invalid_argument, "--fail-on " + scan.fail_on +
                                                  ": must be one of info, low, medium, high, critical, none" + from);
  }
  for (const std::string& entry : scan.sarif_path_map) {
    if (auto mapping = report::parse_path_mapping(entry); !mapping) {
      return make_error(Errc::invalid_argument, "--sarif-path-map " + entry + ": " + mapping.error().message);
    }
  }
  if (auto st = check_verify_options(scan); !st) return st;
  if (scan.color != "auto" && scan.color != "always" && scan.color != "never") {
    return make_error(Errc::invalid_argument, "--color " + scan.color + ": must be auto, always or never");
  }
  return Ok{};
}

}  // namespace

std::optional<report::Format> parse_format(std::string_view name) {
  if (name == "text") return report::Format::text;
  if (name == "json") return report::Format::json;
  if (name == "sarif") return report::Format::sarif;
  if (name == "gitlab") return report::Format::gitlab;
  if (name == "html") return report::Format::html;
  return std::nullopt;
}

Status finish_scan_options(const CLI::App& cmd, ScanCommand& scan) {
  if (given(cmd, "--platform") && given(cmd, "--all-platforms")) {
    return make_error(Errc::invalid_argument, "--platform and --all-platforms exclude each other: pick one");
  }
  if (given(cmd, "--progress") && given(cmd, "--no-progress")) {
    return make_error(Errc::invalid_argument, "--progress and --no-progress exclude each other: pick one");
  }
  auto config = load_config(scan.config);
  if (!config) return std::move(config).error();
  if (*config) apply_config([&](const char* option) { return given(cmd, option); }, **config, scan);
  if (!scan.images_from.empty()) {
    if (auto st = read_images_from(scan.images_from, scan.images); !st) return st;
  }
  if (scan.images.empty()) {
    return make_error(Errc::invalid_argument, "no IMAGE to scan: give one or more, or --images-from FILE");
  }
  if (std::count_if(scan.images.begin(), scan.images.end(), [](const std::string& i) { return oci::reads_standard_input(i); }) > 1) {
    return make_error(Errc::invalid_argument, "standard input can hold one image archive: give \"-\" once");
  }
  scan.format = lower(scan.format);
  scan.fail_on = lower(scan.fail_on);
  scan.color = lower(scan.color);
  return check_values(scan);
}

void add_scan_options(CLI::App& cmd, ScanCommand& scan) {
  cmd.add_option("IMAGE", scan.images,
                 "docker://HOST[:PORT]/REPO[:TAG|@DIGEST], docker-archive:PATH[:REF], oci-archive:PATH[:REF], "
                 "oci:DIR[:REF], dir:DIR, or a PATH; several give one report");
  cmd.add_option("--images-from", scan.images_from, "Also scan the images listed in FILE, one a line ('#' comments)");
  cmd.add_option("--format", scan.format, "Report format: text, json, sarif, gitlab or html")->capture_default_str();
  cmd.add_option("-o,--output", scan.output, "Write the report to FILE (mode 0600) instead of standard output");
  cmd.add_option("--sarif-path-map", scan.sarif_path_map,
                 "IMAGE_PATH=REPO_PATH: in SARIF, report files under IMAGE_PATH at REPO_PATH of the repository "
                 "(repeatable; the longest prefix wins)")
      ->allow_extra_args(false);
  cmd.add_flag("--show-secrets", scan.show_secrets, "Print secret values in full (default: redacted)");
  cmd.add_option("--fail-on", scan.fail_on, "Exit 1 when a finding at or above SEVERITY remains (or none)")
      ->capture_default_str();
  cmd.add_option("--baseline", scan.baseline,
                 "Suppress findings whose fingerprint is in FILE (an earlier JSON report, a JSON array or a list)");
  cmd.add_option("--ignore", scan.ignore, "Allowlist YAML: path globs, rule ids, fingerprints, each with a reason");
  cmd.add_flag("--only-runtime", scan.only_runtime, "Ignore findings whose file was deleted or overwritten by a later layer");
  cmd.add_option("--platform", scan.platform, "OS/ARCH[/VARIANT] to pick from a multi-platform index")->capture_default_str();
  cmd.add_flag("--all-platforms", scan.all_platforms, "Scan every platform of an index");
  cmd.add_option("-j,--jobs", scan.jobs, "Worker threads (default: number of cores)");
  cmd.add_option("--max-file-size", scan.max_file_size, "Skip (and report) files larger than this many bytes; 0 = no limit")
      ->capture_default_str();
  cmd.add_option("--max-archive-depth", scan.max_archive_depth,
                 "Open archives inside layers (zip, jar, tar, gzip, zstd, bzip2, xz) this many levels deep; 0 = never")
      ->capture_default_str();
  cmd.add_option("--max-ratio", scan.max_ratio,
                 "Stop reading an archive that decompresses to more than N bytes per stored byte; 0 = no limit")
      ->capture_default_str();
  cmd.add_option("--max-archive-members", scan.max_archive_members, "Stop reading an archive after N members")
      ->capture_default_str();
  // Why allow_extra_args(false): one FILE per --rules (repeat it for more), so it never swallows the IMAGEs.
  cmd.add_option("--rules", scan.rule_files, "Extra rules file, same format as the built-in ones (repeatable)")
      ->allow_extra_args(false);
  cmd.add_option("--creds", scan.creds, "Registry credentials USER:PASS, or USER with the password in LAYERLEAK_REGISTRY_PASSWORD");
  cmd.add_option("--authfile", scan.authfile,
                 "Registry credentials file (docker config.json or containers auth.json); default: "
                 "$REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json");
  cmd.add_option("--tls-verify", scan.tls_verify, "Verify registry TLS certificates (--tls-verify=false also allows plain HTTP)")
      ->capture_default_str();
  cmd.add_option("--registry-concurrency", scan.registry_concurrency,
                 "Transfers in flight at once to one registry, across every image and layer (1-64)")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  cmd.add_flag("--verify", scan.verify,
               "Check each secret key against the Scaleway IAM API (one GET per distinct key, the key in "
               "X-Auth-Token only); off by default: nothing is sent without it");
  cmd.add_option("--verify-endpoint", scan.verify_endpoint,
                 "API for --verify (default https://api.scaleway.com; http:// only for a loopback address)");
  cmd.add_option("--verify-budget", scan.verify_budget_seconds,
                 "Seconds --verify may take in all; keys without an answer by then are 'unknown' (1-600)")
      ->check(CLI::Range(1u, 600u))
      ->capture_default_str();
  cmd.add_flag("--only-live", scan.only_live, "With --verify: only keys verified live decide the exit status");
  cmd.add_flag("--progress", scan.progress, "Show progress on standard error");
  cmd.add_flag("--no-progress", scan.no_progress, "Never show progress");
  cmd.add_option("--color", scan.color, "Colour the text report: auto (a terminal, NO_COLOR unset, TERM not dumb), always, never")
      ->capture_default_str();
  cmd.add_flag("-q,--quiet", scan.quiet, "Print only the summary line of the text report (errors still go to standard error)");
  cmd.add_option("--config", scan.config, "Configuration file (default: .layerleak.yaml in the working directory, if any)");
  auto* cache = cmd.add_option("--cache", scan.cache_dir,
                               "Reuse complete layer results from DIR (SQLite, shared with `serve`); created if missing");
  cmd.add_option("--store", scan.store,
                 "Reuse complete layer results from a store: a directory (SQLite) or postgresql://… (\"postgresql:\" = "
                 "PG* environment), shared with `serve` and `audit`")
      ->excludes(cache);
}

}  // namespace layerleak::cli
