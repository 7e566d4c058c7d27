// The audit plan: repositories -> tags -> digests -> selected image manifests, each distinct manifest once
// with every tag naming it. Failures become error entries of the plan, never an early return: an audit of a
// thousand repositories must not lose 999 because one refused to list.
#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

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

namespace {

// Runs fn(i) for i in [0, n) on up to `width` threads (the calling one included); fn must be thread-safe.
void for_each_index(std::size_t n, unsigned width, const std::function<void(std::size_t)>& fn) {
  const std::size_t threads = std::min<std::size_t>(std::max(1u, width), n);
  std::atomic<std::size_t> next{0};
  auto loop = [&] {
    for (std::size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(loop);
  loop();
  for (std::thread& t : pool) t.join();
}

}  // namespace

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

  // Why three rounds of concurrent requests (tags of every repository, then every tag's digest, then every
  // distinct digest's manifests) assembled afterwards in order: a registry of 100,000 tags is a few hundred
  // thousand small requests, and the plan (errors, skips, each image's first repository) must not depend on
  // which answer came first. The registry client bounds what is in flight (--registry-concurrency).
  const unsigned width = std::max(1u, options.concurrency);
  std::mutex progress_mutex;
  PlanProgress progress{repositories.size(), 0, 0};
  std::vector<std::optional<Result<std::vector<std::string>>>> tags(repositories.size());  // nullopt: cancelled
  for_each_index(repositories.size(), width, [&](std::size_t r) {
    if (cancelled(options)) return;
    tags[r].emplace(catalog.tags(repositories[r]));
    std::lock_guard lock(progress_mutex);
    ++progress.repositories_done;
    if (options.on_progress) options.on_progress(progress);
  });

  struct TagRef {
    std::size_t repository;
    const std::string* tag;
  };
  std::vector<TagRef> refs;
  for (std::size_t r = 0; r < repositories.size(); ++r) {
    if (!tags[r] || !*tags[r]) continue;
    for (const std::string& tag : **tags[r]) refs.push_back({r, &tag});
  }
  std::vector<std::optional<Result<std::string>>> digests(refs.size());  // nullopt: cancelled
  for_each_index(refs.size(), width, [&](std::size_t i) {
    if (cancelled(options)) return;
    digests[i].emplace(catalog.resolve(repositories[refs[i].repository], *refs[i].tag));
  });

  // Why by digest alone: a digest names the same bytes in every repository, so its expansion is one. It is
  // read from the first repository (in order) with a tag naming it, as a sequential walk would.
  std::map<std::string, std::size_t> first_ref;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (digests[i] && *digests[i]) first_ref.emplace(**digests[i], i);
  }
  std::vector<std::pair<const std::string*, std::size_t>> to_expand;
  for (const auto& [digest, i] : first_ref) to_expand.emplace_back(&digest, i);
  std::vector<std::optional<Result<std::vector<SelectedImage>>>> expansions(to_expand.size());  // nullopt: cancelled
  for_each_index(to_expand.size(), width, [&](std::size_t e) {
    if (cancelled(options)) return;
    expansions[e].emplace(expander.expand(repositories[refs[to_expand[e].second].repository], *to_expand[e].first));
  });
  std::map<std::string, const std::optional<Result<std::vector<SelectedImage>>>*> expanded;
  for (std::size_t e = 0; e < to_expand.size(); ++e) expanded.emplace(*to_expand[e].first, &expansions[e]);

  std::map<std::string, PlannedImage> by_digest;
  std::size_t at = 0;  // index into refs/digests, in repository order
  for (std::size_t r = 0; r < repositories.size(); ++r) {
    const std::string& repository = repositories[r];
    if (!tags[r]) {
      plan.errors.push_back({"cancelled", "interrupted while listing " + repository, std::nullopt});
      break;
    }
    if (!*tags[r]) {
      plan.errors.push_back(error_entry(tags[r]->error(), "listing the tags of " + repository));
      continue;
    }
    bool interrupted = false;
    for (; at < refs.size() && refs[at].repository == r; ++at) {
      const std::string name = repository + ":" + *refs[at].tag;
      const auto& digest = digests[at];
      if (!digest) {
        interrupted = true;
        continue;
      }
      if (!*digest) {
        plan.errors.push_back(error_entry(digest->error(), "resolving " + name));
        continue;
      }
      const auto& expansion = *expanded.at(**digest);
      if (!expansion) {
        interrupted = true;
        continue;
      }
      if (!*expansion) {
        plan.errors.push_back(error_entry(expansion->error(), "reading " + name + " (" + **digest + ")"));
        continue;
      }
      // The selection `scan` makes: a tag naming a manifest is that image whatever its platform; of an
      // index, every platform, or the wanted one plus entries that name none.
      std::vector<const SelectedImage*> kept;
      std::vector<std::string> available;
      for (const SelectedImage& image : **expansion) {
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
    if (interrupted) {
      plan.errors.push_back({"cancelled", "interrupted while resolving the tags of " + repository, std::nullopt});
      break;
    }
  }
  progress.images = by_digest.size();
  if (options.on_progress) options.on_progress(progress);
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
  constexpr std::string_view kOption = "--repositories-from";
  auto lines = read_list_file(path, kOption);
  if (!lines) return std::move(lines).error();
  std::vector<std::string> out;
  for (ListedLine& line : *lines) {
    if (!valid_repository(line.text)) {
      return make_error(Errc::invalid_argument, list_line_where(kOption, path, line.number) + ": \"" +
                                                    report::escape_invalid_utf8(line.text.substr(0, 200)) +
                                                    "\" is not a repository name (lowercase path components, no tag)");
    }
    out.push_back(std::move(line.text));
  }
  return out;
}

}  // namespace layerleak::audit
