// Libraries loaded at run time (layerleak/shared_library.h): the loader itself, and the four libraries the
// binary opens only when a command needs them. Each of those is loaded here with every function layerleak
// calls, so that a function the installed library lacks fails CI rather than a user's command.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "../../scanner/cache/src/postgres_store.h"    // internal: load_libpq
#include "../../scanner/serve/src/http_server.h"       // internal: load_libmicrohttpd
#include "layerleak/archive.h"
#include "layerleak/oci.h"
#include "layerleak/shared_library.h"

using namespace layerleak;

namespace {

bool mentions(const Error& error, const std::string& text) { return error.message.find(text) != std::string::npos; }

}  // namespace

TEST_CASE("a shared library is opened by soname and its functions called through their own types", "[shared_library]") {
  auto libc = SharedLibrary::open("libc.so.6");
  REQUIRE(libc);
  CHECK(libc->soname() == "libc.so.6");
  decltype(&::strlen) length = nullptr;
  REQUIRE(libc->bind("strlen", length));
  CHECK(length("layerleak") == 9);

  SharedLibrary moved = std::move(libc).value();  // the handle moves; the moved-from object closes nothing
  CHECK(moved.symbol("strlen"));
}

TEST_CASE("a missing library or symbol is an Error naming it, with the loader's reason", "[shared_library]") {
  auto missing = SharedLibrary::open("liblayerleak-no-such-library.so.7");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::internal);
  CHECK(mentions(missing.error(), "cannot load liblayerleak-no-such-library.so.7"));
  CHECK(mentions(missing.error(), "No such file"));  // dlerror()'s text

  auto libc = SharedLibrary::open("libc.so.6");
  REQUIRE(libc);
  auto symbol = libc->symbol("layerleak_no_such_function");
  REQUIRE_FALSE(symbol);
  CHECK(mentions(symbol.error(), "libc.so.6 has no layerleak_no_such_function"));
}

TEST_CASE("libarchive, libcurl, libpq and libmicrohttpd load with every function layerleak calls", "[shared_library]") {
  // The process's copies, kept for the commands that need them (first, so that they stay loaded)...
  CHECK(archive::load_libarchive());
  CHECK(oci::load_libcurl());
  CHECK(cache::load_libpq());
  CHECK(serve::http::load_libmicrohttpd());
  // ...and each table resolved again through its own open, by the sonames the loaders use.
  CHECK(archive::try_libarchive("libarchive.so.13"));
  CHECK(oci::try_libcurl("libcurl.so.4"));
  CHECK(cache::try_libpq("libpq.so.5"));
  CHECK(serve::http::try_libmicrohttpd("libmicrohttpd.so.12"));
}

TEST_CASE("a library that cannot be loaded, or lacks a function, fails as a whole with its name", "[shared_library]") {
  auto tar = archive::try_libarchive("libarchive.so.99");
  REQUIRE_FALSE(tar);
  CHECK(mentions(tar.error(), "libarchive.so.99"));
  auto not_archive = archive::try_libarchive("libc.so.6");
  REQUIRE_FALSE(not_archive);
  CHECK(mentions(not_archive.error(), "libc.so.6 has no archive_"));
  auto curl = oci::try_libcurl("libcurl.so.99");
  REQUIRE_FALSE(curl);
  CHECK(mentions(curl.error(), "libcurl.so.99"));
  auto pq = cache::try_libpq("libpq.so.99");
  REQUIRE_FALSE(pq);
  CHECK(mentions(pq.error(), "libpq.so.99"));
  // A real library that is not libmicrohttpd: loaded, but its first function is missing.
  auto mhd = serve::http::try_libmicrohttpd("libc.so.6");
  REQUIRE_FALSE(mhd);
  CHECK(mentions(mhd.error(), "libc.so.6 has no MHD_"));
}
