#include "layerleak/store.h"

#include "layerleak/cache.h"
#include "postgres_store.h"

namespace layerleak::cache {

bool is_postgres_spec(std::string_view spec) {
  return spec.starts_with("postgresql://") || spec.starts_with("postgres://") || spec == "postgresql:" || spec == "postgres:";
}

Result<std::unique_ptr<Store>> open_store(const std::string& spec) {
  if (spec.empty()) return make_error(Errc::invalid_argument, "store: empty store (a directory or postgresql://…)");
  if (is_postgres_spec(spec)) return open_postgres_store(spec);
  // A typo such as "postgressql://" must not become a directory of that name.
  if (spec.find("://") != std::string::npos) {
    return make_error(Errc::invalid_argument, "store: " + spec.substr(0, spec.find("://") + 3) +
                                                  "… is not a store: give a directory (SQLite) or postgresql://…");
  }
  auto opened = ScanCache::open(spec);
  if (!opened) return std::move(opened).error();
  return std::unique_ptr<Store>(std::move(opened).value());
}

}  // namespace layerleak::cache
