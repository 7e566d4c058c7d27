// Private to the cli library: the scan command's options as one struct, and the parts that fill and run it.
// cli.cpp parses the command line (CLI11) into ScanCommand; scan_options.cpp declares the scan options and
// validates what was given (config file, --images-from, contradictions); scan_command.cpp runs the scan;
// suggestions.cpp turns a typo into "did you mean"; config_file.cpp reads .layerleak.yaml.
//
// Not responsible for: scanning (pipeline), formatting (report), suppression rules (suppress).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/core.h"
#include "layerleak/detect.h"
#include "layerleak/report.h"
#include "layerleak/suppress.h"

namespace CLI {
class App;
}

namespace layerleak::cli {

constexpr int kExitClean = 0;
constexpr int kExitFindings = 1;
constexpr int kExitIncomplete = 2;

// Prints "layerleak: error: MESSAGE" on standard error; returns kExitIncomplete.
int fail(const std::string& message);

// Built-in rules plus the user's rule files, compiled. Errors name the file.
Result<std::shared_ptr<const detect::Detector>> load_detector(const std::vector<std::string>& rule_files);

// `layerleak scan`: every option as given, then completed by finish_scan_options (config file, image list).
struct ScanCommand {
  std::vector<std::string> images;  // positional IMAGEs, then --images-from's lines
  std::string images_from;
  std::string format = "text";
  std::string output;
  std::vector<std::string> sarif_path_map;  // --sarif-path-map IMAGE_PATH=REPO_PATH (repeatable)
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
  std::string color = "auto";
  bool quiet = false;
  std::string config;     // --config FILE; empty: .layerleak.yaml in the working directory, if present
  std::string cache_dir;  // --cache DIR: per-layer results shared with other scans and `serve`
  std::string store;      // --store SPEC: the same in a directory or a PostgreSQL database (cache::open_store)
  std::string creds;
  std::string authfile;
  bool tls_verify = true;
  unsigned registry_concurrency = 4;  // --registry-concurrency: transfers in flight per registry
  // --verify (issue 17): opt-in liveness check of secret keys; nothing is sent without it.
  bool verify = false;
  std::string verify_endpoint;         // --verify-endpoint URL; "" = the default, checked before scanning
  unsigned verify_budget_seconds = 60;  // --verify-budget: every key unanswered by then is "unknown"
  bool only_live = false;              // --only-live: only live keys decide the exit status
  // From the configuration file's "ignore:" list, used unless --ignore was given; origin names the file.
  std::optional<std::vector<suppress::IgnoreEntry>> config_ignores;
  std::string config_origin;
};

// scan_options.cpp: declares every option of `scan` on `cmd`, bound to `scan`.
void add_scan_options(CLI::App& cmd, ScanCommand& scan);

// scan_options.cpp: after parsing: applies the configuration file to options not given on the command line,
// reads --images-from, lower-cases --format/--fail-on and refuses contradictions. The message of an
// error is for the user as is.
Status finish_scan_options(const CLI::App& cmd, ScanCommand& scan);

// scan_options.cpp: "text", "json", "sarif", "gitlab", "html" (already lower-cased), else nullopt.
std::optional<report::Format> parse_format(std::string_view name);

// scan_command.cpp: runs a validated scan; returns the exit status.
int run_scan(const ScanCommand& cmd);

// audit_command.cpp: declares `audit` on `app`; the result runs it (the exit status) when it was given.
std::function<int()> add_audit_command(CLI::App& app);


// suggestions.cpp: the candidate closest to `word` when it is close enough to be a plausible typo (at
// most max(2, a third of its length) edits away), else nullopt. Ties: the first candidate.
std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates);

// suggestions.cpp: before CLI11 parses: an unknown subcommand or long option of a known subcommand, as
// an error message with the closest known name ("unknown command \"scna\"; did you mean \"scan\"?"), or
// nullopt when nothing is unknown. Arguments after "--" and option values are not looked at.
std::optional<std::string> unknown_argument(int argc, char** argv, const CLI::App& app);

// config_file.cpp: the settings of a configuration file; absent keys are nullopt. Paths (rules, baseline,
// output) are already resolved against the file's directory.
struct ConfigFile {
  std::string path;
  std::optional<std::string> fail_on;
  std::optional<std::string> format;
  std::optional<std::string> output;
  std::optional<std::string> baseline;
  std::optional<std::string> platform;
  std::optional<bool> only_runtime;
  std::optional<std::vector<std::string>> rules;
  std::optional<std::vector<suppress::IgnoreEntry>> ignore;
};

// config_file.cpp: reads `explicit_path` (an error when missing), or, when it is empty,
// ".layerleak.yaml" in the working directory if there is one (nullopt if not). Errors (Errc::malformed,
// Errc::not_found, Errc::io) name the file and, for content, the line.
Result<std::optional<ConfigFile>> load_config(const std::string& explicit_path);

// The keys a configuration file may hold, for messages and suggestions.
const std::vector<std::string>& config_keys();

// The configuration file fills what the command line left out (`given(option)`: the option was on the command
// line): an option given there always wins, lists (--rules, --ignore) included, so one invocation never mixes
// both sources for one setting. One implementation for `scan` (ScanCommand) and `audit`: both name these
// fields alike.
template <class Command, class Given>
void apply_config(const Given& given, const ConfigFile& config, Command& c) {
  if (config.fail_on && !given("--fail-on")) c.fail_on = *config.fail_on;
  if (config.format && !given("--format")) c.format = *config.format;
  if (config.output && !given("--output")) c.output = *config.output;
  if (config.baseline && !given("--baseline")) c.baseline = *config.baseline;
  if (config.platform && !given("--platform") && !given("--all-platforms")) c.platform = *config.platform;
  if (config.only_runtime && !given("--only-runtime")) c.only_runtime = *config.only_runtime;
  if (config.rules && !given("--rules")) c.rule_files = *config.rules;
  if (config.ignore && !given("--ignore")) c.config_ignores = config.ignore;
  c.config_origin = config.path;
}

// config_file.cpp: the suppressions of a run (scan and audit), read before scanning: a bad file stops the run,
// never means "no suppression". --ignore FILE replaces the configuration file's ignore list (config_ignores,
// from config_origin); rule ids must name loaded rules.
Result<suppress::Suppressions> load_suppressions(const std::string& baseline, const std::string& ignore,
                                                 const std::optional<std::vector<suppress::IgnoreEntry>>& config_ignores,
                                                 const std::string& config_origin, const detect::Detector& detector);

}  // namespace layerleak::cli
