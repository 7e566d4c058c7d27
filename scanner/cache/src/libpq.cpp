// libpq, loaded at run time: definitions of the libpq functions layerleak calls, under their own names,
// each forwarding to the same function of libpq.so.5 opened with dlopen the first time one is called.
// The binary does not link libpq (layerleak/shared_library.h says why); postgres_store.cpp stays plain
// libpq code.
//
// PostgresStore::open calls load_libpq() before the first libpq call, so that a missing library is an
// Error; a forwarder that finds it missing anyway aborts (a programming error: an entry point did not check).
#include <libpq-fe.h>

#include <memory>

#include "layerleak/shared_library.h"
#include "postgres_store.h"

namespace {

using layerleak::Status;

constexpr const char* kSoname = "libpq.so.5";

// Every libpq function layerleak calls, once: the table of pointers and its resolution come from this list.
// PQexec, PQconninfo and PQconninfoFree are for the unit tests (test_store.cpp creates its databases).
#define LAYERLEAK_LIBPQ_FUNCTIONS(F)                                                                    \
  F(PQconnectdb) F(PQfinish) F(PQreset) F(PQstatus) F(PQerrorMessage) F(PQhost) F(PQport) F(PQdb)      \
  F(PQsetNoticeProcessor) F(PQexecParams) F(PQresultStatus) F(PQresultErrorMessage) F(PQclear)         \
  F(PQntuples) F(PQgetisnull) F(PQgetlength) F(PQgetvalue) F(PQcmdTuples) F(PQexec) F(PQconninfo)      \
  F(PQconninfoFree)

LAYERLEAK_FUNCTION_TABLE(Api, LAYERLEAK_LIBPQ_FUNCTIONS)

constexpr layerleak::LazyLibrary<Api> kLibrary(kSoname, bind_all);

const Api& api() { return kLibrary.table(); }

}  // namespace

namespace layerleak::cache {

Status load_libpq() { return kLibrary.load("a PostgreSQL store needs libpq (Debian package libpq5)"); }

Status try_libpq(const std::string& soname) { return kLibrary.try_open(soname); }

}  // namespace layerleak::cache

extern "C" {

PGconn* PQconnectdb(const char* conninfo) { return api().PQconnectdb(conninfo); }
void PQfinish(PGconn* conn) { api().PQfinish(conn); }
void PQreset(PGconn* conn) { api().PQreset(conn); }
ConnStatusType PQstatus(const PGconn* conn) { return api().PQstatus(conn); }
char* PQerrorMessage(const PGconn* conn) { return api().PQerrorMessage(conn); }
char* PQhost(const PGconn* conn) { return api().PQhost(conn); }
char* PQport(const PGconn* conn) { return api().PQport(conn); }
char* PQdb(const PGconn* conn) { return api().PQdb(conn); }
PQnoticeProcessor PQsetNoticeProcessor(PGconn* conn, PQnoticeProcessor proc, void* arg) {
  return api().PQsetNoticeProcessor(conn, proc, arg);
}

PGresult* PQexecParams(PGconn* conn, const char* command, int n_params, const Oid* param_types,
                       const char* const* param_values, const int* param_lengths, const int* param_formats,
                       int result_format) {
  return api().PQexecParams(conn, command, n_params, param_types, param_values, param_lengths, param_formats,
                            result_format);
}
PGresult* PQexec(PGconn* conn, const char* query) { return api().PQexec(conn, query); }
ExecStatusType PQresultStatus(const PGresult* res) { return api().PQresultStatus(res); }
char* PQresultErrorMessage(const PGresult* res) { return api().PQresultErrorMessage(res); }
void PQclear(PGresult* res) { api().PQclear(res); }
int PQntuples(const PGresult* res) { return api().PQntuples(res); }
int PQgetisnull(const PGresult* res, int row, int column) { return api().PQgetisnull(res, row, column); }
int PQgetlength(const PGresult* res, int row, int column) { return api().PQgetlength(res, row, column); }
char* PQgetvalue(const PGresult* res, int row, int column) { return api().PQgetvalue(res, row, column); }
char* PQcmdTuples(PGresult* res) { return api().PQcmdTuples(res); }

PQconninfoOption* PQconninfo(PGconn* conn) { return api().PQconninfo(conn); }
void PQconninfoFree(PQconninfoOption* options) { api().PQconninfoFree(options); }

}  // extern "C"
