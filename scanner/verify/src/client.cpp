// verify_secrets: the HTTP side of --verify. One curl multi handle, at most max_in_flight easy handles,
// each GET carrying the secret in X-Auth-Token only; every answer is classified, never trusted: bodies are
// bounded, metadata is taken from a 200 of the access-key URL only, and every string from the API is cut to
// printable text of bounded length before it reaches a report (a terminal would obey escape sequences).
#include <curl/curl.h>
#include <time.h>

#include <algorithm>
#include <deque>
#include <nlohmann/json.hpp>
#include <thread>

#include "layerleak/verify.h"

namespace layerleak::verify {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct MultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct SlistDeleter {
  void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
using Multi = std::unique_ptr<CURLM, MultiDeleter>;
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

std::string now_rfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Text from the API as it may be printed: control characters and DEL dropped, invalid UTF-8 escaped, at most
// `limit` bytes (cut on a character boundary).
std::string printable(std::string_view raw, std::size_t limit = 200) {
  std::string kept;
  for (char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) continue;
    kept += ch;
  }
  std::string text = report::escape_invalid_utf8(kept);
  if (text.size() > limit) {
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text.resize(cut);
    text += "...";
  }
  return text;
}

std::string json_string(const json& object, const char* name) {
  if (!object.is_object()) return "";
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? printable(it->get<std::string>()) : std::string();
}

std::string seconds_text(std::chrono::milliseconds ms) {
  const auto tenths = ms.count() / 100;
  return std::to_string(tenths / 10) + (tenths % 10 ? "." + std::to_string(tenths % 10) : "") + " s";
}

struct Transfer {
  const Request* request = nullptr;
  bool by_access_key = false;
  unsigned attempts = 0;
  Clock::time_point not_before{};
  Easy easy;
  Slist headers;
  std::string body;
  bool too_large = false;
  bool budget_bound = false;  // its timeout is what was left of the budget, not request_timeout
  std::size_t limit = 0;
  char error[CURL_ERROR_SIZE] = {};
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (t->body.size() + n > t->limit) {
    t->too_large = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  t->body.append(data, n);
  return n;
}

report::Verification unknown(std::string reason, std::optional<int> http_status = std::nullopt) {
  return report::Verification{"unknown", now_rfc3339(), http_status, std::move(reason), std::nullopt};
}

// The classification of one finished HTTP exchange (no curl error).
report::Verification classify(const Transfer& t, long status) {
  const int code = static_cast<int>(status);
  const json body = json::parse(t.body, nullptr, /*allow_exceptions=*/false);
  const std::string type = json_string(body, "type");
  if (status == 200) {
    report::Verification v{"live", now_rfc3339(), code, "", std::nullopt};
    if (!t.by_access_key) {
      v.reason = "the key authenticated (it may list the organization's API keys)";
      return v;
    }
    v.reason = "the key authenticated and may read its own API key";
    report::ApiKeyInfo info;
    info.access_key = json_string(body, "access_key");
    if (info.access_key != t.request->access_key) {
      v.reason += "; the answer did not describe that access key, metadata left out";
      return v;
    }
    info.description = json_string(body, "description");
    info.user_id = json_string(body, "user_id");
    info.application_id = json_string(body, "application_id");
    info.default_project_id = json_string(body, "default_project_id");
    info.created_at = json_string(body, "created_at");
    info.expires_at = json_string(body, "expires_at");
    v.api_key = std::move(info);
    return v;
  }
  if (status == 403) {
    return {"live", now_rfc3339(), code,
            "valid key without permission to read IAM API keys" + (type.empty() ? std::string() : " (" + type + ")"),
            std::nullopt};
  }
  if (status == 401) {
    std::string reason = "authentication denied";
    const std::string why = json_string(body, "reason");
    if (!why.empty()) reason += " (" + why + ")";
    else if (!type.empty()) reason += " (" + type + ")";
    return {"invalid", now_rfc3339(), code, reason, std::nullopt};
  }
  if (status >= 300 && status < 400) {
    return unknown("the API answered with a redirect, not followed (the key is only ever sent to the endpoint)", code);
  }
  if (status == 429) return unknown("rate limited (HTTP 429) beyond the verification budget", code);
  return unknown("unexpected answer HTTP " + std::to_string(code) + (type.empty() ? "" : " (" + type + ")"), code);
}

std::string curl_reason(const Transfer& t, CURLcode rc, const Options& options) {
  if (t.too_large) return "answer larger than " + std::to_string(options.max_body_bytes / 1024) + " KiB, not read";
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return t.budget_bound ? "no answer within the verification budget of " + seconds_text(options.budget)
                            : "no answer within " + seconds_text(options.request_timeout);
    case CURLE_PEER_FAILED_VERIFICATION: return "TLS: the endpoint's certificate was not trusted";
    case CURLE_SSL_CONNECT_ERROR: return "TLS handshake failed";
    case CURLE_COULDNT_RESOLVE_HOST: return "cannot resolve the endpoint's host";
    case CURLE_COULDNT_CONNECT: return "cannot connect to the endpoint";
    case CURLE_FILESIZE_EXCEEDED: return "answer larger than " + std::to_string(options.max_body_bytes / 1024) + " KiB, not read";
    default: break;
  }
  std::string reason = curl_easy_strerror(rc);
  // Why no errbuf: curl's detail text can quote the URL; the reason names the failure kind only.
  return "request failed: " + printable(reason);
}

Status start(Transfer& t, const std::string& endpoint, const Options& options, Clock::time_point deadline,
             CURLM* multi) {
  t.easy.reset(curl_easy_init());
  if (!t.easy) return make_error(Errc::internal, "curl_easy_init failed");
  t.body.clear();
  t.too_large = false;
  t.limit = options.max_body_bytes;
  ++t.attempts;
  const std::string url = t.by_access_key ? endpoint + "/iam/v1alpha1/api-keys/" + t.request->access_key
                                          : endpoint + "/iam/v1alpha1/api-keys?page_size=1";
  const std::string header = "X-Auth-Token: " + t.request->secret;
  t.headers.reset(curl_slist_append(nullptr, header.c_str()));
  if (!t.headers) return make_error(Errc::internal, "curl_slist_append failed");
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  const long timeout = static_cast<long>(std::max<std::int64_t>(1, std::min(options.request_timeout, left).count()));
  t.budget_bound = left < options.request_timeout;
  CURL* e = t.easy.get();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers.get());
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_body_bytes));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error);
  curl_easy_setopt(e, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_NETRC, static_cast<long>(CURL_NETRC_IGNORED));
  // Why no proxy for http://: the token would cross the proxy in clear text. https:// keeps the proxy
  // environment (a CONNECT tunnel; TLS is still verified end to end with the endpoint).
  if (endpoint.rfind("http://", 0) == 0) curl_easy_setopt(e, CURLOPT_PROXY, "");
  if (curl_multi_add_handle(multi, e) != CURLM_OK) return make_error(Errc::internal, "curl_multi_add_handle failed");
  return Ok{};
}

}  // namespace

bool is_secret_key_form(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

bool is_access_key_form(std::string_view s) {
  if (s.size() != 20 || s.substr(0, 3) != "SCW") return false;
  return std::all_of(s.begin() + 3, s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); });
}

std::map<std::string, report::Verification> verify_secrets(const std::vector<Request>& requests, const Options& options) {
  std::map<std::string, report::Verification> results;
  auto endpoint = check_endpoint(options.endpoint);
  std::deque<std::unique_ptr<Transfer>> pending;
  for (const Request& r : requests) {
    if (results.count(r.fingerprint) ||
        std::any_of(pending.begin(), pending.end(), [&](const auto& t) { return t->request->fingerprint == r.fingerprint; })) {
      continue;
    }
    if (!endpoint) {
      results[r.fingerprint] = unknown("endpoint refused: " + endpoint.error().message);
    } else if (!is_secret_key_form(r.secret)) {
      results[r.fingerprint] = unknown("not a secret key of the UUID form: not sent");
    } else {
      auto t = std::make_unique<Transfer>();
      t->request = &r;
      t->by_access_key = is_access_key_form(r.access_key);
      pending.push_back(std::move(t));
    }
  }
  if (pending.empty()) return results;

  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  Multi multi(curl_multi_init());
  if (global != CURLE_OK || !multi) {
    for (const auto& t : pending) results[t->request->fingerprint] = unknown("cannot start libcurl");
    return results;
  }
  const Clock::time_point deadline = Clock::now() + options.budget;
  std::vector<std::unique_ptr<Transfer>> running;
  const unsigned max_in_flight = std::max(1u, options.max_in_flight);

  auto finish_all = [&](const std::string& reason) {
    for (auto& t : running) {
      curl_multi_remove_handle(multi.get(), t->easy.get());
      results[t->request->fingerprint] = unknown(reason);
    }
    running.clear();
    for (auto& t : pending) results[t->request->fingerprint] = unknown(reason);
    pending.clear();
  };

  while (!pending.empty() || !running.empty()) {
    if (options.cancel && options.cancel->load()) {
      finish_all("cancelled before an answer");
      break;
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      finish_all("no answer within the verification budget of " + seconds_text(options.budget));
      break;
    }
    // Start what may start: free slots, and (after a 429) the Retry-After time has come.
    for (auto it = pending.begin(); it != pending.end() && running.size() < max_in_flight;) {
      if ((*it)->not_before > now) {
        ++it;
        continue;
      }
      std::unique_ptr<Transfer> t = std::move(*it);
      it = pending.erase(it);
      if (auto st = start(*t, *endpoint, options, deadline, multi.get()); !st) {
        results[t->request->fingerprint] = unknown(st.error().message);
        continue;
      }
      running.push_back(std::move(t));
    }
    int still = 0;
    curl_multi_perform(multi.get(), &still);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      auto it = std::find_if(running.begin(), running.end(), [&](const auto& t) { return t->easy.get() == msg->easy_handle; });
      if (it == running.end()) continue;
      std::unique_ptr<Transfer> t = std::move(*it);
      running.erase(it);
      const CURLcode rc = msg->data.result;
      curl_multi_remove_handle(multi.get(), t->easy.get());
      long status = 0;
      curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &status);
      if (rc != CURLE_OK) {
        results[t->request->fingerprint] = unknown(curl_reason(*t, rc, options), status > 0 ? std::optional<int>(static_cast<int>(status)) : std::nullopt);
        continue;
      }
      if (status == 429 && t->attempts < options.max_attempts) {
        curl_off_t retry_after = 0;
        curl_easy_getinfo(t->easy.get(), CURLINFO_RETRY_AFTER, &retry_after);
        const auto wait = std::chrono::seconds(std::max<curl_off_t>(1, retry_after));
        if (Clock::now() + wait < deadline) {
          t->not_before = Clock::now() + wait;
          t->easy.reset();
          pending.push_back(std::move(t));
          continue;
        }
      }
      results[t->request->fingerprint] = classify(*t, status);
    }
    if (running.empty()) {
      if (pending.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // waiting for a Retry-After
    } else {
      curl_multi_poll(multi.get(), nullptr, 0, 100, nullptr);
    }
  }
  return results;
}

}  // namespace layerleak::verify
