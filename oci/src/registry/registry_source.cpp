// docker:// references: the registry as an ImageSource. Manifests, indexes and configs are small and
// verified here; layer blobs stream through BlobReader into the layer reader (which verifies them).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <future>
#include <map>
#include <mutex>

#include "../image_json.h"
#include "session.h"

namespace layerleak::oci {

namespace {

constexpr std::size_t kMaxDocument = 16u << 20;
constexpr std::string_view kAcceptManifests = kAcceptManifestsHeader;

bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  if (host.front() == '[') {  // [v6]:port
    const auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : host.substr(1, close - 1)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    }
    host.remove_prefix(close + 1);
    if (host.empty()) return true;
    if (host.front() != ':') return false;
    host.remove_prefix(1);
    return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  }
  const auto colon = host.find(':');
  std::string_view name = host.substr(0, colon);
  if (name.empty()) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
  }
  if (colon == std::string_view::npos) return true;
  std::string_view port = host.substr(colon + 1);
  return !port.empty() && port.size() <= 5 &&
         std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// Repository names: lower-case path components of [a-z0-9] runs joined by ".", "_", "__" or runs of "-".
bool valid_repository(std::string_view repo) {
  if (repo.empty() || repo.size() > 255) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  std::size_t start = 0;
  for (;;) {
    std::size_t end = repo.find('/', start);
    if (end == std::string_view::npos) end = repo.size();
    std::string_view part = repo.substr(start, end - start);
    if (part.empty() || !alnum(part.front()) || !alnum(part.back())) return false;
    for (std::size_t i = 0; i < part.size();) {
      if (alnum(part[i])) {
        ++i;
        continue;
      }
      // A separator: ".", "_", "__" or one or more "-", between alphanumerics (the ends are checked above).
      std::size_t j = i;
      if (part[i] == '.') {
        j = i + 1;
      } else if (part[i] == '_') {
        j = i + 1 < part.size() && part[i + 1] == '_' ? i + 2 : i + 1;
      } else if (part[i] == '-') {
        while (j < part.size() && part[j] == '-') ++j;
      } else {
        return false;
      }
      if (j >= part.size() || !alnum(part[j])) return false;
      i = j;
    }
    if (end == repo.size()) return true;
    start = end + 1;
  }
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  if (!std::isalnum(static_cast<unsigned char>(tag.front())) && tag.front() != '_') return false;
  return std::all_of(tag.begin(), tag.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; });
}

std::string media_type_of(const registry::ResponseHead& head, std::string_view body) {
  std::string type = head.header("content-type");
  if (const auto semicolon = type.find(';'); semicolon != std::string::npos) type.resize(semicolon);
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (is_index_type(type) || is_manifest_type(type)) return type;
  // Registries that answer application/json: the document's own mediaType decides.
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (auto it = j.find("mediaType"); it != j.end() && it->is_string()) return it->get<std::string>();
    if (j.contains("manifests")) return std::string(kOciIndex);
    if (j.contains("layers")) return std::string(kOciManifest);
  }
  return type;
}

using PendingTransfer = std::future<Result<std::unique_ptr<registry::Transfer>>>;

// A layer blob, streamed. A connection that breaks mid-blob is resumed with a Range request from the
// byte it broke at (a registry that ignores Range answers 200: the bytes already read are skipped).
// `ahead`, when valid, is the blob's GET made ahead of need: its transfer is used when it was answered
// 200, else the blob is asked for again as usual (so its failure is retried and reported as any other).
// `declared`: the blob's size in the manifest (-1: none), which an answer's Content-Length must match.
class BlobReader final : public ByteReader {
 public:
  BlobReader(std::shared_ptr<registry::Session> session, std::string path, std::string what, std::int64_t declared,
             PendingTransfer ahead)
      : session_(std::move(session)), path_(std::move(path)), what_(std::move(what)), declared_(declared),
        ahead_(std::move(ahead)) {}

  Result<std::size_t> read(std::span<char> out) override {
    if (ahead_.valid()) {
      if (auto t = ahead_.get(); t && check_length((**t).head())) transfer_ = std::move(t).value();
    }
    for (;;) {
      // Opening already retries connection failures and 5xx answers (Session::get): a failure here is final.
      if (!transfer_) {
        if (auto st = open(); !st) return std::move(st).error();
      }
      auto n = transfer_->read(out);
      if (n) {
        offset_ += *n;
        return n;
      }
      if (n.error().code != Errc::network || resumes_ >= session_->max_retries()) {
        return std::move(n).error().with_context(what_);
      }
      transfer_.reset();
      if (auto slept = session_->backoff(resumes_++); !slept) return std::move(slept).error().with_context(what_);
    }
  }

 private:
  Status open() {
    std::vector<std::string> headers;
    if (offset_ > 0) headers.push_back("Range: bytes=" + std::to_string(offset_) + "-");
    auto t = session_->get(path_, headers, what_);
    if (!t) return std::move(t).error();
    const registry::ResponseHead& head = (*t)->head();
    if (offset_ > 0 && head.status == 206) {
      const std::string range = head.header("content-range");
      if (!range.starts_with("bytes " + std::to_string(offset_) + "-")) {
        return make_error(Errc::malformed, what_ + ": the registry resumed at the wrong offset (" + range + ")");
      }
    }
    if (auto st = check_length(head); !st) return st;
    if (offset_ > 0 && head.status != 206) {
      // Whole blob again: skip what was already delivered.
      std::array<char, 65536> scratch;
      for (std::uint64_t left = offset_; left > 0;) {
        auto n = (*t)->read(std::span<char>(scratch.data(), static_cast<std::size_t>(std::min<std::uint64_t>(left, scratch.size()))));
        if (!n) return std::move(n).error().with_context(what_);
        if (*n == 0) return make_error(Errc::network, what_ + ": the blob is shorter on the second try");
        left -= *n;
      }
    }
    transfer_ = std::move(t).value();
    return Ok{};
  }

  // A Content-Length other than the declared size (less the offset resumed from) is refused before the
  // body is read: the body cannot be the blob, and a registry announcing more than it sends held the scan
  // for the stall timeout on every resume (66 s per try, 5 tries). Without a length (chunked), the blob's
  // own length is checked at its end (the pipeline's reader).
  Status check_length(const registry::ResponseHead& head) const {
    const std::string length = head.header("content-length");
    std::uint64_t announced = 0;
    const auto [end, failed] = std::from_chars(length.data(), length.data() + length.size(), announced);
    if (declared_ < 0 || length.empty() || failed != std::errc() || end != length.data() + length.size()) return Ok{};
    const std::uint64_t expected = static_cast<std::uint64_t>(declared_) - (head.status == 206 ? offset_ : 0);
    if (announced == expected) return Ok{};
    return make_error(Errc::digest_mismatch, what_ + ": the registry announces " + length + " bytes" +
                                                 (head.status == 206 ? " from byte " + std::to_string(offset_) : "") +
                                                 " of a blob whose manifest declares " + std::to_string(declared_));
  }

  std::shared_ptr<registry::Session> session_;
  std::string path_;
  std::string what_;
  std::int64_t declared_;
  PendingTransfer ahead_;
  std::unique_ptr<registry::Transfer> transfer_;
  std::uint64_t offset_ = 0;
  unsigned resumes_ = 0;
};

class RegistrySource final : public ImageSource {
 public:
  RegistrySource(RegistryReference reference, std::shared_ptr<registry::Session> session)
      : reference_(std::move(reference)), session_(std::move(session)) {}
  // Layers asked for ahead and never opened: their requests stop within 100 ms (the futures wait).
  ~RegistrySource() override { stop_ahead_.store(true); }

  std::string_view transport() const override { return "docker"; }
  bool remote() const override { return true; }

  Result<std::vector<Image>> images(const SelectOptions& options) override {
    const std::string what = reference_.str();
    const std::string ref = reference_.digest ? reference_.digest->str() : reference_.tag;
    auto t = session_->get(manifest_path(ref), {std::string(kAcceptManifests)}, what + " manifest");
    if (!t) return std::move(t).error();
    auto bytes = (*t)->read_all(kMaxDocument);
    if (!bytes) return std::move(bytes).error().with_context(what + " manifest");
    Descriptor top;
    top.digest = Sha256::of(*bytes);
    top.size = static_cast<std::int64_t>(bytes->size());
    top.media_type = media_type_of((*t)->head(), *bytes);
    // Verify the manifest: against the digest asked for, else the registry's Docker-Content-Digest.
    if (reference_.digest && *reference_.digest != top.digest) {
      return make_error(Errc::digest_mismatch, what + ": the manifest hashes to " + top.digest.str());
    }
    if (const std::string header = (*t)->head().header("docker-content-digest"); header.starts_with("sha256:") && header != top.digest.str()) {
      return make_error(Errc::digest_mismatch, what + ": the manifest hashes to " + top.digest.str() +
                                                   ", the registry says " + header);
    }
    if (top.media_type.starts_with("application/vnd.docker.distribution.manifest.v1")) {
      return make_error(Errc::unsupported, what + ": Docker schema 1 manifests are not supported (push the image again "
                                                  "with a current docker, podman or skopeo)");
    }
    auto fetch = [this](const Descriptor& d, const std::string& w) -> Result<std::string> { return fetch_document(d, w); };
    auto ahead = [this, &options](const Image& image) { ahead_before_config(image, options.prefetch_layers); };
    std::vector<Image> images;
    if (is_index_type(top.media_type)) {
      auto index = parse_json(*bytes, what + " index");
      if (!index) return std::move(index).error();
      std::vector<std::pair<Descriptor, std::string>> found;
      if (auto st = collect_from_index(fetch, *index, what, options, "", 0, found); !st) return std::move(st).error();
      auto selected = select_platform(std::move(found), options, what);
      if (!selected) return std::move(selected).error();
      if (selected->empty()) return make_error(Errc::not_found, what + ": the index lists no image manifest");
      for (auto& [descriptor, name] : *selected) {
        auto image = read_image(fetch, descriptor, what, images.empty() ? BeforeConfig(ahead) : BeforeConfig());
        if (!image) return std::move(image).error();
        if (images.empty()) ahead_after_config(*image);
        RegistryReference child = reference_;
        child.digest = descriptor.digest;
        finish(*image, child.str());
        image->index_annotations = descriptor.annotations;
        image->index_digest = top.digest;
        images.push_back(std::move(image).value());
      }
      return images;
    }
    if (!is_manifest_type(top.media_type)) {
      return make_error(Errc::malformed, what + ": the registry answered a " +
                                             (top.media_type.empty() ? std::string("document without media type") : top.media_type) +
                                             ", not an image manifest or index");
    }
    auto image = image_from_manifest(fetch, *bytes, top, what, ahead);
    if (!image) return std::move(image).error();
    ahead_after_config(*image);
    finish(*image, reference_.str());
    images.push_back(std::move(image).value());
    return images;
  }

  Result<std::unique_ptr<ByteReader>> open_blob(const Image&, const Layer& layer) override {
    if (layer.blob.digest.empty()) return make_error(Errc::malformed, reference_.str() + ": a layer has no digest");
    PendingTransfer ahead;
    {
      std::lock_guard lock(ahead_mutex_);
      if (auto it = ahead_.find(layer.blob.digest.str()); it != ahead_.end()) {
        ahead = std::move(it->second);
        ahead_.erase(it);
      }
    }
    return std::unique_ptr<ByteReader>(std::make_unique<BlobReader>(session_, blob_path_of(layer.blob.digest),
                                                                    reference_.str() + " layer " + layer.blob.digest.str(),
                                                                    layer.blob.size, std::move(ahead)));
  }

 private:
  std::string manifest_path(const std::string& ref) const { return "/v2/" + reference_.repository + "/manifests/" + ref; }
  std::string blob_path_of(const Digest& d) const { return "/v2/" + reference_.repository + "/blobs/" + d.str(); }

  void finish(Image& image, std::string reference) const {
    image.reference = std::move(reference);
    image.transport = "docker";
    if (!reference_.tag.empty()) image.tags.push_back(reference_.tag);
  }

  Result<std::string> fetch_document(const Descriptor& d, const std::string& what) {
    const bool manifest = is_index_type(d.media_type) || is_manifest_type(d.media_type);
    std::vector<std::string> headers;
    if (manifest) headers.emplace_back(kAcceptManifests);
    auto t = session_->get(manifest ? manifest_path(d.digest.str()) : blob_path_of(d.digest), headers, what + " " + d.digest.str());
    if (!t) return std::move(t).error();
    auto bytes = (*t)->read_all(kMaxDocument);
    if (!bytes) return std::move(bytes).error().with_context(what + " " + d.digest.str());
    if (auto st = verify_document(*bytes, d, what); !st) return std::move(st).error();
    return bytes;
  }

  // Layers asked for ahead (SelectOptions::prefetch_layers), the first image's only, each on a thread
  // of its own, so that a blob's first bytes are on the way when the scan opens it. The scan opens the
  // layers largest first (layers_largest_first), so the first one is the longest: it is asked for on a
  // connection of its own while the config is fetched (before_config), with the third and later ones;
  // the second on the connection the config was read on, as soon as it is read (after_config). So the
  // registry's time to start a blob (14-26 ms for Debian's docker-registry here, with two other requests
  // in flight) and the config's round trip overlap for the layer the scan waits for, with no more
  // connections than layers read at once. When only one layer is asked for, it waits for the config: a
  // connection of its own would cost a TCP and a TLS handshake, more than the round trip it saves, and a
  // connection more than the scan needs. At most all but one of the registry's transfer slots are used.
  void ahead_before_config(const Image& image, unsigned count) {
    std::lock_guard lock(ahead_mutex_);
    if (ahead_count_ != 0 || count == 0) return;  // the first image only
    ahead_count_ = static_cast<unsigned>(std::min<std::size_t>({count, image.layers.size(), session_->pool()->concurrency() - 1}));
    const std::vector<std::size_t> order = layers_largest_first(image);
    const std::size_t after_config = ahead_count_ >= 2 ? 1 : 0;  // in `order`
    if (ahead_count_ > 0) after_config_layer_ = order[after_config];
    for (std::size_t i = 0; i < ahead_count_; ++i) {
      if (i != after_config) ask_ahead_locked(image.layers[order[i]], true);
    }
  }
  void ahead_after_config(const Image& image) {
    std::lock_guard lock(ahead_mutex_);
    if (ahead_count_ == 0 || asked_after_config_ || image.layers.size() <= after_config_layer_) return;
    asked_after_config_ = true;
    ask_ahead_locked(image.layers[after_config_layer_], false);
  }
  void ask_ahead_locked(const Layer& layer, bool own_connection) {
    const Digest& digest = layer.blob.digest;
    if (digest.empty() || ahead_.count(digest.str())) return;
    auto get = [session = session_, path = blob_path_of(digest), what = reference_.str() + " layer " + digest.str(),
                stop = &stop_ahead_, own_connection] { return session->get_once(path, what, stop, own_connection); };
    try {
      ahead_.emplace(digest.str(), std::async(std::launch::async, std::move(get)));
    } catch (const std::system_error&) {
      // No thread to be had: the layer is asked for when opened.
    }
  }

  RegistryReference reference_;
  std::shared_ptr<registry::Session> session_;
  // Declared after the session: destroyed first, each future waits for its request to stop.
  std::atomic<bool> stop_ahead_{false};
  std::mutex ahead_mutex_;
  unsigned ahead_count_ = 0;         // layers to ask for ahead; 0 until the first image's manifest is read
  std::size_t after_config_layer_ = 0;  // the layer asked for once the config is read (see ahead_before_config)
  bool asked_after_config_ = false;
  std::map<std::string, PendingTransfer> ahead_;  // by blob digest, until open_blob takes it
};

}  // namespace

bool valid_registry_host(std::string_view host) { return valid_host(host); }
bool valid_repository_name(std::string_view repository) { return valid_repository(repository); }
bool valid_tag_name(std::string_view tag) { return valid_tag(tag); }

std::string RegistryReference::str() const {
  return "docker://" + registry + "/" + repository + (digest ? "@" + digest->str() : ":" + tag);
}

bool is_loopback_host(std::string_view host_port) {
  std::string host;
  if (host_port.starts_with("[")) {
    const auto close = host_port.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(host_port.substr(1, close - 1));
  } else if (std::count(host_port.begin(), host_port.end(), ':') > 1) {
    host = std::string(host_port);  // a bare IPv6 address, no port
  } else {
    host = std::string(host_port.substr(0, host_port.find(':')));
  }
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (host == "localhost") return true;
  // Why inet_pton and not a prefix test: "127.evil.example" is a name anyone can point anywhere.
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

namespace {

// Lower-cased, Docker Hub's other names folded into "docker.io".
std::string canonical_registry(std::string_view registry) {
  std::string r(registry);
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (r == "index.docker.io" || r == "registry-1.docker.io") r = "docker.io";
  return r;
}

}  // namespace

bool registry_allowed(const RegistryOptions& options, std::string_view registry) {
  if (options.allowed_registries.empty()) return true;
  const std::string wanted = canonical_registry(registry);
  return std::any_of(options.allowed_registries.begin(), options.allowed_registries.end(),
                     [&](const std::string& allowed) { return canonical_registry(allowed) == wanted; });
}

Result<RegistryReference> parse_registry_reference(std::string_view text) {
  const std::string original(text);
  auto bad = [&](const std::string& why) {
    return make_error(Errc::invalid_argument, "docker://" + original + ": " + why +
                                                  " (expected docker://HOST[:PORT]/REPO[:TAG|@DIGEST])");
  };
  RegistryReference r;
  if (const auto at = text.find('@'); at != std::string_view::npos) {
    auto digest = Digest::parse(text.substr(at + 1));
    if (!digest) return bad("the digest is not sha256:<64 hex>");
    r.digest = std::move(digest).value();
    text = text.substr(0, at);
  }
  const auto last_slash = text.rfind('/');
  if (const auto colon = text.rfind(':'); colon != std::string_view::npos && (last_slash == std::string_view::npos || colon > last_slash)) {
    r.tag = std::string(text.substr(colon + 1));
    if (!valid_tag(r.tag)) return bad("\"" + r.tag + "\" is not a valid tag");
    text = text.substr(0, colon);
  }
  const auto slash = text.find('/');
  std::string_view first = slash == std::string_view::npos ? std::string_view{} : text.substr(0, slash);
  const bool has_registry = !first.empty() && (first.find('.') != std::string_view::npos ||
                                               first.find(':') != std::string_view::npos || first == "localhost" ||
                                               first.front() == '[');
  if (has_registry) {
    if (!valid_host(first)) return bad("\"" + std::string(first) + "\" is not a valid registry host");
    r.registry = std::string(first);
    r.repository = std::string(text.substr(slash + 1));
  } else {
    r.registry = "docker.io";
    r.repository = std::string(text);
  }
  if (r.registry == "index.docker.io" || r.registry == "registry-1.docker.io") r.registry = "docker.io";
  if (r.registry == "docker.io") {
    r.host = "registry-1.docker.io";
    if (r.repository.find('/') == std::string::npos) r.repository = "library/" + r.repository;
  } else {
    r.host = r.registry;
  }
  if (!valid_repository(r.repository)) return bad("\"" + r.repository + "\" is not a valid repository name");
  if (r.tag.empty() && !r.digest) r.tag = "latest";
  return r;
}

Result<std::unique_ptr<ImageSource>> open_registry(std::string_view reference, const RegistryOptions& options,
                                                   const std::atomic<bool>* cancel) {
  std::string_view rest = reference.substr(std::string_view("docker:").size());
  if (!rest.starts_with("//")) {
    return make_error(Errc::invalid_argument, std::string(reference) + ": registry references are docker://HOST/REPO[:TAG]");
  }
  rest.remove_prefix(2);
  auto parsed = parse_registry_reference(rest);
  if (!parsed) return std::move(parsed).error();
  // Before anything else: no credential lookup, no DNS lookup, no request for a registry not allowed.
  if (!registry_allowed(options, parsed->registry)) {
    return make_error(Errc::unsupported, "registry " + parsed->registry + " is not in --allow-registry")
        .with_context(parsed->str());
  }
  if (registry::is_cancelled(cancel)) return make_error(Errc::cancelled, "cancelled").with_context(parsed->str());
  if (auto loaded = load_libcurl(); !loaded) return std::move(loaded).error().with_context(parsed->str());
  auto credentials = registry::find_credentials(options, parsed->registry, parsed->repository, cancel);
  if (!credentials) return std::move(credentials).error().with_context(parsed->str());
  auto session = std::make_shared<registry::Session>(*parsed, options, std::move(credentials).value(), cancel);
  if (auto st = session->connect(); !st) return std::move(st).error().with_context(parsed->str());
  return std::unique_ptr<ImageSource>(std::make_unique<RegistrySource>(std::move(parsed).value(), std::move(session)));
}

}  // namespace layerleak::oci
