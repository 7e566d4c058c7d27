// The HTTP side of `serve`: routes, bearer-token check, metrics, signals. Scanning and verdicts live in
// JobQueue; request/response shapes in wire.cpp; connections in http_server.cpp.
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "http_server.h"
#include "job_queue.h"
#include "layerleak/cache.h"
#include "layerleak/serve.h"
#include "layerleak/verify.h"

namespace layerleak::serve {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr const char* kJson = "application/json";
constexpr std::size_t kMaxBody = 8u << 20;  // AdmissionReviews of large pods stay far below this
constexpr auto kShutdownLimit = std::chrono::seconds(9);

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

// A listen address that only this machine can reach: "localhost", 127.0.0.0/8 or ::1, parsed as
// addresses (a prefix test would take "127.evil.example").
bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

// "Bearer <token>" with the scheme in any case and one or more spaces (RFC 9110 §11.1, §11.4).
std::string_view bearer_token(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() || header[kScheme.size()] != ' ') return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return {};
  }
  header.remove_prefix(kScheme.size());
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  return header;
}

bool is_hex(std::string_view text, std::size_t size) {
  return text.size() == size && std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// "/v1/scans/<32 hex>" -> "<32 hex>" for prefix "/v1/scans/" (and an optional fixed suffix), else "".
std::string path_id(std::string_view path, std::string_view prefix, std::string_view suffix, std::size_t size) {
  if (!path.starts_with(prefix) || !path.ends_with(suffix) || path.size() != prefix.size() + size + suffix.size()) return "";
  const std::string_view id = path.substr(prefix.size(), size);
  return is_hex(id, size) ? std::string(id) : "";
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

void reply_json(http::Response& res, int status, std::string body, std::string_view type = kJson) {
  res.status = status;
  res.body = std::move(body);
  res.content_type = std::string(type);
}

void reply_error(http::Response& res, int status, const std::string& message) {
  reply_json(res, status, ordered_json{{"error", {{"message", message}}}}.dump(-1, ' ', false, json::error_handler_t::replace));
}

// Harbor's scanner adapter API (spec v1.2): the same {"error": {"message"}} body, its own MIME type.
void reply_harbor_error(http::Response& res, int status, const std::string& message) {
  reply_error(res, status, message);
  res.content_type = std::string(wire::kHarborErrorMime);
}

// The verdict for an image reference from a finished job: the image whose manifest digest the reference
// names, else all of the job's images together (an index by digest or a tag: every platform counts).
wire::ImageDecision decision_from_job(const std::string& image, const std::string& reference, const JobView& job) {
  if (job.state != JobState::done) return {image, wire::Verdict::unknown, job.error.empty() ? "scan failed" : job.error};
  const auto digest = wire::reference_digest(reference);
  for (const wire::ImageVerdict& v : job.verdicts) {
    if (digest && v.manifest_digest == *digest) return {image, v.verdict, v.reason};
  }
  const wire::ImageVerdict all = wire::combine_verdicts(job.verdicts, image);
  return {image, all.verdict, all.reason};
}

// Prometheus text exposition of the service's counters, the queue and the cache.
std::string metrics_text(const Metrics& metrics, const JobQueue& jobs, const cache::Store& cache) {
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
  out << "layerleak_scans_total{verdict=\"allow\"} " << metrics.scans_allow << '\n'
      << "layerleak_scans_total{verdict=\"deny\"} " << metrics.scans_deny << '\n'
      << "layerleak_scans_total{verdict=\"unknown\"} " << metrics.scans_unknown << '\n';
  single("layerleak_scan_timeouts_total", "counter", "Scans cancelled at the time limit.", metrics.scans_timed_out);
  single("layerleak_findings_total", "counter", "Findings in finished scans.", metrics.findings);
  metric("layerleak_scan_duration_seconds", "histogram", "Duration of finished scans.");
  const std::uint64_t count = metrics.scans_allow + metrics.scans_deny + metrics.scans_unknown;
  for (std::size_t i = 0; i < std::size(Metrics::kBuckets); ++i) {
    out << "layerleak_scan_duration_seconds_bucket{le=\"" << Metrics::kBuckets[i] << "\"} " << metrics.duration_buckets[i] << '\n';
  }
  out << "layerleak_scan_duration_seconds_bucket{le=\"+Inf\"} " << count << '\n'
      << "layerleak_scan_duration_seconds_sum " << static_cast<double>(metrics.duration_ms_sum.load()) / 1000.0 << '\n'
      << "layerleak_scan_duration_seconds_count " << count << '\n';
  single("layerleak_queue_depth", "gauge", "Scans waiting for a worker.", jobs.queued());
  single("layerleak_scans_running", "gauge", "Scans running now.", jobs.running());
  single("layerleak_scan_requests_rejected_total", "counter", "Scan requests refused because the queue was full.", metrics.rejected);
  const cache::CacheStats stats = cache.stats();
  single("layerleak_layer_cache_hits_total", "counter", "Layers answered from the cache (blob not read).", stats.layer_hits);
  single("layerleak_layer_cache_misses_total", "counter", "Layers not in the cache (read and scanned).", stats.layer_misses);
  single("layerleak_layer_cache_stores_total", "counter", "Complete layer results stored.", stats.layer_puts);
  single("layerleak_verdict_cache_hits_total", "counter", "Verdict lookups answered from stored reports.", stats.report_hits);
  single("layerleak_verdict_cache_misses_total", "counter", "Verdict lookups without a stored report.", stats.report_misses);
  single("layerleak_cache_evictions_total", "counter", "Entries dropped to keep the in-memory cache (no --cache) within its budget.", stats.evicted);
  single("layerleak_scans_from_cache_total", "counter", "Scan requests for a digest answered from a stored report (no scan).", metrics.verdict_cache_answers);
  single("layerleak_scans_from_replica_total", "counter",
         "Scans answered by the report another replica sharing the --store wrote while this one waited (no scan).",
         metrics.replica_answers);
  single("layerleak_scan_claim_waits_total", "counter",
         "Scans that found their digest being scanned by another replica sharing the --store, and waited.", metrics.claim_waits);
  single("layerleak_registry_manifests_total", "counter", "Manifest pushes queued from registry notifications.", metrics.registry_manifests);
  metric("layerleak_admission_reviews_total", "counter", "Admission and image reviews answered, by result.");
  out << "layerleak_admission_reviews_total{result=\"allowed\"} " << metrics.admission_allowed << '\n'
      << "layerleak_admission_reviews_total{result=\"denied\"} " << metrics.admission_denied << '\n';
  single("layerleak_unauthorized_requests_total", "counter", "Requests refused for a missing or wrong token.", metrics.unauthorized);
  return out.str();
}

// The endpoints. Why one class of ~290 lines: one short method per endpoint over the same five members
// (options, detector, cache, token, jobs); split, each part would take them all.
class Service {
 public:
  Service(const ServeOptions& options, std::shared_ptr<const detect::Detector> detector, cache::Store& cache,
          bool shared, std::string token)
      : options_(options), detector_(detector), cache_(cache), token_(std::move(token)),
        jobs_(options, detector, cache, metrics_, shared) {}

  // Health checks, answered on the connection thread without a token: they must answer while every
  // request thread is busy (a liveness probe that times out restarts the service).
  bool handle_inline(const http::Request& req, http::Response& res) {
    if (req.method != "GET") return false;
    if (req.path == "/healthz") {
      reply_json(res, 200, "ok\n", "text/plain");
      return true;
    }
    if (req.path == "/readyz") {
      const bool ready = jobs_.accepting();
      reply_json(res, ready ? 200 : 503, ready ? "ready\n" : "shutting down\n", "text/plain");
      return true;
    }
    return false;
  }

  void handle(const http::Request& req, http::Response& res) {
    if (!authorized(req) && !open_admission(req)) {
      ++metrics_.unauthorized;
      res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"layerleak\"");
      reply_error(res, 401, "missing or wrong bearer token");
      if (req.path.starts_with("/api/v1/")) res.content_type = std::string(wire::kHarborErrorMime);
      return;
    }
    const std::string& p = req.path;
    if (req.method == "GET") {
      if (p == "/metrics") return reply_json(res, 200, metrics_text(metrics_, jobs_, cache_), "text/plain; version=0.0.4");
      if (p == "/api/v1/metadata") {
        return reply_json(res, 200, wire::harbor_metadata(pipeline::version(), detector_->rules().digest),
                          wire::kHarborMetadataMime);
      }
      if (auto id = path_id(p, "/v1/scans/", "", 32); !id.empty()) return get_scan(id, res);
      if (auto hex = path_id(p, "/v1/verdicts/sha256:", "", 64); !hex.empty()) return get_verdict("sha256:" + hex, res);
      if (auto id = path_id(p, "/api/v1/scan/", "/report", 32); !id.empty()) return harbor_get_report(id, req, res);
    } else if (req.method == "POST") {
      if (p == "/v1/scans") return post_scan(req, res);
      if (p == "/v1/registry/events") return post_events(req, res);
      if (p == "/v1/kubernetes/admission") return review(req, res, false);
      if (p == "/v1/kubernetes/imagereview") return review(req, res, true);
      if (p == "/api/v1/scan") return harbor_scan(req, res);
    }
    if (p.starts_with("/api/v1/")) return reply_harbor_error(res, 404, "no such endpoint");
    reply_error(res, 404, "no such endpoint");
  }

  void stop() { jobs_.stop(); }

 private:
  // --admission-without-token: the two admission reviews need no token (ServeOptions explains why).
  bool open_admission(const http::Request& req) const {
    return options_.admission_without_token && req.method == "POST" &&
           (req.path == "/v1/kubernetes/admission" || req.path == "/v1/kubernetes/imagereview");
  }

  bool authorized(const http::Request& req) const {
    if (token_.empty()) return true;
    const std::string header = req.header("authorization");  // owns the text the view points into
    const std::string_view given = bearer_token(header);
    return given.size() == token_.size() && CRYPTO_memcmp(given.data(), token_.data(), token_.size()) == 0;
  }

  std::string redact(std::string_view text) const {
    return wire::escape_for_log(options_.redact_text ? options_.redact_text(text) : std::string(text));
  }

  std::string report_json(const report::ScanReport& report) const {
    std::ostringstream out;
    report::ReportOptions report_options;  // secrets redacted: reports leave this process
    report_options.redact_text = options_.redact_text;
    (void)report::write_report(report, report::Format::json, report_options, out);
    return out.str();
  }

  JobSpec spec_for(std::string reference) const {
    JobSpec spec;
    spec.reference = std::move(reference);
    spec.source = options_.scan.source;
    return spec;
  }

  void post_scan(const http::Request& req, http::Response& res) {
    auto image = wire::parse_scan_request(req.body);
    if (!image) return reply_error(res, 400, image.error().message);
    submit_and_reply(spec_for(std::move(image).value()), res, 202, [](const std::string& id) { return ordered_json{{"id", id}}; });
  }

  template <class Body>
  void submit_and_reply(JobSpec spec, http::Response& res, int status, Body body) {
    const std::string reference = spec.reference;
    const JobQueue::Submitted s = jobs_.submit(std::move(spec));
    if (s.outcome == JobQueue::Outcome::refused) return reply_error(res, 400, s.why);
    if (s.outcome == JobQueue::Outcome::full) {
      res.headers.emplace_back("Retry-After", "5");
      return reply_error(res, 429, "scan queue is full (" + std::to_string(options_.queue_size) + " waiting); retry later");
    }
    if (s.outcome == JobQueue::Outcome::stopping) return reply_error(res, 503, "shutting down");
    ordered_json doc = body(s.id);
    // One look only: the job may finish (and, with many others, be evicted) between two.
    const auto job = jobs_.get(s.id);
    doc["status"] = std::string(job_state_name(job ? job->state : JobState::queued));
    doc["reference"] = reference;
    doc["deduplicated"] = s.outcome == JobQueue::Outcome::existing;
    res.headers.emplace_back("Location", "/v1/scans/" + s.id);
    reply_json(res, status, doc.dump(-1, ' ', false, json::error_handler_t::replace));
  }

  void get_scan(const std::string& id, http::Response& res) {
    auto job = jobs_.get(id);
    if (!job) return reply_error(res, 404, "no such scan (finished scans are kept for the last " +
                                               std::to_string(options_.jobs_kept) + ")");
    ordered_json doc{{"id", job->id}, {"reference", job->spec.reference}, {"status", job_state_name(job->state)},
                     {"from_cache", job->from_cache}};
    if (!job->error.empty()) doc["error"] = job->error;
    if (job->state == JobState::done && job->report) {
      ordered_json verdicts = ordered_json::array();
      for (const wire::ImageVerdict& v : job->verdicts) verdicts.push_back(ordered_json::parse(v.summary_json));
      doc["verdicts"] = std::move(verdicts);
      doc["report"] = ordered_json::parse(report_json(*job->report), nullptr, false);
    }
    reply_json(res, 200, doc.dump(-1, ' ', false, json::error_handler_t::replace));
  }

  void get_verdict(const std::string& digest, http::Response& res) {
    if (auto verdicts = jobs_.stored_verdicts(digest)) {
      for (const wire::ImageVerdict& v : *verdicts) {
        if (v.manifest_digest == digest) return reply_json(res, 200, v.summary_json);
      }
      // An index: the verdicts of all its platforms together.
      const wire::ImageVerdict all = wire::combine_verdicts(*verdicts, digest);
      ordered_json doc{{"manifest_digest", digest}, {"verdict", wire::verdict_name(all.verdict)}, {"reason", all.reason}, {"images", ordered_json::array()}};
      for (const wire::ImageVerdict& v : *verdicts) doc["images"].push_back(ordered_json::parse(v.summary_json));
      return reply_json(res, 200, doc.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    const bool pending = jobs_.pending(digest);
    ordered_json doc{{"manifest_digest", digest}, {"verdict", "unknown"},
                     {"reason", pending ? "scan in progress" : "not scanned"}, {"pending", pending}};
    reply_json(res, 200, doc.dump());
  }

  void post_events(const http::Request& req, http::Response& res) {
    auto pushed = wire::parse_registry_events(req.body);
    if (!pushed) return reply_error(res, 400, pushed.error().message);
    std::size_t refused = 0, ignored = 0;
    for (const wire::PushedManifest& m : *pushed) {
      const auto s = jobs_.submit(spec_for(m.reference));
      if (s.outcome == JobQueue::Outcome::refused) {
        ++ignored;  // a registry serve may not contact: retrying would not help
      } else if (s.outcome == JobQueue::Outcome::full || s.outcome == JobQueue::Outcome::stopping) {
        ++refused;
      } else {
        ++metrics_.registry_manifests;
      }
    }
    // Why 503 when one was refused: the registry retries the whole envelope later; the ones already
    // queued or stored are deduplicated then, and no push goes unscanned.
    if (refused > 0) {
      res.headers.emplace_back("Retry-After", "5");
      return reply_error(res, 503, std::to_string(refused) + " manifest scan(s) could not be queued");
    }
    reply_json(res, 200, ordered_json{{"queued", pushed->size() - ignored}, {"ignored", ignored}}.dump());
  }

  // Reasoned over in three passes: stored verdicts (no scan), then scans started (at most a share of the
  // queue per review, none for a dry run), then one wait for them all up to --admission-wait.
  void review(const http::Request& req, http::Response& res, bool image_review) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long>(options_.admission_wait_seconds * 1000));
    auto request = image_review ? wire::parse_image_review(req.body) : wire::parse_admission_review(req.body);
    if (!request) return reply_error(res, 400, request.error().message);
    std::vector<wire::ImageDecision> decisions;
    if (!request->not_understood.empty()) {
      decisions.push_back({"(request)", wire::Verdict::unknown, "review not understood: " + request->not_understood});
    }
    // Why a share: one review naming 70 images that hang would otherwise fill the queue for every pod.
    const std::size_t share = std::max<std::size_t>(1, options_.queue_size / 4);
    std::size_t started = 0;
    std::vector<std::pair<std::size_t, std::string>> waiting;  // decision index, job id
    for (const std::string& image : request->images) {
      auto reference = wire::pod_image_reference(image);
      if (!reference) {
        decisions.push_back({image, wire::Verdict::unknown, reference.error().message});
        continue;
      }
      if (std::string why = jobs_.refusal(*reference); !why.empty()) {
        decisions.push_back({image, wire::Verdict::unknown, why});
        continue;
      }
      if (auto digest = wire::reference_digest(*reference)) {
        if (auto verdicts = jobs_.stored_verdicts(*digest)) {
          JobView view;
          view.state = JobState::done;
          view.verdicts = std::move(*verdicts);
          decisions.push_back(decision_from_job(image, *reference, view));
          continue;
        }
      }
      if (request->dry_run) {
        decisions.push_back({image, wire::Verdict::unknown, "no stored verdict, and a dry run starts no scan"});
        continue;
      }
      if (started >= share) {
        decisions.push_back({image, wire::Verdict::unknown, "not scanned: this review already started " + std::to_string(share) + " scans"});
        continue;
      }
      const auto s = jobs_.submit(spec_for(*reference));
      if (s.outcome == JobQueue::Outcome::refused) {
        decisions.push_back({image, wire::Verdict::unknown, s.why});
        continue;
      }
      if (s.outcome == JobQueue::Outcome::full || s.outcome == JobQueue::Outcome::stopping) {
        decisions.push_back({image, wire::Verdict::unknown, "not scanned yet and the scan queue is full"});
        continue;
      }
      if (s.outcome == JobQueue::Outcome::accepted) ++started;
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
      std::string line = std::string(image_review ? "ImageReview" : "AdmissionReview") + " " +
                         (decision.allowed ? "allowed" : "denied") + ": " + decision.reason;
      for (const std::string& w : decision.warnings) line += " [warning: " + w + "]";
      std::cerr << "layerleak serve: " << redact(line) << '\n';
    }
    reply_json(res, 200, image_review ? wire::image_review_response(*request, decision) : wire::admission_response(*request, decision));
  }

  std::string wait_text() const {
    std::ostringstream text;
    text << options_.admission_wait_seconds;
    return text.str();
  }

  void harbor_scan(const http::Request& req, http::Response& res) {
    auto request = wire::parse_harbor_scan_request(req.body);
    if (!request) {
      const Errc code = request.error().code;
      return reply_harbor_error(res, code == Errc::malformed ? 400 : code == Errc::unsupported ? 501 : 422,
                                request.error().message);
    }
    JobSpec spec = spec_for(request->reference);
    // Credentials Harbor hands over belong to its registry, the one the reference names (refusal()
    // checks it is allowed before anything is sent).
    if (!request->creds.empty()) spec.source.registry.creds = request->creds;
    if (!request->bearer_token.empty()) spec.source.registry.bearer_token = request->bearer_token;
    spec.harbor = *request;
    const auto s = jobs_.submit(std::move(spec));
    if (s.outcome == JobQueue::Outcome::refused) return reply_harbor_error(res, 422, s.why);
    if (s.outcome == JobQueue::Outcome::full || s.outcome == JobQueue::Outcome::stopping) {
      res.headers.emplace_back("Retry-After", "5");
      return reply_harbor_error(res, s.outcome == JobQueue::Outcome::full ? 429 : 503, "scan queue is full; retry later");
    }
    reply_json(res, 202, ordered_json{{"id", s.id}}.dump(), "application/vnd.scanner.adapter.scan.response+json; version=1.0");
  }

  void harbor_get_report(const std::string& id, const http::Request& req, http::Response& res) {
    // Spec v1.2: a report type the scanner cannot produce is 501, whatever the state of the scan.
    const std::optional<std::string_view> mime = wire::harbor_report_mime(req.header("accept"));
    if (!mime) {
      return reply_harbor_error(res, 501, "layerleak cannot produce a report of type " +
                                              wire::escape_for_log(req.header("accept")) + "; it produces " +
                                              std::string(wire::kHarborAdapterReportMime) + ", " +
                                              std::string(wire::kHarborReportMime) + " and " + std::string(wire::kRawReportMime));
    }
    auto job = jobs_.get(id);
    if (!job) return reply_harbor_error(res, 404, "no such scan request");
    if (job->state == JobState::queued || job->state == JobState::running) {
      res.status = 302;
      res.headers.emplace_back("Refresh-After", "2");
      return;
    }
    if (job->state == JobState::failed || !job->report) return reply_harbor_error(res, 500, job->error);
    // Harbor holds the API token: it is told why (the errors, redacted), as the scan API tells it.
    for (const report::ImageReport& image : job->report->images) {
      if (image.complete) continue;
      std::string why = image.reference + " could not be scanned completely";
      for (const report::ErrorEntry& e : image.errors) why += "; " + e.message;
      return reply_harbor_error(res, 500, why);
    }
    if (*mime == wire::kRawReportMime || *mime == wire::kLayerleakReportMime) {
      return reply_json(res, 200, report_json(*job->report), *mime);
    }
    const wire::HarborScanRequest request = job->spec.harbor.value_or(wire::HarborScanRequest{});
    reply_json(res, 200, wire::harbor_report(*job->report, request, utc_now()), *mime);
  }


  const ServeOptions& options_;
  std::shared_ptr<const detect::Detector> detector_;
  cache::Store& cache_;
  std::string token_;
  Metrics metrics_;
  JobQueue jobs_;
};

int startup_failure(const std::string& message) {
  std::cerr << "layerleak: error: " << message << '\n';
  return 2;
}

}  // namespace

int run_serve(const ServeOptions& given, std::shared_ptr<const detect::Detector> detector) {
  ServeOptions options = given;
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
  if (options.admission_without_token && options.tls_cert.empty()) {
    return startup_failure("--admission-without-token needs --tls-cert and --tls-key: the API server must know it talks to serve");
  }
  if (options.admission_without_token && options.allowed_registries.empty()) {
    return startup_failure("--admission-without-token needs --allow-registry HOST[:PORT]: callers without the token may "
                           "only make serve look at the registries listed");
  }
  if (options.workers == 0 || options.queue_size == 0) return startup_failure("--workers and --queue must be at least 1");
  if (options.verify.enabled) {
    auto endpoint_ok = verify::check_endpoint(options.verify.endpoint);
    if (!endpoint_ok) return startup_failure("--verify-endpoint: " + endpoint_ok.error().message);
    options.verify.endpoint = *endpoint_ok;
    if (options.verify.budget_seconds < 1 || options.verify.budget_seconds > 600) {
      return startup_failure("--verify-budget must be 1 to 600 seconds");
    }
    if (options.verify.ttl_seconds < 1) return startup_failure("--verify-ttl must be at least 1 second");
  }
  // Why refuse: credentials given on the command line would otherwise go to whatever registry a pod names.
  if (!options.scan.source.registry.creds.empty() && options.allowed_registries.empty()) {
    return startup_failure("--creds needs --allow-registry HOST[:PORT]: serve sends credentials only to the registries listed");
  }
  for (const std::string& registry : options.allowed_registries) {
    auto parsed = oci::parse_registry_reference(registry + "/x");
    if (!parsed || parsed->registry != registry) {
      return startup_failure("--allow-registry " + registry + " is not a registry HOST[:PORT]");
    }
  }
  options.scan.source.registry.allowed_registries = options.allowed_registries;
  if (!options.redact_text) options.redact_text = pipeline::text_redactor(detector);

  if (!options.store.empty() && !options.cache_dir.empty()) return startup_failure("--store and --cache exclude each other");
  // Before anything is opened: without libmicrohttpd there is no server to run.
  if (Status loaded = http::load_libmicrohttpd(); !loaded) return startup_failure(loaded.error().message);
  // Why the in-memory cache is not a Store shared with anyone: it bounds a long-running serve's memory;
  // --cache and --store are files or databases other processes may share, so scans claim digests there.
  const bool shared = !options.store.empty() || !options.cache_dir.empty();
  std::unique_ptr<cache::Store> scan_cache;
  if (!options.store.empty()) {
    auto opened = cache::open_store(options.store);
    if (!opened) return startup_failure("--store: " + opened.error().message);
    scan_cache = std::move(opened).value();
  } else {
    auto opened = options.cache_dir.empty() ? cache::ScanCache::open_in_memory() : cache::ScanCache::open(options.cache_dir);
    if (!opened) return startup_failure(opened.error().message);
    scan_cache = std::move(opened).value();
  }

  // Signals are taken by one thread (sigwait) rather than a handler: stopping the server is not
  // async-signal-safe. Blocked before any thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Service service(options, detector, *scan_cache, shared, token);
  http::ServerOptions http_options;
  http_options.host = endpoint->host == "localhost" ? "127.0.0.1" : endpoint->host;
  http_options.port = endpoint->port;
  http_options.tls_cert_file = options.tls_cert;
  http_options.tls_key_file = options.tls_key;
  http_options.max_body_bytes = kMaxBody;
  auto server = http::Server::start(
      http_options, [&](const http::Request& req, http::Response& res) { return service.handle_inline(req, res); },
      [&](const http::Request& req, http::Response& res) { service.handle(req, res); });
  if (!server) {
    service.stop();
    return startup_failure("cannot listen on " + options.listen + ": " + server.error().message);
  }
  std::cerr << "layerleak serve: listening on " << (options.tls_cert.empty() ? "http" : "https") << "://" << options.listen
            << (token.empty() ? " (no token: loopback only)" : "") << ", " << options.workers << " worker(s), queue "
            << options.queue_size << (options.store.empty() ? ", cache " : ", store ")
            << (shared ? scan_cache->describe() : std::string("in memory"))
            << ", registries " << (options.allowed_registries.empty() ? std::string("any (anonymous or authfile)") : [&] {
                 std::string list;
                 for (const std::string& r : options.allowed_registries) list += (list.empty() ? "" : ", ") + r;
                 return list;
               }())
            << (options.allow_local_images ? ", local images allowed" : "") << '\n';

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "layerleak serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ", shutting down\n";
  // Why a backstop: a scan stuck where cancellation cannot reach (a kernel read, a credential helper)
  // must not keep the pod from terminating; Kubernetes' grace period is 30 s by default.
  std::thread([] {
    std::this_thread::sleep_for(kShutdownLimit);
    static constexpr char kMessage[] = "layerleak serve: shutdown did not finish in time; exiting\n";
    (void)!::write(2, kMessage, sizeof kMessage - 1);
    ::_exit(2);
  }).detach();
  // Scans first: cancelling them wakes the admission requests waiting for them, which the server's
  // stop() then waits for.
  service.stop();
  (*server)->stop();
  std::cerr << "layerleak serve: stopped\n";
  return 0;
}

}  // namespace layerleak::serve
