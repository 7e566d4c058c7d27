// `layerleak scan`: runs a validated ScanCommand over every image, applies suppressions, writes one report
// and maps the outcome to the exit status (the worst of the images).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <sstream>
#include <system_error>
#include <thread>

#include "cli_internal.h"
#include "layerleak/archive.h"
#include "layerleak/cache.h"
#include "layerleak/oci.h"
#include "layerleak/pipeline.h"
#include "layerleak/rules.h"
#include "layerleak/verify.h"
#include "report_file.h"

namespace layerleak::cli {

namespace {

// Set by SIGINT/SIGTERM: the scan stops at the next file boundary and reports itself incomplete.
std::atomic<bool> g_interrupted{false};

// A second signal ends the process at once (the first may arrive while the rules compile, which does
// not look at the flag).
extern "C" void on_interrupt(int signum) {
  if (g_interrupted.exchange(true)) {
    ::signal(signum, SIG_DFL);
    ::raise(signum);
  }
}

void install_interrupt_handler() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // Writes to a closed pipe or socket (`| head`, a credential helper that exits early, a registry that
  // hangs up) fail with EPIPE instead of killing the process.
  ::signal(SIGPIPE, SIG_IGN);
}

// One line on standard error, redrawn in place: "[=====>    ] 52%  3/5 layers  120.4 MiB".
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

Result<pipeline::ScanOptions> scan_options(const ScanCommand& cmd) {
  pipeline::ScanOptions options;
  auto platform = oci::Platform::parse(cmd.platform);
  if (!platform) return std::move(platform).error();
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
  options.source.registry.concurrency = cmd.registry_concurrency;
  return options;
}

// Resolves the images of a scan one ahead of the one being scanned, on a thread of its own. Why: opening a
// registry image is loading libcurl and a few round trips, which need little CPU: the first image's
// overlaps loading the rules, the next ones the scan before them (four small images from a registry
// 20 ms away: 0.58 s one after the other, 0.45 s resolved ahead). An error waits in its Resolved for the
// image's turn.
class AheadResolver {
 public:
  // Starts on images[0]. Only `select`, `source` and `cancel` of `options` are used (copied now);
  // `prefetch`: layers of the first image to ask for ahead (pipeline::layers_to_prefetch).
  AheadResolver(const std::vector<std::string>& images, const pipeline::ScanOptions& options, unsigned prefetch,
                std::atomic<bool>& stop)
      : images_(images), stop_(stop), prefetch_(prefetch) {
    options_.select = options.select;
    options_.source = options.source;
    options_.cancel = options.cancel;
    start();
  }
  AheadResolver(const AheadResolver&) = delete;
  AheadResolver& operator=(const AheadResolver&) = delete;
  // An early return (the rules failed to load) must not wait for a slow registry: the unfinished
  // resolution is cancelled through `stop` (the scan's cancel flag; the process is ending).
  ~AheadResolver() {
    if (!pending_.valid()) return;
    if (pending_.wait_for(std::chrono::seconds(0)) == std::future_status::deferred) return;  // never started
    if (pending_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) stop_.store(true);
    pending_.wait();
  }

  // The next image's resolution, in order (waits for it); starts resolving the one after it.
  pipeline::Resolved next() {
    pipeline::Resolved resolved = pending_.get();
    start();
    return resolved;
  }

 private:
  void start() {
    if (next_ >= images_.size()) return;
    // Why the first image only: its scan starts as soon as it is resolved, while each later image waits
    // for the one before it, and its layers asked for ahead would hold transfer slots that scan needs.
    options_.select.prefetch_layers = next_ == 0 ? prefetch_ : 0;
    auto resolve = [reference = images_[next_], options = options_] { return pipeline::resolve(reference, options); };
    ++next_;
    try {
      pending_ = std::async(std::launch::async, resolve);
    } catch (const std::system_error&) {  // no thread to be had (a process limit): resolve when asked
      pending_ = std::async(std::launch::deferred, resolve);
    }
  }

  const std::vector<std::string>& images_;
  std::atomic<bool>& stop_;
  pipeline::ScanOptions options_;
  unsigned prefetch_;
  std::size_t next_ = 0;
  std::future<pipeline::Resolved> pending_;
};

// Every image in argument order, in one report; a failing image is an error entry of its own, never a
// reason to skip the others.
report::ScanReport scan_images(AheadResolver& resolver, std::size_t count, const std::shared_ptr<const detect::Detector>& detector,
                               const pipeline::ScanOptions& options, bool show_progress) {
  report::ScanReport all;
  for (std::size_t scanned = 0; scanned < count; ++scanned) {
    report::ScanReport one = pipeline::scan(resolver.next(), detector, options);
    if (show_progress) std::fputs("\r\x1b[K", stderr);
    if (all.tool_version.empty()) {
      all.tool_version = one.tool_version;
      all.rules_digest = one.rules_digest;
      all.started_at_ms = one.started_at_ms;
    }
    all.finished_at_ms = one.finished_at_ms;
    for (report::ImageReport& i : one.images) all.images.push_back(std::move(i));
  }
  return all;
}

// --color auto: only on a terminal, and neither NO_COLOR (https://no-color.org) nor TERM=dumb.
bool use_color(const ScanCommand& cmd) {
  if (cmd.color == "always") return true;
  if (cmd.color == "never" || !cmd.output.empty()) return false;
  const char* term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr && !(term && std::string_view(term) == "dumb");
}

// Renders the report and writes it to the report file or standard output. A reader that went away
// (`| head -1`) is not an error: the verdict still decides the exit status.
Status emit_report(const ScanCommand& cmd, const report::ScanReport& result, report::ReportOptions options,
                   ReportFile* file) {
  const report::Format format = *parse_format(cmd.format);
  options.color = use_color(cmd);
  options.summary_only = cmd.quiet && file == nullptr;
  std::ostringstream rendered;
  if (auto st = report::write_report(result, format, options, rendered); !st) return st;
  if (file != nullptr) return file->commit(rendered.view());
  const int err = write_all(STDOUT_FILENO, rendered.view());
  if (err != 0 && err != EPIPE) return make_error(Errc::io, std::string("cannot write the report: ") + std::strerror(err));
  return Ok{};
}

// Errors go to standard error too, so a CI log shows why the gate failed even with -o; redacted like
// the report (a message may quote a path named after a key).
void print_errors(const report::ScanReport& result, const report::ReportOptions& options, bool show_secrets) {
  std::optional<report::ScanReport> redacted;
  if (!show_secrets && std::any_of(result.images.begin(), result.images.end(),
                                   [](const report::ImageReport& i) { return !i.errors.empty(); })) {
    redacted = report::redact_report(result, options);
  }
  for (const report::ImageReport& image : (redacted ? *redacted : result).images) {
    for (const report::ErrorEntry& e : image.errors) std::cerr << "layerleak: error: " << report::terminal_safe(e.message) << '\n';
  }
}

int verdict(const report::ScanReport& result, const std::string& fail_on, bool only_live) {
  if (!result.complete()) return kExitIncomplete;
  auto threshold = rules::parse_severity(fail_on);
  if (!threshold) return kExitClean;  // "none"
  if (only_live) {  // --only-live: the other findings stay in the report but never fail the run
    for (const report::ImageReport& image : result.images) {
      for (const report::Finding& f : image.findings) {
        if (f.verification && f.verification->status == "live" && f.severity >= *threshold) return kExitFindings;
      }
    }
    return kExitClean;
  }
  auto max = result.max_severity();
  return (max && *max >= *threshold) ? kExitFindings : kExitClean;
}

// --verify: after suppression (a suppressed key is never sent), one request per distinct secret key.
void verify_findings(const ScanCommand& cmd, report::ScanReport& result) {
  verify::Options options;
  options.endpoint = cmd.verify_endpoint;  // checked and normalised by finish_scan_options
  options.budget = std::chrono::seconds(cmd.verify_budget_seconds);
  options.cancel = &g_interrupted;
  options.user_agent = "layerleak/" + (result.tool_version.empty() ? std::string("unknown") : result.tool_version);
  verify::verify_report(result, options, nullptr);
}

}  // namespace

namespace {

// Images read through libcurl: a registry's, or the Docker daemon's (over its socket).
bool needs_curl(const std::string& reference) {
  const std::string transport = oci::transport_of(reference);
  return transport == "docker" || transport == "docker-daemon";
}

}  // namespace

int run_scan(const ScanCommand& cmd) {
  // Why before anything: loading libarchive and the ten libraries behind it (~6 ms) is needed only once
  // the first layer's tar is read; on a thread of its own it overlaps the options, the image's opening and
  // the rules. Why not when the first image comes through libcurl: the loader serialises loads (libcurl's,
  // and what libcurl opens as it starts), and opening a registry image waits for libcurl (loaded after
  // it, libarchive put the first request 5 ms later); the first tar reader then loads it while the
  // layer's bytes are on their way.
  std::jthread archive_loader;
  if (cmd.images.empty() || !needs_curl(cmd.images.front())) {
    try {
      archive_loader = std::jthread([] { (void)archive::load_libarchive(); });
    } catch (const std::system_error&) {  // no thread to be had: the first tar reader loads it
    }
  }
  // Why first: a scan may take minutes; an output file that cannot be written fails now, with the reason.
  std::unique_ptr<ReportFile> file;
  if (!cmd.output.empty()) {
    auto created = ReportFile::create(cmd.output);
    if (!created) return fail(created.error().message);
    file = std::move(created).value();
  }
  auto options = scan_options(cmd);
  if (!options) return fail(options.error().message);
  // Why before anything is opened: the first image is opened while the rules load, and a signal then
  // must cancel it and still give a report (exit 2, "cancelled"), not kill the process mid-request.
  install_interrupt_handler();
  options->cancel = &g_interrupted;
  // The first image is opened (and libcurl loaded for it) while the rules load.
  // Why from the command line: the layer cache is opened after the rules, once this has started.
  const bool cached = !cmd.cache_dir.empty() || !cmd.store.empty();
  AheadResolver resolver(cmd.images, *options, pipeline::layers_to_prefetch(options->jobs, cached), g_interrupted);
  // Why in the background: loading libcurl and the ~28 libraries behind it (~12 ms of CPU) overlaps
  // loading the rules, on a core that is idle then; a later registry or daemon image and --verify need
  // it. Errors are reported where it is needed (load_libcurl keeps its first answer).
  std::jthread curl_loader;
  if ((cmd.verify || std::any_of(cmd.images.begin(), cmd.images.end(), needs_curl)) && !needs_curl(cmd.images.front())) {
    curl_loader = std::jthread([] { (void)oci::load_libcurl(); });
  }
  auto detector = load_detector(cmd.rule_files);
  if (!detector) return fail(detector.error().message);
  auto suppressions = load_suppressions(cmd.baseline, cmd.ignore, cmd.config_ignores, cmd.config_origin, **detector);
  if (!suppressions) return fail(suppressions.error().message);

  std::unique_ptr<cache::Store> layer_cache;
  if (!cmd.cache_dir.empty() || !cmd.store.empty()) {
    // --cache is always a directory; --store may also name a PostgreSQL database.
    Result<std::unique_ptr<cache::Store>> opened = make_error(Errc::internal, "no store");
    if (cmd.store.empty()) {
      auto sqlite = cache::ScanCache::open(cmd.cache_dir);
      opened = sqlite ? Result<std::unique_ptr<cache::Store>>(std::move(sqlite).value()) : std::move(sqlite).error();
    } else {
      opened = cache::open_store(cmd.store);
    }
    if (!opened) return fail(std::string(cmd.store.empty() ? "--cache: " : "--store: ") + opened.error().message);
    layer_cache = std::move(opened).value();
    options->layer_cache = layer_cache.get();
  }

  const bool show_progress = !cmd.no_progress && (cmd.progress || (!cmd.quiet && ::isatty(STDERR_FILENO)));
  if (show_progress) options->on_progress = print_progress;
  report::ScanReport result = scan_images(resolver, cmd.images.size(), *detector, *options, show_progress);
  suppress::apply(result, *suppressions);
  if (cmd.only_runtime) suppress::suppress_hidden(result);
  if (cmd.verify && !g_interrupted.load()) verify_findings(cmd, result);

  report::ReportOptions report_options;
  report_options.show_secrets = cmd.show_secrets;
  report_options.full_access_keys = cmd.verify;
  for (const std::string& entry : cmd.sarif_path_map) {  // checked by finish_scan_options
    if (auto mapping = report::parse_path_mapping(entry)) report_options.sarif_path_map.push_back(*mapping);
  }
  if (!cmd.show_secrets) report_options.redact_text = pipeline::text_redactor(*detector);
  if (cmd.format == "gitlab") {
    report_options.commit_sha = commit_sha(result);
    if (report_options.commit_sha.empty()) {
      return fail("--format gitlab needs the commit the image was built from: set the image label or annotation "
                  "org.opencontainers.image.revision, or CI_COMMIT_SHA");
    }
  }
  if (auto st = emit_report(cmd, result, report_options, file.get()); !st) return fail(st.error().message);
  print_errors(result, report_options, cmd.show_secrets);
  if (cmd.verify && g_interrupted.load()) return fail("interrupted: verification is incomplete");
  return verdict(result, cmd.fail_on, cmd.only_live);
}

}  // namespace layerleak::cli
