// check_endpoint: where --verify may send keys. https:// anywhere (verified TLS); http:// only to this machine.
#include <arpa/inet.h>
#include <curl/curl.h>

#include <memory>

#include "layerleak/oci.h"
#include "layerleak/verify.h"

namespace layerleak::verify {

namespace {

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlText {
  char* text = nullptr;
  ~CurlText() { curl_free(text); }
};

// The part, or "" when the URL has none.
std::string part(CURLU* url, CURLUPart which) {
  CurlText t;
  if (curl_url_get(url, which, &t.text, 0) != CURLUE_OK || t.text == nullptr) return "";
  return t.text;
}

bool loopback_host(std::string host) {
  if (host == "localhost") return true;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace

Result<std::string> check_endpoint(std::string_view text) {
  // First: every use of --verify checks its endpoint before anything else, and this is where libcurl is needed.
  if (auto loaded = oci::load_libcurl(); !loaded) return std::move(loaded).error();
  const std::string given(text);
  auto refuse = [&](const std::string& why) -> Error {
    return make_error(Errc::invalid_argument, "--verify-endpoint " + given + ": " + why);
  };
  if (given.find_first_of(" \t\r\n") != std::string::npos) return refuse("must not contain blanks or line breaks");
  std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
  if (!url) return make_error(Errc::internal, "curl_url failed");
  if (curl_url_set(url.get(), CURLUPART_URL, given.c_str(), 0) != CURLUE_OK) {
    return refuse("not a URL (expected https://HOST[:PORT][/PATH])");
  }
  const std::string scheme = part(url.get(), CURLUPART_SCHEME);
  const std::string host = part(url.get(), CURLUPART_HOST);
  if (scheme != "https" && scheme != "http") return refuse("only https:// (or http:// to a loopback address)");
  if (host.empty()) return refuse("no host");
  if (!part(url.get(), CURLUPART_USER).empty() || !part(url.get(), CURLUPART_PASSWORD).empty()) {
    return refuse("must not carry a user name or password");
  }
  if (!part(url.get(), CURLUPART_QUERY).empty() || !part(url.get(), CURLUPART_FRAGMENT).empty()) {
    return refuse("must not carry a query or fragment");
  }
  if (scheme == "http" && !loopback_host(host)) {
    return refuse("plain http:// would send secret keys unencrypted; it is allowed for a loopback address only "
                  "(localhost, 127.0.0.0/8, [::1]); use https://");
  }
  std::string normal = part(url.get(), CURLUPART_URL);
  while (!normal.empty() && normal.back() == '/') normal.pop_back();
  return normal;
}

}  // namespace layerleak::verify
