// The plan's seams over the real registry client: the catalog (oci::RegistryCatalog) and the expansion of a
// digest into image manifests (oci::open_source on docker://REGISTRY/REPO@DIGEST, every platform, the
// manifests and configs verified against their digests as a scan verifies them).
#include <nlohmann/json.hpp>

#include "layerleak/audit.h"

namespace layerleak::audit {

namespace {

class RegistryCatalogAdapter final : public Catalog {
 public:
  explicit RegistryCatalogAdapter(std::unique_ptr<oci::RegistryCatalog> catalog) : catalog_(std::move(catalog)) {}
  Result<std::vector<std::string>> repositories() override { return catalog_->repositories(); }
  Result<std::vector<std::string>> tags(const std::string& repository) override { return catalog_->tags(repository); }
  Result<std::string> resolve(const std::string& repository, const std::string& tag) override {
    return catalog_->resolve(repository, tag);
  }

 private:
  std::unique_ptr<oci::RegistryCatalog> catalog_;
};

class RegistryExpander final : public Expander {
 public:
  RegistryExpander(std::string registry, oci::SourceOptions source) : registry_(std::move(registry)), source_(std::move(source)) {}

  Result<std::vector<SelectedImage>> expand(const std::string& repository, const std::string& digest) override {
    auto source = oci::open_source("docker://" + registry_ + "/" + repository + "@" + digest, source_);
    if (!source) return std::move(source).error();
    oci::SelectOptions every;
    every.all_platforms = true;
    auto images = (*source)->images(every);
    if (!images) return std::move(images).error();
    std::vector<SelectedImage> out;
    for (const oci::Image& image : *images) {
      if (!image.manifest_digest) continue;
      out.push_back({image.manifest_digest->str(), image.platform ? image.platform->str() : "",
                     image.index_digest ? image.index_digest->str() : ""});
    }
    return out;
  }

 private:
  std::string registry_;
  oci::SourceOptions source_;
};

// Expansions kept in the store: a digest names the same bytes forever, so what an index lists (or the
// platform a manifest's configuration declares) is read from the registry once, then by every later audit.
class StoredExpander final : public Expander {
 public:
  StoredExpander(Expander& inner, cache::Store& store) : inner_(inner), store_(store) {}

  Result<std::vector<SelectedImage>> expand(const std::string& repository, const std::string& digest) override {
    if (auto text = store_.get_report(digest, kProfile)) {
      if (auto images = decode(*text)) return std::move(*images);
    }
    auto images = inner_.expand(repository, digest);
    if (images) {
      nlohmann::json list = nlohmann::json::array();
      for (const SelectedImage& i : *images) list.push_back({i.manifest_digest, i.platform, i.index_digest});
      (void)store_.put_report(digest, kProfile, list.dump());  // an optimisation: a failure costs a read next time
    }
    return images;
  }

 private:
  static constexpr const char* kProfile = "audit-expansion 1";

  static std::optional<std::vector<SelectedImage>> decode(const std::string& text) {
    const nlohmann::json list = nlohmann::json::parse(text, nullptr, false);
    if (!list.is_array()) return std::nullopt;
    std::vector<SelectedImage> out;
    for (const nlohmann::json& i : list) {
      if (!i.is_array() || i.size() != 3 || !i[0].is_string() || !i[1].is_string() || !i[2].is_string()) return std::nullopt;
      SelectedImage image{i[0].get<std::string>(), i[1].get<std::string>(), i[2].get<std::string>()};
      if (!image.manifest_digest.starts_with("sha256:")) return std::nullopt;
      out.push_back(std::move(image));
    }
    return out;
  }

  Expander& inner_;
  cache::Store& store_;
};

}  // namespace

std::unique_ptr<Expander> stored_expander(Expander& inner, cache::Store& store) {
  return std::make_unique<StoredExpander>(inner, store);
}

Result<std::unique_ptr<Catalog>> open_registry_catalog(const oci::RegistryTarget& target, const oci::SourceOptions& source) {
  auto catalog = oci::RegistryCatalog::open(target, source.registry, source.cancel, source.warn);
  if (!catalog) return std::move(catalog).error();
  return std::unique_ptr<Catalog>(std::make_unique<RegistryCatalogAdapter>(std::move(catalog).value()));
}

std::unique_ptr<Expander> registry_expander(const std::string& registry, const oci::SourceOptions& source) {
  return std::make_unique<RegistryExpander>(registry, source);
}

}  // namespace layerleak::audit
