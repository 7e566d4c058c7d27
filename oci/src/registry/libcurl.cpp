// libcurl, loaded at run time: definitions of the libcurl functions layerleak calls, under their own
// names, each forwarding to the same function of libcurl.so.4 opened with dlopen the first time one is
// called. The binary does not link libcurl (layerleak/shared_library.h says why), and the call sites in
// http.cpp, pool.cpp and scanner/verify stay plain libcurl code.
//
// Entry points call load_libcurl() before the first libcurl call, so that a missing library is an Error;
// a forwarder that finds it missing anyway aborts (a programming error: an entry point did not check).
#include <curl/curl.h>

#include <cstdarg>
#include <memory>

#include "layerleak/oci.h"
#include "layerleak/shared_library.h"

// curl.h defines these three as macros (to make C callers pass exactly three arguments); the definitions
// below are the functions themselves.
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_share_setopt

namespace {

using layerleak::Status;

constexpr const char* kSoname = "libcurl.so.4";

// Every libcurl function layerleak calls, once: the table of pointers and its resolution come from this
// list. A call site that uses a function missing here fails to link; a function libcurl lacks fails the load.
#define LAYERLEAK_LIBCURL_FUNCTIONS(F)                                                                          \
  F(curl_global_init) F(curl_easy_init) F(curl_easy_cleanup) F(curl_easy_setopt) F(curl_easy_getinfo)          \
  F(curl_easy_pause) F(curl_easy_strerror) F(curl_multi_init) F(curl_multi_cleanup) F(curl_multi_add_handle)   \
  F(curl_multi_remove_handle) F(curl_multi_perform) F(curl_multi_poll) F(curl_multi_info_read)                 \
  F(curl_share_init) F(curl_share_cleanup) F(curl_share_setopt) F(curl_slist_append) F(curl_slist_free_all)    \
  F(curl_url) F(curl_url_cleanup) F(curl_url_get) F(curl_url_set) F(curl_free) F(curl_getdate)

LAYERLEAK_FUNCTION_TABLE(Api, LAYERLEAK_LIBCURL_FUNCTIONS)

constexpr layerleak::LazyLibrary<Api> kLibrary(kSoname, bind_all);

const Api& api() { return kLibrary.table(); }

// A function pointer of any type, as curl_easy_setopt and curl_share_setopt pass callbacks: every function
// pointer has the same representation, and libcurl reads it back as the type the option documents.
using AnyFunction = void (*)();

}  // namespace

namespace layerleak::oci {

Status load_libcurl() { return kLibrary.load("registry access and --verify need libcurl (Debian package libcurl4)"); }

Status try_libcurl(const std::string& soname) { return kLibrary.try_open(soname); }

}  // namespace layerleak::oci

extern "C" {

CURLcode curl_global_init(long flags) { return api().curl_global_init(flags); }
CURL* curl_easy_init() { return api().curl_easy_init(); }
void curl_easy_cleanup(CURL* curl) { api().curl_easy_cleanup(curl); }
CURLcode curl_easy_pause(CURL* handle, int bitmask) { return api().curl_easy_pause(handle, bitmask); }
const char* curl_easy_strerror(CURLcode code) { return api().curl_easy_strerror(code); }

CURLM* curl_multi_init() { return api().curl_multi_init(); }
CURLMcode curl_multi_cleanup(CURLM* multi) { return api().curl_multi_cleanup(multi); }
CURLMcode curl_multi_add_handle(CURLM* multi, CURL* curl) { return api().curl_multi_add_handle(multi, curl); }
CURLMcode curl_multi_remove_handle(CURLM* multi, CURL* curl) { return api().curl_multi_remove_handle(multi, curl); }
CURLMcode curl_multi_perform(CURLM* multi, int* running) { return api().curl_multi_perform(multi, running); }
CURLMcode curl_multi_poll(CURLM* multi, curl_waitfd extra_fds[], unsigned int extra_nfds, int timeout_ms, int* ret) {
  return api().curl_multi_poll(multi, extra_fds, extra_nfds, timeout_ms, ret);
}
CURLMsg* curl_multi_info_read(CURLM* multi, int* queued) { return api().curl_multi_info_read(multi, queued); }

CURLSH* curl_share_init() { return api().curl_share_init(); }
CURLSHcode curl_share_cleanup(CURLSH* share) { return api().curl_share_cleanup(share); }

curl_slist* curl_slist_append(curl_slist* list, const char* data) { return api().curl_slist_append(list, data); }
void curl_slist_free_all(curl_slist* list) { api().curl_slist_free_all(list); }

CURLU* curl_url() { return api().curl_url(); }
void curl_url_cleanup(CURLU* url) { api().curl_url_cleanup(url); }
CURLUcode curl_url_get(CURLU* url, CURLUPart what, char** part, unsigned int flags) {
  return api().curl_url_get(url, what, part, flags);
}
CURLUcode curl_url_set(CURLU* url, CURLUPart what, const char* part, unsigned int flags) {
  return api().curl_url_set(url, what, part, flags);
}
void curl_free(void* p) { api().curl_free(p); }
time_t curl_getdate(const char* text, const time_t* unused) { return api().curl_getdate(text, unused); }

// The variadic functions. va_start's second argument is the last named parameter, of an enum type curl.h
// fixes; clang warns that an enum undergoes promotion (-Wvarargs, undefined in ISO C++). Both compilers'
// va_start (__builtin_va_start) use that parameter only to find where the variable arguments begin, as
// libcurl's own definitions (in C, where the enum is its integer type) do.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wvarargs"
#endif

// The one argument's type follows from the option's number (curl.h: CURLOPTTYPE_*), as libcurl reads it.
CURLcode curl_easy_setopt(CURL* curl, CURLoption option, ...) {
  const auto setopt = api().curl_easy_setopt;
  std::va_list args;
  va_start(args, option);
  CURLcode code = CURLE_UNKNOWN_OPTION;
  switch (option / 10000 * 10000) {
    case CURLOPTTYPE_LONG: code = setopt(curl, option, va_arg(args, long)); break;
    case CURLOPTTYPE_OBJECTPOINT: code = setopt(curl, option, va_arg(args, void*)); break;  // also STRING, SLIST, CB
    case CURLOPTTYPE_FUNCTIONPOINT: code = setopt(curl, option, va_arg(args, AnyFunction)); break;
    case CURLOPTTYPE_OFF_T: code = setopt(curl, option, va_arg(args, curl_off_t)); break;
    case CURLOPTTYPE_BLOB: code = setopt(curl, option, va_arg(args, void*)); break;  // struct curl_blob*
    default: break;
  }
  va_end(args);
  return code;
}

// Every CURLINFO_* takes one pointer, to where the answer goes.
CURLcode curl_easy_getinfo(CURL* curl, CURLINFO info, ...) {
  const auto getinfo = api().curl_easy_getinfo;
  std::va_list args;
  va_start(args, info);
  void* answer = va_arg(args, void*);
  va_end(args);
  return getinfo(curl, info, answer);
}

// As libcurl's share.c reads them: SHARE and UNSHARE an int (a curl_lock_data), the lock functions their
// pointer types, USERDATA a pointer.
CURLSHcode curl_share_setopt(CURLSH* share, CURLSHoption option, ...) {
  const auto setopt = api().curl_share_setopt;
  std::va_list args;
  va_start(args, option);
  CURLSHcode code = CURLSHE_BAD_OPTION;
  switch (option) {
    case CURLSHOPT_SHARE:
    case CURLSHOPT_UNSHARE: code = setopt(share, option, va_arg(args, int)); break;
    case CURLSHOPT_LOCKFUNC: code = setopt(share, option, va_arg(args, curl_lock_function)); break;
    case CURLSHOPT_UNLOCKFUNC: code = setopt(share, option, va_arg(args, curl_unlock_function)); break;
    case CURLSHOPT_USERDATA: code = setopt(share, option, va_arg(args, void*)); break;
    default: break;
  }
  va_end(args);
  return code;
}

#if defined(__clang__)
#pragma clang diagnostic pop
#endif

}  // extern "C"
