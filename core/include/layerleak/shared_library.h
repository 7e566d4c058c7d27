// SharedLibrary: a shared library opened at run time (dlopen) instead of linked.
//
// Why: a library linked into the binary is loaded, with everything it needs and their constructors, by
// every run of layerleak, before main() and on the one thread everything else waits for. libcurl, libpq
// and libmicrohttpd (with gnutls, krb5, ldap, ssh2... behind them: 28 libraries) cost each run about 11 ms
// of CPU; they are needed only for registry access and --verify, a PostgreSQL store, and `serve`. Each is
// opened with this class the first time a command needs it (oci/src/registry/libcurl.cpp,
// scanner/cache/src/libpq.cpp, scanner/serve/src/libmicrohttpd.cpp). libarchive (with libxml2, ICU and
// eight more: ~6 ms) is needed by every scan, but only once a tar is read: the scan command opens it on a
// thread of its own at start-up (scanner/archive/src/libarchive.cpp).
//
// Not responsible for: deciding when to load a library, or which functions (the callers do).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "layerleak/core.h"

namespace layerleak {

class SharedLibrary {
 public:
  // dlopen(soname, RTLD_NOW | RTLD_LOCAL): every reference of the library is bound now (a missing
  // dependency fails here, not at some later call), and none of its symbols serves other libraries.
  // Errc::internal naming `soname`, with dlerror()'s text, when it cannot be loaded.
  static Result<SharedLibrary> open(const std::string& soname);

  ~SharedLibrary();  // dlclose
  SharedLibrary(SharedLibrary&& other) noexcept;
  SharedLibrary& operator=(SharedLibrary&& other) noexcept;
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  // The address of the symbol `name`; Errc::internal naming the library and the symbol when there is none.
  Result<void*> symbol(const char* name) const;

  // symbol(name) as a pointer to a function of type Fn. The caller vouches for the type: take it from the
  // library's own header (decltype(&::function)) so that the compiler checks every call through it.
  template <class Fn>
  Status bind(const char* name, Fn*& function) const {
    auto address = symbol(name);
    if (!address) return std::move(address).error();
    function = reinterpret_cast<Fn*>(*address);  // POSIX: dlsym's answer for a function is its address
    return Ok{};
  }

  const std::string& soname() const { return soname_; }

 private:
  SharedLibrary(void* handle, std::string soname) : handle_(handle), soname_(std::move(soname)) {}

  void* handle_ = nullptr;
  std::string soname_;
};

// Declares `struct Table` (a SharedLibrary, then one pointer per function that LIST names, typed from the
// library's own header so that the compiler checks every call) and `Status bind_all(Table&)`, which
// resolves them all or fails at the first one missing. LIST(F) applies F to each function's name.
#define LAYERLEAK_FUNCTION_TABLE(Table, LIST)                       \
  struct Table {                                                    \
    ::layerleak::SharedLibrary library;                             \
    LIST(LAYERLEAK_FUNCTION_POINTER)                                \
  };                                                                \
  [[maybe_unused]] ::layerleak::Status bind_all(Table& table) {     \
    ::layerleak::Status bound = ::layerleak::Ok{};                  \
    LIST(LAYERLEAK_FUNCTION_BIND)                                   \
    return bound;                                                   \
  }
#define LAYERLEAK_FUNCTION_POINTER(name) decltype(&::name) name = nullptr;
#define LAYERLEAK_FUNCTION_BIND(name) \
  if (bound) bound = table.library.bind(#name, table.name);

// Stops the process with a message: `soname`'s functions were called although it could not be loaded.
[[noreturn]] void abort_unloaded(const char* soname, const Error& why);

// The functions of one library, opened the first time they are needed and kept for the rest of the
// process. Why never closed: threads may still be inside the library (libcurl transfers, libmicrohttpd's
// event thread) while static destructors run at exit. `Table` is a struct whose first member is
// `SharedLibrary library`, then pointers to the functions; `bind_all` resolves every one of them or fails,
// and then the whole load fails.
template <class Table>
class LazyLibrary {
 public:
  using BindAll = Status (*)(Table&);
  constexpr LazyLibrary(const char* soname, BindAll bind_all) : soname_(soname), bind_all_(bind_all) {}

  // Opens `soname` (tests pass another) and resolves the table; nothing is kept.
  Result<std::unique_ptr<Table>> open(const std::string& soname) const {
    auto library = SharedLibrary::open(soname);
    if (!library) return std::move(library).error();
    auto table = std::make_unique<Table>(Table{std::move(library).value()});
    if (auto bound = bind_all_(*table); !bound) return std::move(bound).error();
    return table;
  }

  // The process's table: loaded by the first call (thread-safe), the same answer after that. Entry
  // points call this first and turn a failure into their Error.
  const Result<std::unique_ptr<Table>>& loaded() const {
    static const auto* state = new Result<std::unique_ptr<Table>>(open(soname_));
    return *state;
  }

  // loaded() as a Status, for a library's load_X() entry point: the error names what needs the library
  // (`needed_for`, with its Debian package).
  Status load(std::string_view needed_for) const {
    const auto& state = loaded();
    if (!state) return state.error().with_context(needed_for);
    return Ok{};
  }

  // open() as a Status, for a library's try_X() (tests: every function resolves by that soname).
  Status try_open(const std::string& soname) const {
    auto state = open(soname);
    if (!state) return std::move(state).error();
    return Ok{};
  }

  // The table, for the functions that forward to it. Without the library, a programming error (an entry
  // point did not call loaded() first): stops the process.
  const Table& table() const {
    const auto& state = loaded();
    if (!state) abort_unloaded(soname_, state.error());
    return *state.value();
  }

 private:
  const char* soname_;
  BindAll bind_all_;
};

}  // namespace layerleak
