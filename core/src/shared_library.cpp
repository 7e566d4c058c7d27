#include "layerleak/shared_library.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace layerleak {

namespace {
// dlerror() once (it clears itself); never null.
std::string last_dl_error(const char* fallback) {
  const char* text = ::dlerror();
  return text ? text : fallback;
}
}  // namespace

Result<SharedLibrary> SharedLibrary::open(const std::string& soname) {
  ::dlerror();  // a stale message from an earlier failure must not be taken for this one's
  void* handle = ::dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return make_error(Errc::internal, "cannot load " + soname + " (" + last_dl_error("dlopen failed") + ")");
  return SharedLibrary(handle, soname);
}

SharedLibrary::~SharedLibrary() {
  if (handle_) ::dlclose(handle_);
}

SharedLibrary::SharedLibrary(SharedLibrary&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), soname_(std::move(other.soname_)) {}

SharedLibrary& SharedLibrary::operator=(SharedLibrary&& other) noexcept {
  if (this != &other) {
    if (handle_) ::dlclose(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    soname_ = std::move(other.soname_);
  }
  return *this;
}

Result<void*> SharedLibrary::symbol(const char* name) const {
  if (!handle_) return make_error(Errc::internal, "no library is loaded to look up " + std::string(name) + " in");
  ::dlerror();
  void* address = ::dlsym(handle_, name);
  // A symbol may legitimately be null; a function never is, and functions are all this is used for.
  if (!address) {
    return make_error(Errc::internal, soname_ + " has no " + name + " (" + last_dl_error("null symbol") + ")");
  }
  return address;
}

void abort_unloaded(const char* soname, const Error& why) {
  std::fprintf(stderr, "layerleak: %s was called without being loaded: %s\n", soname, why.message.c_str());
  std::abort();
}

}  // namespace layerleak
