// libmicrohttpd, loaded at run time: definitions of the libmicrohttpd functions layerleak calls, under their
// own names, each forwarding to the same function of libmicrohttpd.so.12 opened with dlopen the first time
// one is called. The binary does not link it (layerleak/shared_library.h says why); http_server.cpp stays
// plain libmicrohttpd code.
//
// Server::start (and run_serve, before it opens anything) call load_libmicrohttpd() first, so that a
// missing library is an Error; a forwarder that finds it missing anyway aborts (a programming error).
#include <microhttpd.h>

#include <cstdarg>
#include <memory>

#include "http_server.h"
#include "layerleak/shared_library.h"

namespace {

using layerleak::Status;

constexpr const char* kSoname = "libmicrohttpd.so.12";

// Every libmicrohttpd function layerleak calls, once: the table of pointers and its resolution come from
// this list. MHD_start_daemon is variadic: its definition below hands its va_list to MHD_start_daemon_va.
#define LAYERLEAK_MICROHTTPD_FUNCTIONS(F)                                                                    \
  F(MHD_start_daemon_va) F(MHD_stop_daemon) F(MHD_quiesce_daemon) F(MHD_get_daemon_info)                    \
  F(MHD_get_connection_info) F(MHD_get_connection_values) F(MHD_suspend_connection)                         \
  F(MHD_resume_connection) F(MHD_create_response_from_buffer) F(MHD_add_response_header)                    \
  F(MHD_queue_response) F(MHD_destroy_response)

LAYERLEAK_FUNCTION_TABLE(Api, LAYERLEAK_MICROHTTPD_FUNCTIONS)

constexpr layerleak::LazyLibrary<Api> kLibrary(kSoname, bind_all);

const Api& api() { return kLibrary.table(); }

}  // namespace

namespace layerleak::serve::http {

Status load_libmicrohttpd() { return kLibrary.load("serve needs libmicrohttpd (Debian package libmicrohttpd12)"); }

Status try_libmicrohttpd(const std::string& soname) { return kLibrary.try_open(soname); }

}  // namespace layerleak::serve::http

extern "C" {

MHD_Daemon* MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void* apc_cls,
                             MHD_AccessHandlerCallback dh, void* dh_cls, ...) {
  const auto start = api().MHD_start_daemon_va;
  std::va_list options;
  va_start(options, dh_cls);
  MHD_Daemon* daemon = start(flags, port, apc, apc_cls, dh, dh_cls, options);
  va_end(options);
  return daemon;
}
void MHD_stop_daemon(MHD_Daemon* daemon) { api().MHD_stop_daemon(daemon); }
MHD_socket MHD_quiesce_daemon(MHD_Daemon* daemon) { return api().MHD_quiesce_daemon(daemon); }

// MHD_get_daemon_info and MHD_get_connection_info are variadic, but no information type takes a further
// argument: microhttpd.h documents none, libmicrohttpd 0.9.75 reads none (no va_start in either), and the
// types http_server.cpp asks for (BIND_PORT; SOCKET_CONTEXT, CONNECTION_FD, CLIENT_ADDRESS) are plain
// getters. So the type alone is passed on, as the callers pass nothing more.
const MHD_DaemonInfo* MHD_get_daemon_info(MHD_Daemon* daemon, MHD_DaemonInfoType info_type, ...) {
  return api().MHD_get_daemon_info(daemon, info_type);
}
const MHD_ConnectionInfo* MHD_get_connection_info(MHD_Connection* connection, MHD_ConnectionInfoType info_type, ...) {
  return api().MHD_get_connection_info(connection, info_type);
}

int MHD_get_connection_values(MHD_Connection* connection, MHD_ValueKind kind, MHD_KeyValueIterator iterator,
                              void* iterator_cls) {
  return api().MHD_get_connection_values(connection, kind, iterator, iterator_cls);
}
void MHD_suspend_connection(MHD_Connection* connection) { api().MHD_suspend_connection(connection); }
void MHD_resume_connection(MHD_Connection* connection) { api().MHD_resume_connection(connection); }

MHD_Response* MHD_create_response_from_buffer(size_t size, void* buffer, MHD_ResponseMemoryMode mode) {
  return api().MHD_create_response_from_buffer(size, buffer, mode);
}
MHD_Result MHD_add_response_header(MHD_Response* response, const char* header, const char* content) {
  return api().MHD_add_response_header(response, header, content);
}
MHD_Result MHD_queue_response(MHD_Connection* connection, unsigned int status_code, MHD_Response* response) {
  return api().MHD_queue_response(connection, status_code, response);
}
void MHD_destroy_response(MHD_Response* response) { api().MHD_destroy_response(response); }

}  // extern "C"
