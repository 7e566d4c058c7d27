// Internal to the cache library: the PostgreSQL Store (postgres_store.cpp), opened by open_store().
#pragma once

#include <memory>
#include <string>

#include "layerleak/store.h"

namespace layerleak::cache {

// `spec`: a libpq connection URI ("postgresql://…", "postgres://…") or "postgresql:" (PG* environment).
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& spec);

// libpq is not linked but loaded (dlopen) the first time a PostgreSQL store is opened (libpq.cpp). Ok once
// libpq.so.5 is loaded with every function layerleak calls; else Errc::internal naming the library and the
// loader's reason (the first answer is kept).
Status load_libpq();
// For tests: opens `soname` as libpq and resolves every function layerleak calls, then closes it.
Status try_libpq(const std::string& soname);

}  // namespace layerleak::cache
