// Internal to the cache library: the PostgreSQL Store (postgres_store.cpp), opened by open_store().
#pragma once

#include <memory>
#include <string>

#include "layerleak/store.h"

namespace layerleak::cache {

// `spec`: a libpq connection URI ("postgresql://…", "postgres://…") or "postgresql:" (PG* environment).
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& spec);

}  // namespace layerleak::cache
