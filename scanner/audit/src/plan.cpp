// The audit plan: repositories -> tags -> digests -> selected image manifests, each distinct manifest once
// with every tag naming it. Failures become error entries of the plan, never an early return: an audit of a
// thousand repositories must not lose 999 because one refused to list.
#include <algorithm>
#include <map>
#include <set>

#include "layerleak/audit.h"

namespace layerleak::audit {

namespace {

report::ErrorEntry error_entry(const Error& e, const std::string& what) {
  return report::ErrorEntry{std::string(errc_name(e.code)), what + ": " + e.message, std::nullopt};
}

bool cancelled(const PlanOptions& options) { return options.cancel && options.cancel->load(std::memory_order_relaxed); }

// A name as the distribution grammar allows it: lowercase alphanumerics separated by '.', '_', '__', '-'
// runs, components joined by '/'. Only used for --repositories-from (the catalog checks its own names).
bool valid_repository(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string_view part = name.substr(start, end - start);
    if (part.empty()) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(part.front()) || !alnum(part.back())) return false;
    for (std::size_t i = 0; i < part.size(); ++i) {
      const char c = part[i];
      if (alnum(c) || c == '-') continue;
      if (c == '.' || c == '_') {
        if (!alnum(part[i - 1]) && !(c == '_' && part[i - 1] == '_' && i >= 2 && alnum(part[i - 2]))) return false;
        continue;
      }
      return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace

std::string PlannedImage::reference(const std::string& registry) const {
  return "docker://" + registry + "/" + repository + "@" + manifest_digest;
}

Plan make_plan(Catalog& catalog, Expander& expander, const PlanOptions& options) {
  Plan plan;
  plan.registry = options.registry;
  std::vector<std::string> repositories;
  if (options.repositories) {
    repositories = *options.repositories;
  } else {
    auto listed = catalog.repositories();
    if (!listed) {
      plan.errors.push_back(error_entry(listed.error(), "listing the repositories of " + options.registry));
      return plan;
    }
    repositories = std::move(listed).value();
  }
  std::sort(repositories.begin(), repositories.end());
  repositories.erase(std::unique(repositories.begin(), repositories.end()), repositories.end());
  plan.repositories = repositories.size();

  std::map<std::string, PlannedImage> by_digest;
  // Why by digest alone: a digest names the same bytes in every repository, so its expansion is one.
  std::map<std::string, Result<std::vector<SelectedImage>>> expanded;
  PlanProgress progress{repositories.size(), 0, 0};
  for (const std::string& repository : repositories) {
    if (cancelled(options)) {
      plan.errors.push_back({"cancelled", "interrupted while listing " + repository, std::nullopt});
      break;
    }
    auto tags = catalog.tags(repository);
    if (!tags) {
      plan.errors.push_back(error_entry(tags.error(), "listing the tags of " + repository));
    } else {
      for (const std::string& tag : *tags) {
        const std::string name = repository + ":" + tag;
        auto digest = catalog.resolve(repository, tag);
        if (!digest) {
          plan.errors.push_back(error_entry(digest.error(), "resolving " + name));
          continue;
        }
        auto it = expanded.find(*digest);
        if (it == expanded.end()) it = expanded.emplace(*digest, expander.expand(repository, *digest)).first;
        if (!it->second) {
          plan.errors.push_back(error_entry(it->second.error(), "reading " + name + " (" + *digest + ")"));
          continue;
        }
        // The selection `scan` makes: a tag naming a manifest is that image whatever its platform; of an
        // index, every platform, or the wanted one plus entries that name none.
        std::vector<const SelectedImage*> kept;
        std::vector<std::string> available;
        for (const SelectedImage& image : *it->second) {
          if (options.select.all_platforms || image.platform.empty() || image.index_digest.empty()) {
            kept.push_back(&image);
            continue;
          }
          available.push_back(image.platform);
          auto platform = oci::Platform::parse(image.platform);
          if (platform && platform->matches(options.select.platform)) kept.push_back(&image);
        }
        if (kept.empty()) {
          std::string list;
          for (const std::string& a : available) list += (list.empty() ? "" : ", ") + a;
          plan.skipped.push_back({name, "no image for platform " + options.select.platform.str() +
                                            (list.empty() ? std::string() : " (available: " + list + ")")});
          continue;
        }
        for (const SelectedImage* image : kept) {
          PlannedImage& planned = by_digest[image->manifest_digest];
          if (planned.manifest_digest.empty()) {
            planned.manifest_digest = image->manifest_digest;
            planned.repository = repository;  // repositories are visited in order: the first holds it
            planned.platform = image->platform;
            planned.index_digest = image->index_digest;
          }
          planned.tags.push_back(name);
        }
      }
    }
    ++progress.repositories_done;
    progress.images = by_digest.size();
    if (options.on_progress) options.on_progress(progress);
  }
  for (auto& [digest, image] : by_digest) {
    std::sort(image.tags.begin(), image.tags.end());
    image.tags.erase(std::unique(image.tags.begin(), image.tags.end()), image.tags.end());
    plan.images.push_back(std::move(image));
  }
  std::sort(plan.images.begin(), plan.images.end(), [](const PlannedImage& a, const PlannedImage& b) {
    return a.repository != b.repository ? a.repository < b.repository : a.manifest_digest < b.manifest_digest;
  });
  return plan;
}

Result<std::vector<std::string>> read_repository_list(const std::string& path) {
  constexpr std::size_t kMaxBytes = 16u << 20;
  auto reader = FileReader::open(path);
  if (!reader) return make_error(reader.error().code, "--repositories-from: cannot read " + path + ": " + reader.error().message);
  auto text = read_all(**reader, kMaxBytes);
  if (!text) return make_error(text.error().code, "--repositories-from: " + path + ": " + text.error().message);
  std::vector<std::string> out;
  std::size_t number = 0;
  for (std::size_t at = 0; at < text->size();) {
    const std::size_t end = std::min(text->find('\n', at), text->size());
    const std::string line = text->substr(at, end - at);
    at = end + 1;
    ++number;
    const std::string where = "--repositories-from: " + path + ": line " + std::to_string(number);
    if (line.find('\0') != std::string::npos) return make_error(Errc::invalid_argument, where + ": contains a NUL byte");
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::string name = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
    if (!valid_repository(name)) {
      return make_error(Errc::invalid_argument, where + ": \"" + report::escape_invalid_utf8(name.substr(0, 200)) +
                                                    "\" is not a repository name (lowercase path components, no tag)");
    }
    out.push_back(name);
  }
  return out;
}

}  // namespace layerleak::audit
