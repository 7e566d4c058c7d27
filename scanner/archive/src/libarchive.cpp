// libarchive, loaded at run time: definitions of the libarchive functions layerleak calls, under their
// own names, each forwarding to the same function of libarchive.so.13 opened with dlopen the first time
// one is called. Why: libarchive brings libxml2, ICU, nettle and six compression libraries (11 objects,
// ~14,000 relocations, ~6 ms of a run's start-up); linked, they were loaded before main() on the one
// thread everything else waits for. The scan command loads it on a thread of its own while it reads its
// options, opens the image and loads the rules (layerleak/shared_library.h has the pattern), and
// libarchive_reader.cpp stays plain libarchive code.
//
// LibarchiveReader::open calls load_libarchive() before the first libarchive call, so that a missing
// library is an Error; a forwarder that finds it missing anyway aborts (a programming error).
#include <archive.h>
#include <archive_entry.h>

#include <cstdarg>
#include <cstdio>
#include <string>

#include "layerleak/archive.h"
#include "layerleak/shared_library.h"

namespace {

constexpr const char* kSoname = "libarchive.so.13";

// Every libarchive function layerleak calls, once: the table of pointers and its resolution come from
// this list. A call site that uses a function missing here fails to link (the binary does not link
// libarchive); a function the library lacks fails the load.
#define LAYERLEAK_LIBARCHIVE_FUNCTIONS(F)                                                                      \
  F(archive_read_new) F(archive_read_free) F(archive_read_support_filter_all)                                  \
  F(archive_read_support_format_tar) F(archive_read_support_format_gnutar) F(archive_read_support_format_zip) \
  F(archive_read_support_format_raw) F(archive_read_open) F(archive_read_open_memory)                          \
  F(archive_read_next_header) F(archive_read_data_block) F(archive_error_string) F(archive_format)             \
  F(archive_filter_count) F(archive_set_error) F(archive_entry_pathname) F(archive_entry_pathname_utf8)        \
  F(archive_entry_symlink) F(archive_entry_symlink_utf8) F(archive_entry_hardlink)                             \
  F(archive_entry_hardlink_utf8) F(archive_entry_size) F(archive_entry_size_is_set) F(archive_entry_filetype)

LAYERLEAK_FUNCTION_TABLE(Api, LAYERLEAK_LIBARCHIVE_FUNCTIONS)

constexpr layerleak::LazyLibrary<Api> kLibrary(kSoname, bind_all);

const Api& api() { return kLibrary.table(); }

}  // namespace

namespace layerleak::archive {

Status load_libarchive() { return kLibrary.load("reading layers needs libarchive (Debian package libarchive13)"); }

Status try_libarchive(const std::string& soname) { return kLibrary.try_open(soname); }

}  // namespace layerleak::archive

extern "C" {

struct archive* archive_read_new() { return api().archive_read_new(); }
int archive_read_free(struct archive* a) { return api().archive_read_free(a); }
int archive_read_support_filter_all(struct archive* a) { return api().archive_read_support_filter_all(a); }
int archive_read_support_format_tar(struct archive* a) { return api().archive_read_support_format_tar(a); }
int archive_read_support_format_gnutar(struct archive* a) { return api().archive_read_support_format_gnutar(a); }
int archive_read_support_format_zip(struct archive* a) { return api().archive_read_support_format_zip(a); }
int archive_read_support_format_raw(struct archive* a) { return api().archive_read_support_format_raw(a); }
int archive_read_open(struct archive* a, void* client, archive_open_callback* opener, archive_read_callback* reader,
                      archive_close_callback* closer) {
  return api().archive_read_open(a, client, opener, reader, closer);
}
int archive_read_open_memory(struct archive* a, const void* buffer, size_t size) {
  return api().archive_read_open_memory(a, buffer, size);
}
int archive_read_next_header(struct archive* a, struct archive_entry** entry) {
  return api().archive_read_next_header(a, entry);
}
int archive_read_data_block(struct archive* a, const void** buffer, size_t* size, la_int64_t* offset) {
  return api().archive_read_data_block(a, buffer, size, offset);
}
const char* archive_error_string(struct archive* a) { return api().archive_error_string(a); }
int archive_format(struct archive* a) { return api().archive_format(a); }
int archive_filter_count(struct archive* a) { return api().archive_filter_count(a); }
// Why formatted here: a variadic call cannot be forwarded; the message goes on as one "%s" argument. A
// null format clears the error (libarchive's API), and is passed on as such.
void archive_set_error(struct archive* a, int error, const char* format, ...) {
  if (format == nullptr) {
    api().archive_set_error(a, error, nullptr);
    return;
  }
  va_list args;
  va_start(args, format);
  va_list measure;
  va_copy(measure, args);
  const int length = std::vsnprintf(nullptr, 0, format, measure);
  va_end(measure);
  std::string message(length > 0 ? static_cast<std::size_t>(length) : 0, '\0');
  if (length > 0) std::vsnprintf(message.data(), message.size() + 1, format, args);
  va_end(args);
  api().archive_set_error(a, error, "%s", message.c_str());
}
const char* archive_entry_pathname(struct archive_entry* e) { return api().archive_entry_pathname(e); }
const char* archive_entry_pathname_utf8(struct archive_entry* e) { return api().archive_entry_pathname_utf8(e); }
const char* archive_entry_symlink(struct archive_entry* e) { return api().archive_entry_symlink(e); }
const char* archive_entry_symlink_utf8(struct archive_entry* e) { return api().archive_entry_symlink_utf8(e); }
const char* archive_entry_hardlink(struct archive_entry* e) { return api().archive_entry_hardlink(e); }
const char* archive_entry_hardlink_utf8(struct archive_entry* e) { return api().archive_entry_hardlink_utf8(e); }
la_int64_t archive_entry_size(struct archive_entry* e) { return api().archive_entry_size(e); }
int archive_entry_size_is_set(struct archive_entry* e) { return api().archive_entry_size_is_set(e); }
__LA_MODE_T archive_entry_filetype(struct archive_entry* e) { return api().archive_entry_filetype(e); }

}  // extern "C"
