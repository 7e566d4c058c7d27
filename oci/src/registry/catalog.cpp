// RegistryCatalog: a registry's repositories and tags, followed page by page, and tags resolved to
// digests. What a registry answers here is untrusted: page bodies are bounded, names are checked against
// the distribution grammar before they go into a URL, and pagination links must stay on the registry's
// own origin and endpoint and never repeat.
#include <cctype>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "session.h"

namespace layerleak::oci {

namespace {

constexpr std::size_t kMaxPage = 16u << 20;       // bytes of one page of _catalog or tags/list
constexpr std::size_t kMaxPages = 100000;         // pages of one listing
constexpr std::size_t kMaxNames = 1000000;        // names of one listing
constexpr std::size_t kMaxManifest = 16u << 20;   // a manifest hashed for resolve()
constexpr std::size_t kMaxWarnings = 20;          // skipped names reported one by one per listing

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The percent-decoded value of `name` in a query string ("" when absent).
std::string query_value(std::string_view query, std::string_view name) {
  std::size_t i = 0;
  while (i <= query.size()) {
    std::size_t end = query.find('&', i);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(i, end - i);
    if (pair.starts_with(name) && pair.size() > name.size() && pair[name.size()] == '=') {
      std::string_view raw = pair.substr(name.size() + 1);
      std::string out;
      for (std::size_t k = 0; k < raw.size(); ++k) {
        if (raw[k] == '%' && k + 2 < raw.size() + 0 && hex_value(raw[k + 1]) >= 0 && hex_value(raw[k + 2]) >= 0) {
          out += static_cast<char>(hex_value(raw[k + 1]) * 16 + hex_value(raw[k + 2]));
          k += 2;
        } else {
          out += raw[k] == '+' ? ' ' : raw[k];
        }
      }
      return out;
    }
    i = end + 1;
  }
  return "";
}

// Characters a pagination link's path and query may hold as they are put into the next request.
bool safe_url_text(std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    if (c == '#' || c == '<' || c == '>' || c == '"' || c == '\\' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string next_link(std::string_view v) {
  std::size_t i = 0;
  const auto skip_spaces = [&] {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
  };
  while (i < v.size()) {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) ++i;
    if (i >= v.size()) break;
    if (v[i] != '<') return "";
    const std::size_t close = v.find('>', i);
    if (close == std::string_view::npos) return "";
    std::string uri(v.substr(i + 1, close - i - 1));
    i = close + 1;
    bool is_next = false;
    for (;;) {
      skip_spaces();
      if (i >= v.size()) break;
      if (v[i] == ',') {
        ++i;
        break;
      }
      if (v[i] != ';') return "";
      ++i;
      skip_spaces();
      const std::size_t name_start = i;
      while (i < v.size() && v[i] != '=' && v[i] != ';' && v[i] != ',' && v[i] != ' ' && v[i] != '\t') ++i;
      const std::string name = lower(v.substr(name_start, i - name_start));
      skip_spaces();
      std::string value;
      if (i < v.size() && v[i] == '=') {
        ++i;
        skip_spaces();
        if (i < v.size() && v[i] == '"') {
          for (++i; i < v.size() && v[i] != '"'; ++i) {
            if (v[i] == '\\' && i + 1 < v.size()) ++i;
            value += v[i];
          }
          if (i >= v.size()) return "";  // unterminated quote
          ++i;
        } else {
          while (i < v.size() && v[i] != ';' && v[i] != ',' && v[i] != ' ' && v[i] != '\t') value += v[i++];
        }
      }
      if (name == "rel") {
        std::size_t k = 0;
        const std::string rels = lower(value);
        while (k < rels.size()) {
          std::size_t end = rels.find(' ', k);
          if (end == std::string::npos) end = rels.size();
          if (rels.compare(k, end - k, "next") == 0) is_next = true;
          k = end + 1;
        }
      }
    }
    if (is_next) return uri;
  }
  return "";
}

std::string printable(std::string_view text, std::size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : text) {
    if (out.size() >= max) {
      out += "…";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

Result<RegistryTarget> parse_registry_target(std::string_view text) {
  const std::string original(text);
  auto bad = [&](const std::string& why) {
    return make_error(Errc::invalid_argument, "\"" + printable(original) + "\": " + why + " (expected docker://HOST[:PORT][/NAMESPACE])");
  };
  if (text.starts_with("docker://")) text.remove_prefix(9);
  while (text.ends_with("/")) text.remove_suffix(1);
  if (text.empty()) return bad("no registry host");
  if (text.find('@') != std::string_view::npos) return bad("a registry to list names no digest");
  const auto slash = text.find('/');
  RegistryTarget target;
  target.registry = std::string(text.substr(0, slash));
  if (!valid_registry_host(target.registry)) return bad("\"" + printable(target.registry) + "\" is not a valid registry host");
  if (const std::string l = lower(target.registry); l == "index.docker.io" || l == "registry-1.docker.io") target.registry = "docker.io";
  if (slash != std::string_view::npos) {
    target.namespace_prefix = std::string(text.substr(slash + 1));
    if (!valid_repository_name(target.namespace_prefix)) {
      return bad("\"" + printable(target.namespace_prefix) + "\" is not a valid namespace (lower-case repository path, no tag)");
    }
  }
  return target;
}

struct RegistryCatalog::Impl {
  RegistryTarget target;
  RegistryReference reference;
  std::shared_ptr<registry::Session> session;
  std::function<void(const std::string&)> warn;
  unsigned page_size = 1000;

  void warning(const std::string& text) const {
    if (warn) {
      warn(text);
    } else {
      std::cerr << "layerleak: warning: " << text << "\n";
    }
  }

  bool in_namespace(const std::string& repository) const {
    const std::string& ns = target.namespace_prefix;
    return ns.empty() || repository == ns || (repository.size() > ns.size() && repository.starts_with(ns) && repository[ns.size()] == '/');
  }

  // Every page of `endpoint` ("/v2/_catalog", "/v2/NAME/tags/list"): the strings of `key` that `accept` takes.
  Result<std::vector<std::string>> list(const std::string& endpoint, const char* key, const std::string& scope,
                                        const std::string& what, bool tags) {
    const std::string origin = registry::url_origin(session->base());
    std::string path = endpoint + "?n=" + std::to_string(std::clamp(page_size, 1u, 100000u));
    std::set<std::string> seen_paths;
    std::set<std::string> seen_lasts;
    std::vector<std::string> names;
    std::size_t skipped = 0;
    for (std::size_t page = 0;; ++page) {
      if (page >= kMaxPages) {
        return make_error(Errc::limit, what + ": registry " + target.registry + " gave more than " + std::to_string(kMaxPages) + " pages");
      }
      if (!seen_paths.insert(path).second) {
        return make_error(Errc::malformed, what + ": registry " + target.registry + " links back to a page it already gave (" +
                                               printable(path) + "): the pagination loops");
      }
      auto t = session->get(path, {"Accept: application/json"}, what, scope);
      if (!t) return std::move(t).error();
      auto body = (*t)->read_all(kMaxPage);
      if (!body) return std::move(body).error().with_context(what);
      nlohmann::json j = nlohmann::json::parse(*body, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        return make_error(Errc::malformed, what + ": registry " + target.registry + " answered a page that is not a JSON object");
      }
      if (auto it = j.find(key); it != j.end() && !it->is_null()) {
        if (!it->is_array()) return make_error(Errc::malformed, what + ": \"" + key + "\" is not a list");
        for (const auto& entry : *it) {
          const bool is_string = entry.is_string();
          const std::string name = is_string ? entry.get<std::string>() : std::string();
          const bool valid = is_string && (tags ? valid_tag_name(name) : valid_repository_name(name));
          if (!valid) {
            if (++skipped <= kMaxWarnings) {
              warning(what + ": skipped " + (tags ? "tag " : "repository ") +
                      (is_string ? "\"" + printable(name) + "\"" : std::string("(not a string)")) +
                      ", which is not a valid " + (tags ? "tag" : "repository name"));
            }
            continue;
          }
          if (!tags && !in_namespace(name)) continue;
          names.push_back(name);
          if (names.size() > kMaxNames) {
            return make_error(Errc::limit, what + ": registry " + target.registry + " lists more than " + std::to_string(kMaxNames) + " names");
          }
        }
      }
      const std::string link = (*t)->head().header("link");
      const std::string next = link.empty() ? "" : next_link(link);
      if (next.empty()) break;
      std::string absolute;
      if (next.starts_with("?")) {
        absolute = origin + endpoint + next;
      } else {
        absolute = registry::resolve_url(origin + path, next);
      }
      if (registry::url_origin(absolute) != origin) {
        return make_error(Errc::malformed, what + ": registry " + target.registry + " links the next page to another origin (" +
                                               printable(absolute) + ")");
      }
      std::string rest = absolute.substr(origin.size());
      const std::string rest_path = rest.substr(0, rest.find('?'));
      if (rest_path != endpoint || !safe_url_text(rest)) {
        return make_error(Errc::malformed, what + ": registry " + target.registry + " links the next page outside " + endpoint +
                                               " (" + printable(rest) + ")");
      }
      const std::string query = rest.size() > rest_path.size() ? rest.substr(rest_path.size() + 1) : "";
      if (const std::string last = query_value(query, "last"); !last.empty() && !seen_lasts.insert(last).second) {
        return make_error(Errc::malformed, what + ": registry " + target.registry + " asks again for the page after \"" +
                                               printable(last) + "\": the pagination loops");
      }
      path = std::move(rest);
    }
    if (skipped > kMaxWarnings) {
      warning(what + ": skipped " + std::to_string(skipped - kMaxWarnings) + " more invalid names");
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }
};

RegistryCatalog::RegistryCatalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RegistryCatalog::~RegistryCatalog() = default;

const RegistryTarget& RegistryCatalog::target() const { return impl_->target; }

Result<std::unique_ptr<RegistryCatalog>> RegistryCatalog::open(const RegistryTarget& target, const RegistryOptions& options,
                                                               const std::atomic<bool>* cancel,
                                                               std::function<void(const std::string&)> warn) {
  const std::string what = "docker://" + target.registry + (target.namespace_prefix.empty() ? "" : "/" + target.namespace_prefix);
  if (!valid_registry_host(target.registry) || (!target.namespace_prefix.empty() && !valid_repository_name(target.namespace_prefix))) {
    return make_error(Errc::invalid_argument, printable(what) + ": not a valid registry or namespace");
  }
  // Before anything else: no credential lookup, no DNS lookup, no request for a registry not allowed.
  if (!registry_allowed(options, target.registry)) {
    return make_error(Errc::unsupported, "registry " + target.registry + " is not in --allow-registry").with_context(what);
  }
  if (registry::is_cancelled(cancel)) return make_error(Errc::cancelled, "cancelled").with_context(what);
  if (auto loaded = load_libcurl(); !loaded) return std::move(loaded).error().with_context(what);
  auto impl = std::make_unique<Impl>();
  impl->target = target;
  impl->warn = std::move(warn);
  impl->page_size = options.page_size;
  RegistryReference& ref = impl->reference;
  ref.registry = target.registry;
  ref.host = target.registry == "docker.io" ? "registry-1.docker.io" : target.registry;
  ref.repository = target.namespace_prefix;
  // Credentials as for an image under the namespace (an auth file's "host/namespace" entry applies).
  auto credentials = registry::find_credentials(options, ref.registry, ref.repository, cancel);
  if (!credentials) return std::move(credentials).error().with_context(what);
  impl->session = std::make_shared<registry::Session>(ref, options, std::move(credentials).value(), cancel);
  if (auto st = impl->session->connect(); !st) return std::move(st).error().with_context(what);
  return std::unique_ptr<RegistryCatalog>(new RegistryCatalog(std::move(impl)));
}

Result<std::vector<std::string>> RegistryCatalog::repositories() {
  const std::string what = "docker://" + impl_->target.registry + " catalog";
  return impl_->list("/v2/_catalog", "repositories", "registry:catalog:*", what, false);
}

Result<std::vector<std::string>> RegistryCatalog::tags(const std::string& repository) {
  if (!valid_repository_name(repository)) {
    return make_error(Errc::invalid_argument, "\"" + printable(repository) + "\" is not a valid repository name");
  }
  const std::string what = "docker://" + impl_->target.registry + "/" + repository + " tags";
  return impl_->list("/v2/" + repository + "/tags/list", "tags", "repository:" + repository + ":pull", what, true);
}

Result<std::string> RegistryCatalog::resolve(const std::string& repository, const std::string& tag) {
  if (!valid_repository_name(repository)) {
    return make_error(Errc::invalid_argument, "\"" + printable(repository) + "\" is not a valid repository name");
  }
  std::optional<Digest> asked;
  if (tag.starts_with("sha256:")) {
    auto d = Digest::parse(tag);
    if (!d) return make_error(Errc::invalid_argument, "\"" + printable(tag) + "\" is not a valid digest");
    asked = std::move(d).value();
  } else if (!valid_tag_name(tag)) {
    return make_error(Errc::invalid_argument, "\"" + printable(tag) + "\" is not a valid tag");
  }
  const std::string what = "docker://" + impl_->target.registry + "/" + repository + (asked ? "@" : ":") + tag;
  const std::string path = "/v2/" + repository + "/manifests/" + tag;
  const std::string scope = "repository:" + repository + ":pull";
  const std::vector<std::string> accept{std::string(kAcceptManifestsHeader)};
  auto check = [&](const Digest& d) -> Result<std::string> {
    if (asked && *asked != d) {
      return make_error(Errc::digest_mismatch, what + ": the registry answers for another digest (" + d.str() + ")");
    }
    return d.str();
  };
  auto head = impl_->session->get(path, accept, what + " manifest", scope, /*head_only=*/true);
  if (head) {
    registry::drain(**head);
    if (auto d = Digest::parse((*head)->head().header("docker-content-digest")); d) return check(*d);
  } else if (head.error().code != Errc::malformed && head.error().code != Errc::network) {
    // Not found, refused, cancelled, or refused by policy: a GET would not do better.
    return std::move(head).error();
  }
  // No usable Docker-Content-Digest (or a registry that does not answer HEAD): hash the manifest itself.
  auto get = impl_->session->get(path, accept, what + " manifest", scope);
  if (!get) return std::move(get).error();
  auto body = (*get)->read_all(kMaxManifest);
  if (!body) return std::move(body).error().with_context(what + " manifest");
  const Digest digest = Sha256::of(*body);
  if (const std::string header = (*get)->head().header("docker-content-digest"); header.starts_with("sha256:") && header != digest.str()) {
    return make_error(Errc::digest_mismatch, what + ": the manifest hashes to " + digest.str() + ", the registry says " + printable(header));
  }
  return check(digest);
}

}  // namespace layerleak::oci
