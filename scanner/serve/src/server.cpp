// The HTTP side of `serve`: routes, bearer-token check, metrics, signals. Scanning and verdicts live in
// JobQueue; request/response shapes in wire.cpp.
#include <httplib.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>

#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "job_queue.h"
#include "layerleak/serve.h"

namespace layerleak::serve {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr const char* kJson = "application/json";
constexpr std::size_t kMaxBody = 8u << 20;  // AdmissionReviews of large pods stay far below this

struct Endpoint {
  std::string host;
  int port = 0;
};

Result<Endpoint> parse_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) {
    return make_error(Errc::invalid_argument, "--listen must be ADDR:PORT, got \"" + listen + "\"");
  }
  Endpoint e;
  e.host = listen.substr(0, colon);
  if (e.host.size() >= 2 && e.host.front() == '[' && e.host.back() == ']') e.host = e.host.substr(1, e.host.size() - 2);
  try {
    std::size_t used = 0;
    e.port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || e.port < 0 || e.port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return make_error(Errc::invalid_argument, "--listen: bad port in \"" + listen + "\"");
  }
  if (e.host.empty()) return make_error(Errc::invalid_argument, "--listen: missing address in \"" + listen + "\" (use 0.0.0.0 for all)");
  return e;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

Result<std::string> read_token(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::not_found, "cannot read --token-file " + path);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.size() < 16 || token.find_first_of(" \t\r\n") != std::string::npos) {
    return make_error(Errc::invalid_argument, "--token-file " + path + " must hold one token of at least 16 characters");
  }
  return token;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

void reply_json(httplib::Response& res, int status, const std::string& body, const char* type = kJson) {
  res.status = status;
  res.set_content(body, type);
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  reply_json(res, status, ordered_json{{"error", {{"message", message}}}}.dump(-1, ' ', false, json::error_handler_t::replace));
}

// The verdict for an image reference from a finished job: the image whose digest the reference names,
// else all of the job's images together (deny if one denies, unknown if one is unknown).
wire::ImageDecision decision_from_job(const std::string& image, const std::string& reference, const JobView& job) {
  wire::ImageDecision d{image, wire::Verdict::unknown, ""};
  if (job.state != JobState::done) {
    d.reason = job.error.empty() ? "scan failed" : job.error;
    return d;
  }
  const auto digest = wire::reference_digest(reference);
  for (const wire::ImageVerdict& v : job.verdicts) {
    if (digest && v.manifest_digest == *digest) return {image, v.verdict, v.reason};
  }
  if (job.verdicts.empty()) {
    d.reason = "no image found";
    return d;
  }
  d.verdict = wire::Verdict::allow;
  std::vector<std::string> reasons;
  for (const wire::ImageVerdict& v : job.verdicts) {
    if (v.verdict == wire::Verdict::unknown) {
      d.verdict = wire::Verdict::unknown;
      d.reason = v.reason;
      return d;
    }
    if (v.verdict == wire::Verdict::deny) {
      d.verdict = wire::Verdict::deny;
      reasons.push_back(v.reason);
    }
  }
  for (std::size_t i = 0; i < reasons.size(); ++i) d.reason += (i ? "; " : "") + reasons[i];
  if (d.verdict == wire::Verdict::allow) d.reason = job.verdicts.front().reason;
  return d;
}

class Service {
 public:
  Service(const ServeOptions& options, std::shared_ptr<const detect::Detector> detector, cache::ScanCache& cache,
          std::string token)
      : options_(options), detector_(detector), cache_(cache), token_(std::move(token)),
        jobs_(options, detector, cache, metrics_) {}

  void install(httplib::Server& server) {
    server.set_payload_max_length(kMaxBody);
    server.set_read_timeout(std::chrono::seconds(30));
    // Why more threads than cores: admission requests wait (up to --admission-wait) for scans.
    server.new_task_queue = [] { return new httplib::ThreadPool(32); };
    // Why: without a handler, cpp-httplib answers 500 with the exception's what() in a response header.
    // Nothing a handler calls should throw; if something does (bad_alloc), the client learns no internals.
    server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
      std::string what = "unknown exception";
      try {
        if (error) std::rethrow_exception(error);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      std::cerr << "layerleak serve: internal error answering " << req.method << ' ' << req.path << ": " << what << '\n';
      reply_error(res, 500, "internal error");
    });
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (req.path == "/healthz" || req.path == "/readyz" || authorized(req)) return httplib::Server::HandlerResponse::Unhandled;
      ++metrics_.unauthorized;
      res.set_header("WWW-Authenticate", "Bearer realm=\"layerleak\"");
      reply_error(res, 401, "missing or wrong bearer token");
      return httplib::Server::HandlerResponse::Handled;
    });
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
    server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      if (jobs_.accepting()) {
        res.set_content("ready\n", "text/plain");
      } else {
        res.status = 503;
        res.set_content("shutting down\n", "text/plain");
      }
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_text(), "text/plain; version=0.0.4");
    });
    server.Post("/v1/scans", [this](const httplib::Request& req, httplib::Response& res) { post_scan(req, res); });
    server.Get(R"(/v1/scans/([0-9a-f]{32}))", [this](const httplib::Request& req, httplib::Response& res) { get_scan(req, res); });
    server.Get(R"(/v1/verdicts/(sha256:[0-9a-f]{64}))",
               [this](const httplib::Request& req, httplib::Response& res) { get_verdict(req, res); });
    server.Post("/v1/registry/events", [this](const httplib::Request& req, httplib::Response& res) { post_events(req, res); });
    server.Post("/v1/kubernetes/admission", [this](const httplib::Request& req, httplib::Response& res) { review(req, res, false); });
    server.Post("/v1/kubernetes/imagereview", [this](const httplib::Request& req, httplib::Response& res) { review(req, res, true); });
    server.Get("/api/v1/metadata", [this](const httplib::Request&, httplib::Response& res) {
      reply_json(res, 200, wire::harbor_metadata(pipeline::version(), detector_->rules().digest),
                 "application/vnd.scanner.adapter.metadata+json; version=1.0");
    });
    server.Post("/api/v1/scan", [this](const httplib::Request& req, httplib::Response& res) { harbor_scan(req, res); });
    server.Get(R"(/api/v1/scan/([0-9a-f]{32})/report)",
               [this](const httplib::Request& req, httplib::Response& res) { harbor_get_report(req, res); });
  }

  void stop() { jobs_.stop(); }

 private:
  bool authorized(const httplib::Request& req) const {
    if (token_.empty()) return true;
    const std::string header = req.get_header_value("Authorization");
    const std::string expected = "Bearer " + token_;
    return header.size() == expected.size() && CRYPTO_memcmp(header.data(), expected.data(), expected.size()) == 0;
  }

  void post_scan(const httplib::Request& req, httplib::Response& res) {
    auto image = wire::parse_scan_request(req.body);
    if (!image) return reply_error(res, 400, image.error().message);
    JobSpec spec;
    spec.reference = std::move(image).value();
    spec.source = options_.scan.source;
    submit_and_reply(std::move(spec), res, 202, [](const std::string& id) { return ordered_json{{"id", id}}; });
  }

  template <class Body>
  void submit_and_reply(JobSpec spec, httplib::Response& res, int status, Body body) {
    const std::string reference = spec.reference;
    const JobQueue::Submitted s = jobs_.submit(std::move(spec));
    if (s.outcome == JobQueue::Outcome::full) {
      res.set_header("Retry-After", "5");
      return reply_error(res, 429, "scan queue is full (" + std::to_string(options_.queue_size) + " waiting); retry later");
    }
    if (s.outcome == JobQueue::Outcome::stopping) return reply_error(res, 503, "shutting down");
    ordered_json doc = body(s.id);
    // One look only: the job may finish (and, with many others, be evicted) between two.
    const auto job = jobs_.get(s.id);
    doc["status"] = std::string(job_state_name(job ? job->state : JobState::queued));
    doc["reference"] = reference;
    doc["deduplicated"] = s.outcome == JobQueue::Outcome::existing;
    res.set_header("Location", "/v1/scans/" + s.id);
    reply_json(res, status, doc.dump(-1, ' ', false, json::error_handler_t::replace));
  }

  void get_scan(const httplib::Request& req, httplib::Response& res) {
    auto job = jobs_.get(req.matches[1]);
    if (!job) return reply_error(res, 404, "no such scan (finished scans are kept for the last " +
                                               std::to_string(options_.jobs_kept) + ")");
    ordered_json doc{{"id", job->id}, {"reference", job->spec.reference}, {"status", job_state_name(job->state)},
                     {"from_cache", job->from_cache}};
    if (!job->error.empty()) doc["error"] = job->error;
    if (job->state == JobState::done) {
      ordered_json verdicts = ordered_json::array();
      for (const wire::ImageVerdict& v : job->verdicts) verdicts.push_back(ordered_json::parse(v.summary_json));
      doc["verdicts"] = std::move(verdicts);
      doc["report"] = ordered_json::parse(job->report_json, nullptr, false);
    }
    reply_json(res, 200, doc.dump(-1, ' ', false, json::error_handler_t::replace));
  }

  void get_verdict(const httplib::Request& req, httplib::Response& res) {
    const std::string digest = req.matches[1];
    if (auto stored = jobs_.stored_report(digest)) {
      auto verdicts = wire::verdicts_from_report(*stored, options_.fail_on);
      if (verdicts) {
        for (const wire::ImageVerdict& v : *verdicts) {
          if (v.manifest_digest == digest) return reply_json(res, 200, v.summary_json);
        }
        // An index: the verdicts of its scanned images together.
        JobView view;
        view.state = JobState::done;
        view.verdicts = std::move(verdicts).value();
        const wire::ImageDecision d = decision_from_job(digest, "", view);
        ordered_json doc{{"manifest_digest", digest}, {"verdict", wire::verdict_name(d.verdict)}, {"reason", d.reason}, {"images", ordered_json::array()}};
        for (const wire::ImageVerdict& v : view.verdicts) doc["images"].push_back(ordered_json::parse(v.summary_json));
        return reply_json(res, 200, doc.dump(-1, ' ', false, json::error_handler_t::replace));
      }
    }
    const bool pending = jobs_.pending(digest);
    ordered_json doc{{"manifest_digest", digest}, {"verdict", "unknown"},
                     {"reason", pending ? "scan in progress" : "not scanned"}, {"pending", pending}};
    reply_json(res, 200, doc.dump());
  }

  void post_events(const httplib::Request& req, httplib::Response& res) {
    auto pushed = wire::parse_registry_events(req.body);
    if (!pushed) return reply_error(res, 400, pushed.error().message);
    std::size_t refused = 0;
    for (const wire::PushedManifest& m : *pushed) {
      JobSpec spec;
      spec.reference = m.reference;
      spec.source = options_.scan.source;
      const auto s = jobs_.submit(std::move(spec));
      if (s.outcome == JobQueue::Outcome::full || s.outcome == JobQueue::Outcome::stopping) {
        ++refused;
      } else {
        ++metrics_.registry_manifests;
      }
    }
    // Why 503 when one was refused: the registry retries the whole envelope later; the ones already
    // queued or stored are deduplicated then, and no push goes unscanned.
    if (refused > 0) {
      res.set_header("Retry-After", "5");
      return reply_error(res, 503, std::to_string(refused) + " manifest scan(s) could not be queued");
    }
    reply_json(res, 200, ordered_json{{"queued", pushed->size()}}.dump());
  }

  void review(const httplib::Request& req, httplib::Response& res, bool image_review) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long>(options_.admission_wait_seconds * 1000));
    auto request = image_review ? wire::parse_image_review(req.body) : wire::parse_admission_review(req.body);
    if (!request) return reply_error(res, 400, request.error().message);
    std::vector<wire::ImageDecision> decisions;
    std::vector<std::pair<std::size_t, std::string>> waiting;  // decision index, job id
    for (const std::string& image : request->images) {
      auto reference = wire::pod_image_reference(image);
      if (!reference) {
        decisions.push_back({image, wire::Verdict::unknown, reference.error().message});
        continue;
      }
      if (auto digest = wire::reference_digest(*reference)) {
        if (auto stored = jobs_.stored_report(*digest)) {
          JobView view;
          view.state = JobState::done;
          if (auto verdicts = wire::verdicts_from_report(*stored, options_.fail_on)) {
            view.verdicts = std::move(verdicts).value();
            decisions.push_back(decision_from_job(image, *reference, view));
            continue;
          }
        }
      }
      JobSpec spec;
      spec.reference = *reference;
      spec.source = options_.scan.source;
      const auto s = jobs_.submit(std::move(spec));
      if (s.outcome == JobQueue::Outcome::full || s.outcome == JobQueue::Outcome::stopping) {
        decisions.push_back({image, wire::Verdict::unknown, "not scanned yet and the scan queue is full"});
        continue;
      }
      decisions.push_back({image, wire::Verdict::unknown, "scan not finished within " + wait_text() + " s"});
      waiting.emplace_back(decisions.size() - 1, s.id);
    }
    for (const auto& [index, id] : waiting) {
      if (!jobs_.wait(id, deadline)) continue;
      if (auto job = jobs_.get(id)) {
        auto reference = wire::pod_image_reference(decisions[index].image);
        decisions[index] = decision_from_job(decisions[index].image, reference ? *reference : "", *job);
      }
    }
    const wire::ReviewDecision decision = wire::decide(decisions, options_.fail_open, options_.log_only);
    ++(decision.allowed ? metrics_.admission_allowed : metrics_.admission_denied);
    if (!decision.allowed || !decision.warnings.empty()) {
      std::cerr << "layerleak serve: " << (image_review ? "ImageReview" : "AdmissionReview") << " "
                << (decision.allowed ? "allowed" : "denied") << ": " << decision.reason;
      for (const std::string& w : decision.warnings) std::cerr << " [warning: " << w << "]";
      std::cerr << '\n';
    }
    reply_json(res, 200, image_review ? wire::image_review_response(*request, decision) : wire::admission_response(*request, decision));
  }

  std::string wait_text() const {
    std::ostringstream text;
    text << options_.admission_wait_seconds;
    return text.str();
  }

  void harbor_scan(const httplib::Request& req, httplib::Response& res) {
    auto request = wire::parse_harbor_scan_request(req.body);
    if (!request) {
      return reply_error(res, request.error().code == Errc::malformed ? 400 : 422, request.error().message);
    }
    JobSpec spec;
    spec.reference = request->reference;
    spec.source = options_.scan.source;
    if (!request->creds.empty()) spec.source.registry.creds = request->creds;
    if (!request->bearer_token.empty()) spec.source.registry.bearer_token = request->bearer_token;
    if (request->plain_http) spec.source.registry.tls_verify = false;
    spec.harbor = *request;
    const auto s = jobs_.submit(std::move(spec));
    if (s.outcome == JobQueue::Outcome::full || s.outcome == JobQueue::Outcome::stopping) {
      res.set_header("Retry-After", "5");
      return reply_error(res, s.outcome == JobQueue::Outcome::full ? 429 : 503, "scan queue is full; retry later");
    }
    reply_json(res, 202, ordered_json{{"id", s.id}}.dump(), "application/vnd.scanner.adapter.scan.response+json; version=1.0");
  }

  void harbor_get_report(const httplib::Request& req, httplib::Response& res) {
    auto job = jobs_.get(req.matches[1]);
    if (!job) return reply_error(res, 404, "no such scan request");
    if (job->state == JobState::queued || job->state == JobState::running) {
      res.status = 302;
      res.set_header("Refresh-After", "2");
      return;
    }
    if (job->state == JobState::failed) return reply_error(res, 500, job->error);
    for (const wire::ImageVerdict& v : job->verdicts) {
      if (v.verdict == wire::Verdict::unknown) return reply_error(res, 500, v.reason);
    }
    const std::string accept = req.get_header_value("Accept");
    if (accept.find("vuln.report.raw") != std::string::npos || accept.find("layerleak.report") != std::string::npos) {
      const bool raw = accept.find("vuln.report.raw") != std::string::npos;
      return reply_json(res, 200, job->report_json, raw ? std::string(wire::kRawReportMime).c_str() : std::string(wire::kLayerleakReportMime).c_str());
    }
    wire::HarborScanRequest request = job->spec.harbor.value_or(wire::HarborScanRequest{});
    auto report = wire::harbor_report(job->report_json, request, utc_now());
    if (!report) return reply_error(res, 500, report.error().message);
    const std::string type(accept.find("vnd.security.vulnerability.report") != std::string::npos ? wire::kHarborReportMime
                                                                                                   : wire::kHarborAdapterReportMime);
    res.status = 200;
    res.set_content(*report, type.c_str());
  }

  std::string metrics_text() const {
    std::ostringstream out;
    auto metric = [&](const char* name, const char* type, const char* help) {
      out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
    };
    // A metric with one unlabelled sample.
    auto single = [&](const char* name, const char* type, const char* help, const auto& value) {
      metric(name, type, help);
      out << name << ' ' << value << '\n';
    };
    metric("layerleak_scans_total", "counter", "Scans finished, by verdict (unknown: incomplete).");
    out << "layerleak_scans_total{verdict=\"allow\"} " << metrics_.scans_allow << '\n'
        << "layerleak_scans_total{verdict=\"deny\"} " << metrics_.scans_deny << '\n'
        << "layerleak_scans_total{verdict=\"unknown\"} " << metrics_.scans_unknown << '\n';
    single("layerleak_scan_timeouts_total", "counter", "Scans cancelled at the time limit.", metrics_.scans_timed_out);
    single("layerleak_findings_total", "counter", "Findings in finished scans.", metrics_.findings);
    metric("layerleak_scan_duration_seconds", "histogram", "Duration of finished scans.");
    const std::uint64_t count = metrics_.scans_allow + metrics_.scans_deny + metrics_.scans_unknown;
    for (std::size_t i = 0; i < std::size(Metrics::kBuckets); ++i) {
      out << "layerleak_scan_duration_seconds_bucket{le=\"" << Metrics::kBuckets[i] << "\"} " << metrics_.duration_buckets[i] << '\n';
    }
    out << "layerleak_scan_duration_seconds_bucket{le=\"+Inf\"} " << count << '\n'
        << "layerleak_scan_duration_seconds_sum " << static_cast<double>(metrics_.duration_ms_sum.load()) / 1000.0 << '\n'
        << "layerleak_scan_duration_seconds_count " << count << '\n';
    single("layerleak_queue_depth", "gauge", "Scans waiting for a worker.", jobs_.queued());
    single("layerleak_scans_running", "gauge", "Scans running now.", jobs_.running());
    single("layerleak_scan_requests_rejected_total", "counter", "Scan requests refused because the queue was full.", metrics_.rejected);
    const cache::CacheStats stats = cache_.stats();
    single("layerleak_layer_cache_hits_total", "counter", "Layers answered from the cache (blob not read).", stats.layer_hits);
    single("layerleak_layer_cache_misses_total", "counter", "Layers not in the cache (read and scanned).", stats.layer_misses);
    single("layerleak_layer_cache_stores_total", "counter", "Complete layer results stored.", stats.layer_puts);
    single("layerleak_verdict_cache_hits_total", "counter", "Verdict lookups answered from stored reports.", stats.report_hits);
    single("layerleak_verdict_cache_misses_total", "counter", "Verdict lookups without a stored report.", stats.report_misses);
    single("layerleak_cache_evictions_total", "counter", "Entries dropped to keep the in-memory cache (no --cache) within its budget.", stats.evicted);
    single("layerleak_scans_from_cache_total", "counter", "Scan requests for a digest answered from a stored report (no scan).", metrics_.verdict_cache_answers);
    single("layerleak_registry_manifests_total", "counter", "Manifest pushes queued from registry notifications.", metrics_.registry_manifests);
    metric("layerleak_admission_reviews_total", "counter", "Admission and image reviews answered, by result.");
    out << "layerleak_admission_reviews_total{result=\"allowed\"} " << metrics_.admission_allowed << '\n'
        << "layerleak_admission_reviews_total{result=\"denied\"} " << metrics_.admission_denied << '\n';
    single("layerleak_unauthorized_requests_total", "counter", "Requests refused for a missing or wrong token.", metrics_.unauthorized);
    return out.str();
  }

  const ServeOptions& options_;
  std::shared_ptr<const detect::Detector> detector_;
  cache::ScanCache& cache_;
  std::string token_;
  Metrics metrics_;
  JobQueue jobs_;
};

int startup_failure(const std::string& message) {
  std::cerr << "layerleak: error: " << message << '\n';
  return 2;
}

}  // namespace

int run_serve(const ServeOptions& options, std::shared_ptr<const detect::Detector> detector) {
  auto endpoint = parse_listen(options.listen);
  if (!endpoint) return startup_failure(endpoint.error().message);
  std::string token;
  if (!options.token_file.empty()) {
    auto read = read_token(options.token_file);
    if (!read) return startup_failure(read.error().message);
    token = std::move(read).value();
  } else if (!is_loopback(endpoint->host)) {
    return startup_failure("--listen " + options.listen + " is not a loopback address: give --token-file so that "
                           "only holders of the token can use the API");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) return startup_failure("--tls-cert and --tls-key go together");
  if (options.workers == 0 || options.queue_size == 0) return startup_failure("--workers and --queue must be at least 1");

  auto opened = options.cache_dir.empty() ? cache::ScanCache::open_in_memory() : cache::ScanCache::open(options.cache_dir);
  if (!opened) return startup_failure(opened.error().message);
  std::unique_ptr<cache::ScanCache> scan_cache = std::move(opened).value();

  // Signals are taken by one thread (sigwait) rather than a handler: stopping the server is not
  // async-signal-safe. Blocked before any thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // internal: wakes the signal thread when the server stops by itself
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<httplib::Server> server;
  if (!options.tls_cert.empty()) {
    auto tls = std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
    if (!tls->is_valid()) return startup_failure("cannot load --tls-cert " + options.tls_cert + " / --tls-key " + options.tls_key);
    server = std::move(tls);
  } else {
    server = std::make_unique<httplib::Server>();
  }
  Service service(options, detector, *scan_cache, token);
  service.install(*server);
  if (!server->bind_to_port(endpoint->host, endpoint->port)) {
    service.stop();
    return startup_failure("cannot listen on " + options.listen);
  }
  std::cerr << "layerleak serve: listening on " << (options.tls_cert.empty() ? "http" : "https") << "://" << options.listen
            << (token.empty() ? " (no token: loopback only)" : "") << ", " << options.workers << " worker(s), queue "
            << options.queue_size << ", cache " << (options.cache_dir.empty() ? "in memory" : scan_cache->path()) << '\n';

  std::atomic<bool> signalled{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig != SIGUSR1) {
      signalled = true;
      std::cerr << "layerleak serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ", shutting down\n";
    }
    server->stop();
  });
  const bool listened = server->listen_after_bind();
  if (!signalled) pthread_kill(signal_thread.native_handle(), SIGUSR1);
  signal_thread.join();
  service.stop();
  std::cerr << "layerleak serve: stopped\n";
  return listened || signalled ? 0 : 2;
}

}  // namespace layerleak::serve
