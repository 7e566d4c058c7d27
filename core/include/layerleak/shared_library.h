// SharedLibrary: a shared library opened at run time (dlopen) instead of linked.
//
// Why: a library linked into the binary is loaded, with everything it needs and their constructors, by
// every run of layerleak, whether the command uses it or not. libcurl, libpq and libmicrohttpd (with
// gnutls, krb5, ldap, ssh2... behind them: 28 libraries) cost each run about 11 ms of CPU; they are needed
// only for registry access and --verify, a PostgreSQL store, and `serve`. Each is opened with this class
// the first time a command needs it (oci/src/registry/libcurl.cpp, scanner/cache/src/libpq.cpp,
// scanner/serve/src/libmicrohttpd.cpp).
//
// Not responsible for: deciding when to load a library, or which functions (the callers do).
#pragma once

#include <string>

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

}  // namespace layerleak
