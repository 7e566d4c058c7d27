// fuzz_git_pack: bytes -> a git packfile (open_git_pack: object headers, zlib streams, OFS_DELTA and
// REF_DELTA resolution, deferred and missing bases) and the same bytes as a loose object
// (open_git_loose); every member read to its end. sniff_git on both kinds of path.
//
// Bounds: the per-object limit is lowered to 16 MiB and every inflated byte (members included) is charged
// against 64 MiB per input, as the pipeline's nested budget does, because a few bytes of deflate or delta
// copies legitimately expand a thousandfold. The pass naming blobs by path (trees and commits parsed, its
// own bound) gets the same 64 MiB.
#include <string>
#include <string_view>

#include "fuzz_entry.h"
#include "layerleak/archive.h"

namespace {

using namespace layerleak;

constexpr std::uint64_t kMaxBytes = 64ull << 20;
constexpr std::size_t kMaxEntries = 100000;

void walk(archive::EntryReader& reader, std::uint64_t& used) {
  for (std::size_t entries = 0; entries < kMaxEntries; ++entries) {
    auto entry = reader.next_entry();
    if (!entry || !*entry) return;
    const archive::Entry& e = **entry;
    if (e.path.empty() || e.path[0] != '/') __builtin_trap();
    if (e.type != archive::Entry::Type::file && e.skip_reason.empty()) __builtin_trap();  // packs say why
    std::uint64_t size = 0;
    for (;;) {
      auto block = reader.read_block();
      if (!block || block->empty()) break;
      size += block->size();
      used += block->size();
      if (used > kMaxBytes) return;
    }
    if (e.type == archive::Entry::Type::file && size > e.size) __builtin_trap();  // never more than declared
  }
}

}  // namespace

LAYERLEAK_FUZZ_TARGET(git_pack) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::span<const char> head(input.data(), input.size() < 512 ? input.size() : 512);
  (void)archive::sniff_git("/app/.git/objects/pack/pack-1.pack", head);
  (void)archive::sniff_git("/app/.git/objects/ab/cdef0123456789abcdef0123456789abcdef01", head);
  std::uint64_t used = 0;
  {
    archive::GitLimits limits;
    limits.max_object_bytes = 16ull << 20;
    limits.max_naming_bytes = kMaxBytes;
    limits.charge = [&used](std::uint64_t n) {
      used += n;
      return used <= kMaxBytes;
    };
    auto pack = archive::open_git_pack(input, std::move(limits));
    if (pack) walk(**pack, used);
  }
  {
    used = 0;
    MemoryReader stream(input);
    auto loose = archive::open_git_loose(stream, "/srv/repo.git/objects/ab/cdef0123456789abcdef0123456789abcdef01");
    if (loose) walk(**loose, used);
  }
  return 0;
}
