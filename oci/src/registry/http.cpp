#include "http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "layerleak/oci.h"
#include "pool.h"

namespace layerleak::oci::registry {

namespace {

constexpr std::size_t kMaxBuffered = 1u << 20;     // body bytes held before the transfer is paused
constexpr std::size_t kMaxHeaderBytes = 64u << 10;  // a response head larger than this is refused
constexpr int kPollMs = 100;                        // the longest a transfer waits without checking cancel

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string ResponseHead::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

namespace {

AddressKind classify_ipv4(std::uint32_t a) {  // host byte order
  const auto in = [a](std::uint32_t net, int bits) { return (a >> (32 - bits)) == (net >> (32 - bits)); };
  if (in(0x00000000u, 8)) return AddressKind::unspecified;  // 0.0.0.0/8 "this network"
  if (in(0x7f000000u, 8)) return AddressKind::loopback;
  if (in(0x0a000000u, 8) || in(0xac100000u, 12) || in(0xc0a80000u, 16)) return AddressKind::private_network;
  if (in(0xa9fe0000u, 16)) return AddressKind::link_local;
  if (in(0x64400000u, 10)) return AddressKind::shared_cgnat;
  if (in(0xe0000000u, 4) || in(0xf0000000u, 4)) return AddressKind::multicast;  // multicast, reserved, broadcast
  return AddressKind::public_address;
}

AddressKind classify_ipv6(const unsigned char (&b)[16]) {
  const bool first80_zero = std::all_of(b, b + 10, [](unsigned char c) { return c == 0; });
  const std::uint32_t low32 = (std::uint32_t{b[12]} << 24) | (std::uint32_t{b[13]} << 16) | (std::uint32_t{b[14]} << 8) | b[15];
  if (first80_zero && b[10] == 0xff && b[11] == 0xff) return classify_ipv4(low32);  // ::ffff:a.b.c.d
  if (first80_zero && b[10] == 0 && b[11] == 0) {
    if (low32 == 0) return AddressKind::unspecified;  // ::
    if (low32 == 1) return AddressKind::loopback;     // ::1
    return classify_ipv4(low32);                      // ::a.b.c.d (deprecated IPv4-compatible)
  }
  if (b[0] == 0xff) return AddressKind::multicast;
  if ((b[0] & 0xfe) == 0xfc) return AddressKind::private_network;                        // fc00::/7
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressKind::link_local;             // fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressKind::private_network;        // fec0::/10 site-local
  return AddressKind::public_address;
}

}  // namespace

AddressKind classify_address(const sockaddr* address) {
  if (!address) return AddressKind::unspecified;
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    return classify_ipv4(ntohl(v4->sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    unsigned char bytes[16];
    std::memcpy(bytes, &v6->sin6_addr, sizeof bytes);
    return classify_ipv6(bytes);
  }
  return AddressKind::unspecified;
}

std::string_view address_kind_name(AddressKind kind) {
  switch (kind) {
    case AddressKind::public_address: return "a public address";
    case AddressKind::loopback: return "a loopback address";
    case AddressKind::private_network: return "a private-network address";
    case AddressKind::link_local: return "a link-local address";
    case AddressKind::shared_cgnat: return "a shared (CGNAT) address";
    case AddressKind::unspecified: return "an unspecified address";
    case AddressKind::multicast: return "a multicast or reserved address";
  }
  return "an unknown kind of address";
}

std::string address_text(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address && address->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text, sizeof text);
  } else if (address && address->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text, sizeof text);
  }
  return text;
}

ConnectGuard::ConnectGuard(std::string registry, bool enabled, Classifier classify)
    : registry_(std::move(registry)), enabled_(enabled), classify_(std::move(classify)) {}

std::string ConnectGuard::admit(const sockaddr* address) {
  if (!enabled_) return "";
  const AddressKind kind = classify_(address);
  State state = state_.load();
  if (state == State::undecided) {
    // The first socket of the session goes to the registry (Session::connect): it decides, once.
    const State decided = kind == AddressKind::public_address ? State::restricted : State::open;
    state = state_.compare_exchange_strong(state, decided) ? decided : state;
  }
  if (state == State::open || kind == AddressKind::public_address) return "";
  return "refused to connect to " + address_text(address) + " (" + std::string(address_kind_name(kind)) +
         "): registry " + registry_ + " is on a public address, and neither its redirects nor its token "
         "services may lead into a private network";
}

struct Transfer::Handles {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
  curl_slist* headers = nullptr;
  bool added = false;
  char error[CURL_ERROR_SIZE] = {};
  std::string post_body;  // must outlive the transfer (CURLOPT_POSTFIELDS does not copy)
  std::shared_ptr<const std::string> ca_pem;  // likewise for CURLOPT_CAINFO_BLOB without a copy
  std::shared_ptr<RegistryPool> pool;          // set: `multi` is lent by the pool and goes back to it

  ~Handles() {
    // A finished transfer leaves its connection idle in the multi handle's cache; an unfinished one is
    // closed by libcurl here.
    if (added) curl_multi_remove_handle(multi, easy);
    if (easy) curl_easy_cleanup(easy);
    if (multi && pool) {
      pool->give_back(multi);
    } else if (multi) {
      curl_multi_cleanup(multi);
    }
    if (headers) curl_slist_free_all(headers);
  }
};

Transfer::Transfer() : handles_(std::make_unique<Handles>()) {}

struct Transfer::SocketCallback {
  // Why at socket time rather than on the URL's host name: the name may resolve to another address
  // for the connection than for any check made before it (DNS rebinding); this sees the real peer.
  static curl_socket_t open(void* self, curlsocktype purpose, curl_sockaddr* address) {
    auto* t = static_cast<Transfer*>(self);
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
    if (t->guard_) {
      if (std::string why = t->guard_->admit(&address->addr); !why.empty()) {
        t->refusal_ = std::move(why);
        return CURL_SOCKET_BAD;
      }
    }
    if (t->pool_) t->pool_->count_connection();
    return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  }
};

Transfer::~Transfer() {
  handles_.reset();  // first: the multi handle goes back to the pool before the slot frees
  release_slot();
}

void Transfer::release_slot() {
  if (!slot_held_) return;
  slot_held_ = false;
  pool_->release(slot_owner_);
}

Result<std::unique_ptr<Transfer>> Transfer::start(const Request& request, const TransportConfig& config) {
  if (auto loaded = load_libcurl(); !loaded) return std::move(loaded).error();
  global_init();
  if (is_cancelled(config.cancel) || is_cancelled(config.stop)) {
    return make_error(Errc::cancelled, "cancelled before contacting " + url_origin(request.url));
  }
  std::unique_ptr<Transfer> t(new Transfer());
  Handles& h = *t->handles_;
  t->url_ = request.url;
  t->cancel_ = config.cancel;
  t->stop_ = config.stop;
  t->guard_ = config.guard;
  t->max_buffered_ = config.ahead ? 0 : kMaxBuffered;
  if (config.pool) {
    if (config.ahead) {
      if (!config.pool->try_acquire_ahead()) return make_error(Errc::limit, "no transfer slot free for a request ahead of need");
    } else if (auto st = config.pool->acquire(config.cancel); !st) {
      return std::move(st).error();
    }
    t->pool_ = config.pool;
    t->slot_held_ = true;
    t->slot_owner_ = config.ahead ? std::thread::id() : std::this_thread::get_id();
    h.pool = config.pool;
    h.multi = config.own_connection ? curl_multi_init() : static_cast<CURLM*>(config.pool->take_multi());
  } else {
    h.multi = curl_multi_init();
  }
  h.easy = curl_easy_init();
  if (!h.easy || !h.multi) return make_error(Errc::internal, "libcurl could not create a transfer");
  for (const std::string& header : request.headers) {
    curl_slist* next = curl_slist_append(h.headers, header.c_str());
    if (!next) return make_error(Errc::internal, "libcurl could not build request headers");
    h.headers = next;
  }
  CURL* e = h.easy;
  curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h.headers);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h.error);
  // Why 512 KiB (curl's default is 16 KiB): a layer blob then arrives in ~30x fewer receive calls and
  // write callbacks; a scan from a loopback registry cost 12-18% more than from an archive file.
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L * 1024L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, static_cast<long>(config.connect_timeout_seconds));
  // A transfer that moves less than one byte per second for the stall time fails instead of hanging.
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(config.stall_timeout_seconds));
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, config.tls_verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, config.tls_verify ? 2L : 0L);
  if (config.ca_pem) {
    h.ca_pem = config.ca_pem;
    curl_blob blob{const_cast<char*>(h.ca_pem->data()), h.ca_pem->size(), CURL_BLOB_NOCOPY};
    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
  } else if (!config.ca_file.empty()) {
    curl_easy_setopt(e, CURLOPT_CAINFO, config.ca_file.c_str());
  }
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &Transfer::SocketCallback::open);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
  curl_easy_setopt(e, CURLOPT_USERAGENT, "layerleak/" LAYERLEAK_VERSION);
  if (!config.unix_socket.empty()) curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, config.unix_socket.c_str());
  if (config.pool && config.pool->share()) curl_easy_setopt(e, CURLOPT_SHARE, static_cast<CURLSH*>(config.pool->share()));
  if (request.head_only) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  if (!request.post_body.empty()) {
    h.post_body = request.post_body;
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, h.post_body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(h.post_body.size()));
  }
  if (curl_multi_add_handle(h.multi, e) != CURLM_OK) return make_error(Errc::internal, "libcurl could not start a transfer");
  h.added = true;
  return t;
}

std::size_t Transfer::on_header(char* data, std::size_t size, std::size_t count, void* self) {
  auto* t = static_cast<Transfer*>(self);
  const std::size_t n = size * count;
  t->header_bytes_ += n;
  if (t->header_bytes_ > kMaxHeaderBytes) return 0;  // aborts the transfer
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    // A new response (after 100 Continue): start over.
    t->head_ = ResponseHead{};
    const auto space = line.find(' ');
    if (space != std::string_view::npos) t->head_.status = std::strtol(std::string(line.substr(space + 1, 3)).c_str(), nullptr, 10);
    return n;
  }
  std::string_view content = trim(line);
  if (content.empty()) {
    if (t->head_.status >= 200 || t->head_.status == 0) {
      t->head_done_ = true;
      if (t->head_.status >= 300 && t->head_.status < 400) t->head_.redirect_url = resolve_url(t->url_, t->head_.header("location"));
    }
    return n;
  }
  const auto colon = content.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name = lower(trim(content.substr(0, colon)));
  std::string value(trim(content.substr(colon + 1)));
  if (name == "www-authenticate") {
    t->head_.challenges.push_back(value);
  } else if (auto it = t->head_.headers.find(name); it != t->head_.headers.end()) {
    it->second += ", " + value;
  } else {
    t->head_.headers.emplace(std::move(name), std::move(value));
  }
  return n;
}

std::size_t Transfer::on_body(char* data, std::size_t size, std::size_t count, void* self) {
  auto* t = static_cast<Transfer*>(self);
  const std::size_t n = size * count;
  if (t->buffer_pos_ == t->buffer_.size()) {
    t->buffer_.clear();
    t->buffer_pos_ = 0;
  }
  std::size_t direct = 0;
  if (t->buffer_pos_ == t->buffer_.size() && t->direct_len_ < t->direct_.size()) {
    direct = std::min(n, t->direct_.size() - t->direct_len_);
    std::memcpy(t->direct_.data() + t->direct_len_, data, direct);
    t->direct_len_ += direct;
    if (direct == n) return n;
  }
  if (t->buffer_.size() - t->buffer_pos_ >= t->max_buffered_) {
    if (direct > 0) {
      // Part of these bytes went to the caller already: keep the rest rather than pausing (curl would
      // hand all of them over again).
      t->buffer_.append(data + direct, n - direct);
      return n;
    }
    t->paused_ = true;
    return CURL_WRITEFUNC_PAUSE;  // curl keeps these bytes and hands them over again after unpausing
  }
  t->buffer_.append(data + direct, n - direct);
  return n;
}

Error Transfer::cancelled_error() const {
  return Error{Errc::cancelled, "cancelled while talking to " + url_origin(url_)};
}

Status Transfer::pump() {
  Handles& h = *handles_;
  if (cancelled_ || is_cancelled(cancel_) || is_cancelled(stop_)) {
    done_ = true;
    cancelled_ = true;
    return cancelled_error();
  }
  if (!h.multi) {  // handed back to the pool: the transfer is over
    done_ = true;
    return Ok{};
  }
  int running = 0;
  if (curl_multi_perform(h.multi, &running) != CURLM_OK) {
    done_ = true;
    error_ = "libcurl failed";
    return make_error(Errc::internal, "libcurl failed while transferring " + url_);
  }
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(h.multi, &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    done_ = true;
    const CURLcode code = msg->data.result;
    if (code != CURLE_OK) {
      error_ = h.error[0] != '\0' ? std::string(h.error) : std::string(curl_easy_strerror(code));
      if (!refusal_.empty() && code == CURLE_COULDNT_CONNECT) error_ = refusal_;
      failed_before_answer_ = !head_done_;
      certificate_rejected_ = code == CURLE_PEER_FAILED_VERIFICATION;
    }
    // The connection is idle again (or closed): the multi handle holding it goes back to the pool and
    // other transfers of the registry may start. What is still buffered is read from memory.
    if (h.pool && h.added) {
      curl_multi_remove_handle(h.multi, h.easy);
      h.added = false;
      h.pool->give_back(h.multi);
      h.multi = nullptr;
    }
    release_slot();
    break;  // one easy handle per multi: nothing else to read
  }
  if (!done_ && h.multi && running > 0 && !paused_) {
    // Why a short wait: the cancel flag is only looked at between waits (connect, TLS handshake and a
    // silent peer all sit here), so 100 ms bounds how late a cancel is noticed.
    curl_multi_poll(h.multi, nullptr, 0, kPollMs, nullptr);
  }
  return Ok{};
}

Status Transfer::wait_head() {
  while (!head_done_ && !done_) {
    if (auto st = pump(); !st) return st;
  }
  if (!head_done_ && !refusal_.empty() && error_ == refusal_) return make_error(Errc::unsupported, refusal_);
  if (!head_done_) {
    return make_error(Errc::network, "no answer from " + url_origin(url_) + ": " + (error_.empty() ? "connection closed" : error_));
  }
  return Ok{};
}

Result<std::size_t> Transfer::read(std::span<char> out) {
  if (out.empty()) return std::size_t{0};
  while (buffer_pos_ == buffer_.size()) {
    buffer_.clear();
    buffer_pos_ = 0;
    if (cancelled_) return cancelled_error();
    if (done_ && !paused_) {
      if (!error_.empty()) {
        return make_error(Errc::network, "the connection to " + url_origin(url_) + " broke after " +
                                             std::to_string(body_read_) + " bytes: " + error_);
      }
      return std::size_t{0};
    }
    // What curl delivers while it runs here goes straight into `out` (see on_body).
    direct_ = out;
    direct_len_ = 0;
    Status st = Ok{};
    if (paused_) {
      paused_ = false;
      curl_easy_pause(handles_->easy, CURLPAUSE_CONT);  // may deliver the held bytes right here
    } else {
      st = pump();
    }
    direct_ = {};
    if (direct_len_ > 0) {  // bytes first; a failure of the same pump is seen again by the next read
      body_read_ += direct_len_;
      return direct_len_;
    }
    if (!st) return std::move(st).error();
  }
  const std::size_t n = std::min(out.size(), buffer_.size() - buffer_pos_);
  std::memcpy(out.data(), buffer_.data() + buffer_pos_, n);
  buffer_pos_ += n;
  body_read_ += n;
  return n;
}

Result<std::string> Transfer::read_all(std::size_t max) {
  std::string body;
  char chunk[16384];
  for (;;) {
    auto n = read(std::span<char>(chunk, sizeof chunk));
    if (!n) return std::move(n).error();
    if (*n == 0) return body;
    if (body.size() + *n > max) {
      return make_error(Errc::limit, "the answer from " + url_origin(url_) + " is larger than " + std::to_string(max) + " bytes");
    }
    body.append(chunk, *n);
  }
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

namespace {

std::string read_text_file(const std::filesystem::path& path, std::size_t max) {
  std::ifstream in(path, std::ios::binary);
  std::string text;
  char chunk[8192];
  while (in && text.size() <= max && (in.read(chunk, sizeof chunk) || in.gcount() > 0)) {
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
  }
  return text.size() > max ? std::string() : text;
}

// $SSL_CERT_FILE, else $CURL_CA_BUNDLE; "" when neither is set.
std::string env_ca_file() {
  for (const char* name : {"SSL_CERT_FILE", "CURL_CA_BUNDLE"}) {
    if (const char* v = std::getenv(name); v && *v) return v;
  }
  return "";
}

// The CA bundle libcurl would use: the environment's, else its compiled-in default.
std::string default_ca_file() {
  if (std::string file = env_ca_file(); !file.empty()) return file;
  global_init();
  std::string path;
  if (CURL* probe = curl_easy_init()) {
    char* info = nullptr;
    if (curl_easy_getinfo(probe, CURLINFO_CAINFO, &info) == CURLE_OK && info) path = info;
    curl_easy_cleanup(probe);
  }
  return path.empty() ? "/etc/ssl/certs/ca-certificates.crt" : path;
}

}  // namespace

TrustedCas trusted_cas(const std::string& host) {
  constexpr std::size_t kMaxPem = 16u << 20;
  std::string extra;
  for (const char* root : {"/etc/containers/certs.d/", "/etc/docker/certs.d/"}) {
    std::error_code ec;
    const std::filesystem::path dir = std::string(root) + host;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".crt") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) extra += read_text_file(file, kMaxPem) + "\n";
  }
  TrustedCas cas;
  if (extra.empty()) {
    cas.file = env_ca_file();
  } else {
    cas.pem = std::make_shared<const std::string>(read_text_file(default_ca_file(), kMaxPem) + "\n" + extra);
  }
  return cas;
}

std::string resolve_url(std::string_view base, std::string_view location) {
  if (location.empty()) return "";
  if (location.find("://") != std::string_view::npos) return std::string(location);
  const std::string origin = url_origin(base);
  if (location.starts_with("//")) return std::string(base.substr(0, base.find("://") + 1)) + std::string(location);
  if (location.starts_with("/")) return origin + std::string(location);
  // Relative to the base's directory.
  std::string_view path = base.substr(0, base.find_first_of("?#"));
  return std::string(path.substr(0, path.rfind('/') + 1)) + std::string(location);
}

std::string url_origin(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "";
  const auto path = url.find_first_of("/?#", scheme_end + 3);
  return lower(url.substr(0, path == std::string_view::npos ? url.size() : path));
}

}  // namespace layerleak::oci::registry
