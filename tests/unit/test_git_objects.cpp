// Git object stores inside images (issue 14): loose objects and packfiles are opened like nested archives,
// deltas resolved, members named by object id (a pack's blobs by path, commit and id); bounds and corrupt input give errors or skips, never
// crashes or hangs.
//
// Packs and loose objects are built by hand here (zlib with stored blocks, written below), so each test
// states exactly which bytes the reader sees. The last tests use the real `git` binary (Debian package
// git, installed by scripts/install-deps): a repository whose secret only survives in its history, packed
// by `git gc --aggressive` and left loose, scanned through the pipeline as a dir: source.
#include <openssl/evp.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "fixture_builder.h"
#include "layerleak/archive.h"
#include "layerleak/pipeline.h"
#include "test_support.h"

using namespace layerleak;
namespace fx = layerleak::testing;
using layerleak::testing::TempDir;

namespace {

// ---- building git objects ------------------------------------------------------------------------------

std::uint32_t adler32(std::string_view data) {
  std::uint32_t a = 1, b = 0;
  for (unsigned char c : data) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

// A zlib stream of stored (uncompressed) deflate blocks.
std::string zlib(std::string_view data) {
  std::string out("\x78\x01", 2);
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min<std::size_t>(data.size() - pos, 65535);
    const bool last = pos + n == data.size();
    out.push_back(last ? '\x01' : '\x00');
    out.push_back(static_cast<char>(n & 0xff));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(~n & 0xff));
    out.push_back(static_cast<char>((~n >> 8) & 0xff));
    out.append(data.substr(pos, n));
    pos += n;
  } while (pos < data.size());
  const std::uint32_t sum = adler32(data);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((sum >> shift) & 0xff));
  return out;
}

enum Type { commit = 1, tree = 2, blob = 3, tag = 4, ofs_delta = 6, ref_delta = 7 };

std::string type_name(Type t) {
  switch (t) {
    case commit: return "commit";
    case tree: return "tree";
    case blob: return "blob";
    case tag: return "tag";
    default: return "?";
  }
}

std::string sha1(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), out, &len, EVP_sha1(), nullptr) == 1);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string to_hex(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string raw_id(Type t, std::string_view content) {
  return sha1(type_name(t) + " " + std::to_string(content.size()) + std::string(1, '\0') + std::string(content));
}
std::string id(Type t, std::string_view content) { return to_hex(raw_id(t, content)); }

// A pack object header: type and inflated size.
std::string object_header(Type t, std::uint64_t size) {
  std::string out;
  unsigned char c = static_cast<unsigned char>((t << 4) | (size & 15));
  size >>= 4;
  while (size != 0) {
    out.push_back(static_cast<char>(c | 0x80));
    c = size & 0x7f;
    size >>= 7;
  }
  out.push_back(static_cast<char>(c));
  return out;
}

std::string ofs_encoding(std::uint64_t back) {
  std::string out(1, static_cast<char>(back & 0x7f));
  while (back >>= 7) {
    --back;
    out.insert(out.begin(), static_cast<char>(0x80 | (back & 0x7f)));
  }
  return out;
}

std::string varint(std::uint64_t v) {
  std::string out;
  do {
    unsigned char c = v & 0x7f;
    v >>= 7;
    if (v) c |= 0x80;
    out.push_back(static_cast<char>(c));
  } while (v);
  return out;
}

// Delta instructions: copy ops and insert ops.
struct Delta {
  std::string bytes;
  Delta(std::uint64_t source, std::uint64_t result) : bytes(varint(source) + varint(result)) {}
  Delta& copy(std::uint32_t offset, std::uint32_t size) {
    unsigned char op = 0x80;
    std::string args;
    for (int i = 0; i < 4; ++i) {
      if ((offset >> (8 * i)) & 0xff) {
        op |= 1 << i;
        args.push_back(static_cast<char>((offset >> (8 * i)) & 0xff));
      }
    }
    for (int i = 0; i < 3; ++i) {
      if ((size >> (8 * i)) & 0xff) {
        op |= 1 << (4 + i);
        args.push_back(static_cast<char>((size >> (8 * i)) & 0xff));
      }
    }
    bytes.push_back(static_cast<char>(op));
    bytes += args;
    return *this;
  }
  Delta& insert(std::string_view data) {
    bytes.push_back(static_cast<char>(data.size()));
    bytes.append(data);
    return *this;
  }
};

// A pack being written: objects appended in order, their offsets remembered.
struct PackBuilder {
  std::string body;
  std::uint32_t count = 0;
  std::uint64_t whole(Type t, std::string_view content) {
    const std::uint64_t at = 12 + body.size();
    body += object_header(t, content.size()) + zlib(content);
    ++count;
    return at;
  }
  std::uint64_t ofs(std::uint64_t base_offset, const std::string& delta) {
    const std::uint64_t at = 12 + body.size();
    body += object_header(ofs_delta, delta.size()) + ofs_encoding(at - base_offset) + zlib(delta);
    ++count;
    return at;
  }
  std::uint64_t ref(const std::string& base_raw_id, const std::string& delta) {
    const std::uint64_t at = 12 + body.size();
    body += object_header(ref_delta, delta.size()) + base_raw_id + zlib(delta);
    ++count;
    return at;
  }
  std::string bytes(std::optional<std::uint32_t> declared = std::nullopt) const {
    std::string out = "PACK";
    const std::uint32_t n = declared.value_or(count);
    for (std::uint32_t v : {2u, n}) {
      for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
    }
    out += body;
    return out + sha1(out);
  }
};

// ---- reading -------------------------------------------------------------------------------------------

struct Walk {
  std::map<std::string, std::string> members;  // path -> content
  std::vector<std::string> order;
  std::vector<std::string> skips;              // "path: reason"
  std::optional<Error> error;
};

Walk walk(archive::EntryReader& reader) {
  Walk w;
  for (int guard = 0; guard < 100000; ++guard) {
    auto entry = reader.next_entry();
    if (!entry) {
      w.error = entry.error();
      return w;
    }
    if (!*entry) return w;
    if (!(*entry)->skip_reason.empty()) w.skips.push_back((*entry)->path + ": " + (*entry)->skip_reason);
    if ((*entry)->type != archive::Entry::Type::file) continue;
    std::string data;
    while (true) {
      auto block = reader.read_block();
      if (!block) {
        w.error = block.error();
        return w;
      }
      if (block->empty()) break;
      data.append(block->data(), block->size());
    }
    CHECK(data.size() == (*entry)->size);
    w.order.push_back((*entry)->path);
    w.members[(*entry)->path] = data;
  }
  FAIL("the reader never ended");
  return w;
}

Walk walk_pack(const std::string& pack, archive::GitLimits limits = {}) {
  auto reader = archive::open_git_pack(pack, std::move(limits));
  if (!reader) {
    Walk w;
    w.error = reader.error();
    return w;
  }
  return walk(**reader);
}

Walk walk_loose(const std::string& bytes, const std::string& path) {
  MemoryReader stream(bytes);
  auto reader = archive::open_git_loose(stream, path);
  if (!reader) {
    Walk w;
    w.error = reader.error();
    return w;
  }
  return walk(**reader);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string kKey = "SCW_SECRET_KEY=3b0e1c2d-4f5a-4b6c-8d7e-9f0a1b2c3d4e\n";
const std::string kBase = "# app settings\nREGION=fr-par\n" + kKey + "LOG_LEVEL=info\n";

std::span<const char> head_of(const std::string& s) { return std::span<const char>(s.data(), std::min<std::size_t>(s.size(), 512)); }

}  // namespace

TEST_CASE("git objects are recognised by path and content") {
  const std::string loose = zlib("blob 3\0abc");
  const std::string name = "/app/.git/objects/ab/" + std::string(38, 'c');
  CHECK(archive::sniff_git(name, head_of(loose)) == archive::NestedKind::git_loose);
  CHECK(archive::sniff_git("/srv/repo.git/objects/ab/" + std::string(38, 'c'), head_of(loose)) == archive::NestedKind::git_loose);
  CHECK(archive::sniff_git("/x.tar!/src/.git/objects/0f/" + std::string(38, '1'), head_of(loose)) == archive::NestedKind::git_loose);
  CHECK(archive::sniff_git("/app/objects/ab/" + std::string(38, 'c'), head_of(loose)) == archive::NestedKind::none);
  CHECK(archive::sniff_git("/app/.git/objects/AB/" + std::string(38, 'c'), head_of(loose)) == archive::NestedKind::none);
  CHECK(archive::sniff_git("/app/.git/objects/ab/" + std::string(37, 'c'), head_of(loose)) == archive::NestedKind::none);
  CHECK(archive::sniff_git(name, head_of(std::string("plain text"))) == archive::NestedKind::none);
  PackBuilder p;
  p.whole(blob, "x");
  const std::string pack = p.bytes();
  CHECK(archive::sniff_git("/app/.git/objects/pack/pack-1.pack", head_of(pack)) == archive::NestedKind::git_pack);
  CHECK(archive::sniff_git("/app/.git/objects/pack/pack-1.idx", head_of(pack)) == archive::NestedKind::none);
  std::string v4 = pack;
  v4[7] = 4;
  CHECK(archive::sniff_git("/p.pack", head_of(v4)) == archive::NestedKind::none);
  CHECK(archive::sniff_nested(head_of(pack)) == archive::NestedKind::none);
}

TEST_CASE("a pack's blobs, commits and tags are members named by object id; trees are not") {
  PackBuilder p;
  const std::string commit_text = "tree " + std::string(40, '0') + "\nauthor a <a@b> 0 +0000\n\nadd config\n" + kKey;
  const std::string tree_text = "100644 .env" + std::string(1, '\0') + std::string(20, '\x11');
  const std::string tag_text = "object " + std::string(40, '0') + "\ntype commit\ntag v1\n\n" + kKey;
  p.whole(commit, commit_text);
  p.whole(tree, tree_text);
  p.whole(blob, kBase);
  p.whole(tag, tag_text);
  p.whole(blob, "");
  const Walk w = walk_pack(p.bytes());
  REQUIRE_FALSE(w.error);
  CHECK(w.skips.empty());
  CHECK(w.order == std::vector<std::string>{"/" + id(commit, commit_text), "/" + id(blob, kBase), "/" + id(tag, tag_text), "/" + id(blob, "")});
  CHECK(w.members.at("/" + id(blob, kBase)) == kBase);
  CHECK(w.members.at("/" + id(commit, commit_text)) == commit_text);
  // The id is git's: `printf 'hello\n' | git hash-object --stdin`.
  CHECK(id(blob, "hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a");
}

TEST_CASE("OFS_DELTA and REF_DELTA objects are rebuilt from their bases") {
  PackBuilder p;
  const std::string newer = "# app settings\nREGION=nl-ams\nLOG_LEVEL=info\n";
  const std::uint64_t base_at = p.whole(blob, newer);
  // The older version with the key, stored as a delta against the newer one (as git does).
  Delta older(newer.size(), kBase.size());
  older.copy(0, 22).insert("fr-par\n" + kKey).copy(29, static_cast<std::uint32_t>(newer.size() - 29));
  const std::uint64_t delta_at = p.ofs(base_at, older.bytes);
  // A second link in the chain, by id (REF_DELTA), on top of the rebuilt delta.
  const std::string third = kBase + "DEBUG=1\n";
  Delta more(kBase.size(), third.size());
  more.copy(0, static_cast<std::uint32_t>(kBase.size())).insert("DEBUG=1\n");
  p.ref(raw_id(blob, kBase), more.bytes);
  (void)delta_at;
  const Walk w = walk_pack(p.bytes());
  REQUIRE_FALSE(w.error);
  CHECK(w.skips.empty());
  REQUIRE(w.members.size() == 3);
  CHECK(w.members.at("/" + id(blob, newer)) == newer);
  CHECK(w.members.at("/" + id(blob, kBase)) == kBase);
  CHECK(w.members.at("/" + id(blob, third)) == third);
}

TEST_CASE("a REF_DELTA whose base comes later is resolved at the end; one whose base is missing is skipped") {
  PackBuilder p;
  const std::string base = "line one\nline two\n";
  const std::string result = base + kKey;
  Delta d(base.size(), result.size());
  d.copy(0, static_cast<std::uint32_t>(base.size())).insert(kKey);
  p.ref(raw_id(blob, base), d.bytes);          // base not walked yet
  p.ref(std::string(20, '\x42'), d.bytes);     // base never in this pack (a thin pack)
  p.whole(blob, base);
  const Walk w = walk_pack(p.bytes());
  REQUIRE_FALSE(w.error);
  CHECK(w.members.at("/" + id(blob, result)) == result);
  REQUIRE(w.skips.size() == 1);
  CHECK(contains(w.skips[0], "4242424242424242424242424242424242424242 is not in this pack"));
  CHECK(contains(w.skips[0], "/object-at-offset-"));
}

TEST_CASE("REF_DELTAs waiting for bases that never come end as skipped objects, not a loop") {
  PackBuilder p;
  Delta d(5, 5);
  d.copy(0, 5);
  const std::string a_id = std::string(20, '\x01'), b_id = std::string(20, '\x02');
  p.ref(b_id, d.bytes);
  p.ref(a_id, d.bytes);
  const Walk w = walk_pack(p.bytes());
  REQUIRE_FALSE(w.error);
  CHECK(w.members.empty());
  CHECK(w.skips.size() == 2);
}

TEST_CASE("delta chains are bounded: 64 links are rebuilt, the 65th is skipped and so are its deltas") {
  PackBuilder p;
  std::string content = kBase;
  std::uint64_t at = p.whole(blob, content);
  std::vector<std::string> versions{content};
  for (int link = 1; link <= 66; ++link) {
    const std::string next = content + "v" + std::to_string(link) + "\n";
    Delta d(content.size(), next.size());
    d.copy(0, static_cast<std::uint32_t>(content.size())).insert("v" + std::to_string(link) + "\n");
    at = p.ofs(at, d.bytes);
    content = next;
    versions.push_back(content);
  }
  const Walk w = walk_pack(p.bytes());
  REQUIRE_FALSE(w.error);
  CHECK(archive::kGitMaxDeltaDepth == 64);
  CHECK(w.members.size() == 65);
  CHECK(w.members.at("/" + id(blob, versions[64])) == versions[64]);
  CHECK_FALSE(w.members.contains("/" + id(blob, versions[65])));
  REQUIRE(w.skips.size() == 2);
  CHECK(contains(w.skips[0], "delta chain deeper than 64"));
  CHECK(contains(w.skips[1], "delta base was not scanned"));
}

TEST_CASE("corrupt, truncated and lying packs fail with malformed and the object's offset") {
  PackBuilder good;
  const std::uint64_t base_at = good.whole(blob, kBase);
  Delta d(kBase.size(), kBase.size() + 4);
  d.copy(0, static_cast<std::uint32_t>(kBase.size())).insert("tail");
  const std::uint64_t delta_at = good.ofs(base_at, d.bytes);
  const std::string pack = good.bytes();
  REQUIRE_FALSE(walk_pack(pack).error);

  auto expect_malformed = [](const std::string& bytes, const std::string& what, std::uint64_t offset) {
    const Walk w = walk_pack(bytes);
    INFO(what);
    REQUIRE(w.error);
    CHECK(w.error->code == Errc::malformed);
    CHECK(contains(w.error->message, "offset " + std::to_string(offset)));
  };
  SECTION("truncated at every length") {
    for (std::size_t cut = 12; cut + 20 < pack.size(); ++cut) {
      const Walk w = walk_pack(pack.substr(0, cut) + std::string(20, '\0'));
      REQUIRE(w.error);
      CHECK(w.error->code == Errc::malformed);
    }
    CHECK(walk_pack("PACK").error->code == Errc::malformed);
  }
  SECTION("more objects declared than present") { expect_malformed(good.bytes(3), "count", pack.size() - 20); }
  SECTION("fewer objects declared than present") { expect_malformed(good.bytes(1), "count", delta_at); }
  SECTION("a flipped byte in a zlib stream fails its checksum") {
    std::string bad = pack;
    bad[static_cast<std::size_t>(base_at) + 2 + 2 + 5 + 10] ^= 0x20;
    expect_malformed(bad, "adler32", base_at);
  }
  SECTION("a delta copying from outside its base") {
    PackBuilder p;
    const std::uint64_t b = p.whole(blob, "short");
    Delta out(5, 10);
    out.copy(0, 5).copy(3, 5);
    // The delta is added before the bytes are taken (argument order is unspecified).
    const std::uint64_t at_1 = p.ofs(b, out.bytes);
    expect_malformed(p.bytes(), "copy", at_1);
  }
  SECTION("a delta whose result is shorter or longer than its header") {
    PackBuilder p;
    const std::uint64_t b = p.whole(blob, "short");
    Delta shorter(5, 10);
    shorter.copy(0, 5);
    // The delta is added before the bytes are taken (argument order is unspecified).
    const std::uint64_t at_2 = p.ofs(b, shorter.bytes);
    expect_malformed(p.bytes(), "shorter", at_2);
    PackBuilder q;
    const std::uint64_t b2 = q.whole(blob, "short");
    Delta longer(5, 3);
    longer.copy(0, 5);
    // The delta is added before the bytes are taken (argument order is unspecified).
    const std::uint64_t at_3 = q.ofs(b2, longer.bytes);
    expect_malformed(q.bytes(), "longer", at_3);
  }
  SECTION("a delta that expects another base size") {
    PackBuilder p;
    const std::uint64_t b = p.whole(blob, "short");
    Delta wrong(6, 5);
    wrong.copy(0, 5);
    // The delta is added before the bytes are taken (argument order is unspecified).
    const std::uint64_t at_4 = p.ofs(b, wrong.bytes);
    expect_malformed(p.bytes(), "base size", at_4);
  }
  SECTION("reserved delta op 0 and truncated ops") {
    PackBuilder p;
    const std::uint64_t b = p.whole(blob, "short");
    Delta zero(5, 5);
    zero.bytes.push_back('\0');
    // The delta is added before the bytes are taken (argument order is unspecified).
    const std::uint64_t at_5 = p.ofs(b, zero.bytes);
    expect_malformed(p.bytes(), "op 0", at_5);
    PackBuilder q;
    const std::uint64_t b2 = q.whole(blob, "short");
    Delta cut(5, 5);
    cut.bytes += "\x91";  // copy with an offset byte and a size byte, both missing
    // The delta is added before the bytes are taken (argument order is unspecified).
    const std::uint64_t at_6 = q.ofs(b2, cut.bytes);
    expect_malformed(q.bytes(), "truncated op", at_6);
  }
  SECTION("an object whose header size differs from its data") {
    PackBuilder p;
    p.body += object_header(blob, 4) + zlib("12345");
    p.count = 1;
    expect_malformed(p.bytes(), "longer object", 12);
    PackBuilder q;
    q.body += object_header(blob, 6) + zlib("12345");
    q.count = 1;
    expect_malformed(q.bytes(), "shorter object", 12);
  }
  SECTION("an OFS_DELTA pointing between objects or before the pack") {
    PackBuilder p;
    p.whole(blob, "short");
    const std::uint64_t at = 12 + p.body.size();
    p.body += object_header(ofs_delta, d.bytes.size()) + ofs_encoding(at - 13) + zlib(d.bytes);
    p.count = 2;
    expect_malformed(p.bytes(), "between", at);
    PackBuilder q;
    q.body += object_header(ofs_delta, d.bytes.size()) + ofs_encoding(100) + zlib(d.bytes);
    q.count = 1;
    expect_malformed(q.bytes(), "before", 12);
  }
  SECTION("an unknown object type") {
    PackBuilder p;
    p.body += object_header(static_cast<Type>(5), 5) + zlib("12345");
    p.count = 1;
    expect_malformed(p.bytes(), "type 5", 12);
  }
  SECTION("a size no zlib stream of that length can hold") {
    PackBuilder p;
    p.body += object_header(blob, 1ull << 40) + zlib("12345");
    p.count = 1;
    expect_malformed(p.bytes(), "huge size", 12);
  }
}

TEST_CASE("pack bounds: object count, object size and the inflated-bytes budget") {
  PackBuilder p;
  p.whole(blob, kBase);
  p.whole(blob, std::string(4000, 'x'));
  p.whole(tree, std::string(3000, 't'));
  p.whole(blob, kKey);
  SECTION("more objects than the limit is refused before walking") {
    archive::GitLimits limits;
    limits.max_objects = 3;
    const Walk w = walk_pack(p.bytes(), limits);
    REQUIRE(w.error);
    CHECK(w.error->code == Errc::limit);
  }
  SECTION("an object above the size limit is skipped and the walk goes on") {
    archive::GitLimits limits;
    limits.max_object_bytes = 1000;
    const Walk w = walk_pack(p.bytes(), limits);
    REQUIRE_FALSE(w.error);
    CHECK(w.members.size() == 2);
    CHECK(w.members.contains("/" + id(blob, kKey)));
    REQUIRE(w.skips.size() == 2);
    CHECK(contains(w.skips[0], "more than the per-object limit of 1000"));
  }
  SECTION("trees and other unserved bytes are charged; a refused charge stops the walk with a limit") {
    std::uint64_t charged = 0;
    archive::GitLimits limits;
    limits.charge = [&](std::uint64_t n) {
      charged += n;
      return true;
    };
    REQUIRE_FALSE(walk_pack(p.bytes(), limits).error);
    CHECK(charged == 3000);  // the tree; members are counted by whoever reads them
    limits.charge = [](std::uint64_t) { return false; };
    const Walk w = walk_pack(p.bytes(), limits);
    REQUIRE(w.error);
    CHECK(w.error->code == Errc::limit);
    CHECK(w.members.size() == 2);  // what came before the tree was served
  }
  SECTION("a delta result above the size limit is an error naming the object") {
    PackBuilder q;
    const std::uint64_t b = q.whole(blob, std::string(100, 'a'));
    Delta big(100, 100 * 200);
    for (int i = 0; i < 200; ++i) big.copy(0, 100);
    q.ofs(b, big.bytes);
    archive::GitLimits limits;
    limits.max_object_bytes = 10000;
    const Walk w = walk_pack(q.bytes(), limits);
    REQUIRE(w.error);
    CHECK(w.error->code == Errc::limit);
  }
}

namespace {

std::string tree_entry(const std::string& mode, const std::string& name, Type t, std::string_view content) {
  return mode + " " + name + std::string(1, '\0') + raw_id(t, content);
}
std::string commit_of(const std::string& root, long time, const std::string& message) {
  return "tree " + id(tree, root) + "\nauthor a <a@b> " + std::to_string(time) + " +0000\ncommitter a <a@b> " +
         std::to_string(time) + " +0200\n\n" + message + "\n";
}

// Two commits: the older (first in the pack) has .env and pkg/x_test.go and pkg/y.go; the newer has the
// x_test.go blob again as renamed.env. The subtree is a delta, so is pkg/y.go; one blob no tree names.
struct NamedPack {
  std::string other = "no key here\n";
  std::string y = kBase + "more\n";
  std::string unnamed = "in no tree\n";
  std::string sub = tree_entry("100644", "x_test.go", blob, kBase) + tree_entry("100644", "y.go", blob, y);
  std::string root1 = tree_entry("100644", ".env", blob, other) + tree_entry("40000", "pkg", tree, sub) +
                      tree_entry("160000", "vendor", commit, "a submodule");
  std::string root2 = tree_entry("100644", "renamed.env", blob, kBase);
  std::string c1 = commit_of(root1, 1000, "first");
  std::string c2 = commit_of(root2, 2000, "second");
  std::string bytes() const {
    PackBuilder p;
    p.whole(commit, c1);
    p.whole(commit, c2);
    const auto r2 = p.whole(tree, root2);
    p.whole(tree, root1);
    p.ofs(r2, Delta(root2.size(), sub.size()).insert(sub).bytes);  // one insert op holds up to 127 bytes
    const auto base = p.whole(blob, kBase);
    p.ofs(base, Delta(kBase.size(), y.size()).copy(0, static_cast<std::uint32_t>(kBase.size())).insert("more\n").bytes);
    p.whole(blob, other);
    p.whole(blob, unnamed);
    return p.bytes();
  }
  std::string named(const std::string& path, const std::string& commit_text, const std::string& content) const {
    return "/" + path + "@" + id(commit, commit_text).substr(0, 8) + "#" + id(blob, content);
  }
};

}  // namespace

TEST_CASE("a pack's blobs are named <path>@<newest commit>#<blob id> from its commits and trees") {
  const NamedPack n;
  REQUIRE(n.sub.size() < 128);
  const std::string pack = n.bytes();
  const std::string by_id_key = "/" + id(blob, kBase), by_id_y = "/" + id(blob, n.y), by_id_other = "/" + id(blob, n.other);
  const std::string unnamed = "/" + id(blob, n.unnamed);
  SECTION("names: the newest commit by committer time wins over pack order; unnamed blobs keep their ids") {
    const Walk w = walk_pack(pack);
    REQUIRE_FALSE(w.error);
    CHECK(w.skips.empty());
    CHECK(w.order == std::vector<std::string>{"/" + id(commit, n.c1), "/" + id(commit, n.c2), n.named("renamed.env", n.c2, kBase),
                                              n.named("pkg/y.go", n.c1, n.y), n.named(".env", n.c1, n.other), unnamed});
    CHECK(w.members.at(n.named("pkg/y.go", n.c1, n.y)) == n.y);
    CHECK(w.members.at(n.named("renamed.env", n.c2, kBase)) == kBase);
  }
  SECTION("without a newer commit the blob has the older commit's path") {
    PackBuilder p;
    p.whole(commit, n.c1);
    p.whole(tree, n.root1);
    p.whole(tree, n.sub);
    p.whole(blob, kBase);
    const Walk w = walk_pack(p.bytes());
    CHECK(w.order == std::vector<std::string>{"/" + id(commit, n.c1), n.named("pkg/x_test.go", n.c1, kBase)});
  }
  SECTION("a depth limit leaves deeper blobs with their ids") {
    archive::GitLimits limits;
    limits.max_tree_depth = 0;
    const Walk w = walk_pack(pack, limits);
    CHECK(w.members.contains(n.named("renamed.env", n.c2, kBase)));
    CHECK(w.members.contains(n.named(".env", n.c1, n.other)));
    CHECK(w.members.contains(by_id_y));
    CHECK(w.skips.empty());
  }
  SECTION("a limit on named blobs keeps the first names and says so first") {
    archive::GitLimits limits;
    limits.max_named_blobs = 1;
    const Walk w = walk_pack(pack, limits);
    REQUIRE(w.skips.size() == 1);
    CHECK(contains(w.skips[0], "/: git history not fully named by path: more than 1 blobs to name"));
    CHECK(w.members.contains(n.named("renamed.env", n.c2, kBase)));
    CHECK(w.members.contains(by_id_y));
    CHECK(w.members.contains(by_id_other));
  }
  SECTION("the memory and inflated-bytes limits of the naming pass fall back to ids, with the reason") {
    archive::GitLimits limits;
    limits.max_naming_memory = 150;
    const Walk w = walk_pack(pack, limits);
    REQUIRE(w.skips.size() == 1);
    CHECK(contains(w.skips[0], "trees hold more than the naming limit of 150 bytes"));
    archive::GitLimits small;
    small.max_naming_bytes = 100;
    const Walk v = walk_pack(pack, small);
    REQUIRE(v.skips.size() == 1);
    CHECK(contains(v.skips[0], "inflates to more than the naming limit of 100 bytes"));
    for (const Walk* x : {&w, &v}) {
      CHECK(x->members.contains(by_id_key));
      CHECK(x->members.contains(by_id_y));
      CHECK(x->members.size() == 6);
    }
  }
  SECTION("the naming pass is not charged: the serving pass charges exactly what it did without names") {
    std::uint64_t named = 0, plain = 0;
    archive::GitLimits limits;
    limits.charge = [&named](std::uint64_t k) { return (named += k), true; };
    REQUIRE_FALSE(walk_pack(pack, limits).error);
    limits.charge = [&plain](std::uint64_t k) { return (plain += k), true; };
    limits.name_paths = false;
    const Walk w = walk_pack(pack, limits);
    CHECK(named == plain);
    CHECK(w.members.contains(by_id_key));
    CHECK(w.members.contains(by_id_other));
  }
  SECTION("a truncated pack still names what its complete part holds, then fails as before") {
    const std::string cut = pack.substr(0, pack.size() - 20 - 12);
    const Walk w = walk_pack(cut);
    REQUIRE(w.error);
    CHECK(w.error->code == Errc::malformed);
    CHECK(w.members.contains(n.named("renamed.env", n.c2, kBase)));
    CHECK(w.members.contains(n.named("pkg/y.go", n.c1, n.y)));  // the last two blobs are cut (the reader takes 20 bytes as trailer)
  }
}

TEST_CASE("loose objects: one member for a blob, commit or tag, none for a tree") {
  const std::string path = "/app/.git/objects/3b/" + std::string(38, 'a');
  const std::string member = "/3b" + std::string(38, 'a');
  const std::string big(300000, 'y');
  for (auto [t, content] : std::vector<std::pair<Type, std::string>>{{blob, kBase}, {commit, "tree x\n\n" + kKey}, {tag, kKey}, {blob, big + kKey}}) {
    const Walk w = walk_loose(zlib(type_name(t) + " " + std::to_string(content.size()) + std::string(1, '\0') + content), path);
    REQUIRE_FALSE(w.error);
    REQUIRE(w.members.size() == 1);
    CHECK(w.members.at(member) == content);
  }
  const Walk tree_walk = walk_loose(zlib("tree 3" + std::string(1, '\0') + "abc"), path);
  CHECK_FALSE(tree_walk.error);
  CHECK(tree_walk.members.empty());
  // Lies and damage are errors.
  CHECK(walk_loose(zlib("blob 9" + std::string(1, '\0') + "abc"), path).error->code == Errc::malformed);
  CHECK(walk_loose(zlib("blob 1" + std::string(1, '\0') + "abc"), path).error->code == Errc::malformed);
  CHECK(walk_loose(zlib("blob x" + std::string(1, '\0') + "abc"), path).error->code == Errc::malformed);
  CHECK(walk_loose(zlib("wolf 3" + std::string(1, '\0') + "abc"), path).error->code == Errc::malformed);
  CHECK(walk_loose(zlib(std::string(100, 'b')), path).error->code == Errc::malformed);
  const std::string whole = zlib("blob 3" + std::string(1, '\0') + "abc");
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    const Walk w = walk_loose(whole.substr(0, cut), path);
    CHECK(w.error);
  }
  CHECK(archive::open_git_loose(*std::make_unique<MemoryReader>(whole), "/not/a/git/path").error().code == Errc::invalid_argument);
}

// ---- through the pipeline --------------------------------------------------------------------------------

namespace {

report::ScanReport scan_dir(const std::string& root) {
  pipeline::ScanOptions options;
  options.jobs = 2;
  return pipeline::scan("dir:" + root, layerleak::testing::builtin_detector(), options);
}

std::vector<std::string> finding_paths(const report::ImageReport& image) {
  std::vector<std::string> out;
  for (const auto& f : image.findings) out.push_back(f.location.path);
  return out;
}

bool has_path(const report::ImageReport& image, const std::string& path) {
  const auto paths = finding_paths(image);
  return std::find(paths.begin(), paths.end(), path) != paths.end();
}

std::string random_uuid() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    char c = hex[rng() % 16];
    if (i == 12) c = '4';
    if (i == 16) c = hex[8 + rng() % 4];
    out.push_back(c);
  }
  return out;
}

void run(const std::string& command) {
  INFO(command);
  REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string output_of(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  REQUIRE(pclose(pipe) == 0);
  return out;
}

struct Keys {
  std::string env = random_uuid();      // in .env (small: a whole blob once packed)
  std::string large = random_uuid();    // in large.env (the old version becomes a delta once packed)
  std::string message = random_uuid();  // in a commit message
};

struct RepoIds {
  std::string env;    // .env with the key
  std::string large;  // large.env with the key
};

// A repository whose files had keys in their first commit only, removed later, then the files deleted.
RepoIds make_repo(const std::filesystem::path& repo, const Keys& keys) {
  std::filesystem::create_directories(repo);
  const std::string git = "git -C '" + repo.string() + "' -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main -c gc.auto=0 -c commit.gpgsign=false";
  run(git + " init -q");
  std::string head, tail;
  for (int i = 0; i < 2000; ++i) head += "SETTING_" + std::to_string(i) + "=value of a larger file that deltas well\n";
  for (int i = 2000; i < 4000; ++i) tail += "SETTING_" + std::to_string(i) + "=value of a larger file that deltas well\n";
  const std::string env = "# settings\nREGION=fr-par\nSCW_SECRET_KEY=" + keys.env + "\nLOG_LEVEL=info\n";
  const std::string large = head + "SCW_SECRET_KEY=" + keys.large + "\n" + tail;
  REQUIRE(fx::write_file((repo / ".env").string(), env));
  REQUIRE(fx::write_file((repo / "large.env").string(), large));
  run(git + " add .env large.env");
  run(git + " commit -q -m 'first'");
  REQUIRE(fx::write_file((repo / ".env").string(), "# settings\nREGION=fr-par\nSCW_SECRET_KEY=changeme\nLOG_LEVEL=info\n"));
  // Larger than the first version: git deltifies the smaller version against the larger one.
  REQUIRE(fx::write_file((repo / "large.env").string(), head + "SCW_SECRET_KEY=changeme\n" + tail + std::string(4000, '#') + "\n"));
  run(git + " commit -q -a -m 'SCW_SECRET_KEY=" + keys.message + "'");
  run(git + " rm -q .env large.env");
  run(git + " commit -q -m 'remove'");
  return {id(blob, env), id(blob, large)};
}

}  // namespace

TEST_CASE("a key removed from a repository is found in its packed history (real git gc --aggressive)") {
  REQUIRE(std::system("git --version >/dev/null 2>&1") == 0);  // Debian package git (scripts/install-deps)
  TempDir dir;
  const std::filesystem::path repo = dir.path / "app";
  const Keys keys;
  const RepoIds ids = make_repo(repo, keys);
  run("git -C '" + repo.string() + "' -c gc.reflogExpire=now gc -q --aggressive --prune=now");
  // The reflog names the commit message; remove it so only the pack can hold the keys.
  std::filesystem::remove_all(repo / ".git/logs");
  std::string pack_name;
  for (const auto& e : std::filesystem::directory_iterator(repo / ".git/objects/pack")) {
    if (e.path().extension() == ".pack") pack_name = e.path().filename().string();
  }
  REQUIRE_FALSE(pack_name.empty());
  const std::string pack_file = (repo / ".git/objects/pack" / pack_name).string();
  for (const std::string* key : {&keys.env, &keys.large, &keys.message}) REQUIRE(slurp(pack_file).find(*key) == std::string::npos);
  // The old large.env is stored as a delta (a line of `git verify-pack -v` with a chain depth and base).
  const std::string listing = output_of("git verify-pack -v '" + pack_file.substr(0, pack_file.size() - 5) + ".idx'");
  const std::size_t line = listing.find(ids.large + " blob");
  REQUIRE(line != std::string::npos);
  const std::string row = listing.substr(line, listing.find('\n', line) - line);
  INFO(row);
  REQUIRE(std::count(row.begin(), row.end(), ' ') > 6);

  auto result = scan_dir(dir.path.string());
  REQUIRE(result.images.size() == 1);
  const auto& image = result.images[0];
  INFO("findings: " << Catch::Detail::stringify(finding_paths(image)));
  for (const auto& s : image.skipped) UNSCOPED_INFO("skipped " << s.path << ": " << s.reason);
  const std::string pack_path = "/app/.git/objects/pack/" + pack_name;
  // Both old versions are in the first commit only: named by their path there and their blob id.
  const std::string first = output_of("git -C '" + repo.string() + "' rev-list --max-parents=0 HEAD").substr(0, 8);
  REQUIRE(has_path(image, pack_path + "!/.env@" + first + "#" + ids.env));
  REQUIRE(has_path(image, pack_path + "!/large.env@" + first + "#" + ids.large));
  std::set<std::string> found;
  for (const auto& f : image.findings) {
    if (f.location.path.starts_with(pack_path + "!/")) found.insert(f.secret);
  }
  CHECK(found == std::set<std::string>{keys.env, keys.large, keys.message});  // the message is a commit's
  CHECK(image.errors.empty());
  CHECK(image.skipped.empty());
}

TEST_CASE("a packed history of test sources is downgraded by path: pkg/x_test.go is at most low, .env critical") {
  REQUIRE(std::system("git --version >/dev/null 2>&1") == 0);
  TempDir dir;
  const std::filesystem::path repo = dir.path / "app";
  std::filesystem::create_directories(repo / "pkg");
  const std::string git = "git -C '" + repo.string() + "' -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main -c gc.auto=0 -c commit.gpgsign=false";
  const std::string test_key = random_uuid(), env_key = random_uuid();
  const std::string test_source = "package pkg\n\nfunc TestClient(t *testing.T) {\n\tt.Setenv(\"SCW_SECRET_KEY\", \"" + test_key + "\")\n}\n";
  const std::string env = "SCW_SECRET_KEY=" + env_key + "\n";
  run(git + " init -q");
  REQUIRE(fx::write_file((repo / "pkg/x_test.go").string(), test_source));
  REQUIRE(fx::write_file((repo / ".env").string(), env));
  run(git + " add .env pkg/x_test.go");
  run(git + " commit -q -m fixtures");
  REQUIRE(fx::write_file((repo / "pkg/x_test.go").string(), "package pkg\n"));
  REQUIRE(fx::write_file((repo / ".env").string(), "SCW_SECRET_KEY=changeme\n"));
  run(git + " commit -q -a -m 'keys removed'");
  run(git + " -c gc.reflogExpire=now gc -q --aggressive --prune=now");
  std::filesystem::remove_all(repo / ".git/logs");
  const std::string first = output_of(git + " rev-list --max-parents=0 HEAD").substr(0, 8);

  auto result = scan_dir(dir.path.string());
  REQUIRE(result.images.size() == 1);
  const auto& image = result.images[0];
  INFO("findings: " << Catch::Detail::stringify(finding_paths(image)));
  const report::Finding* in_test = nullptr;
  const report::Finding* in_env = nullptr;
  for (const auto& f : image.findings) {
    if (f.secret == test_key) in_test = &f;
    if (f.secret == env_key) in_env = &f;
  }
  REQUIRE(in_test != nullptr);
  REQUIRE(in_env != nullptr);
  CHECK(in_test->location.path.ends_with(".pack!/pkg/x_test.go@" + first + "#" + id(blob, test_source)));
  CHECK(in_test->severity <= rules::Severity::low);
  CHECK(in_env->location.path.ends_with(".pack!/.env@" + first + "#" + id(blob, env)));
  CHECK(in_env->severity == rules::Severity::critical);
  CHECK(image.errors.empty());
  CHECK(image.skipped.empty());
}

TEST_CASE("a key removed from a repository is found in its loose objects (real git, no gc)") {
  REQUIRE(std::system("git --version >/dev/null 2>&1") == 0);
  TempDir dir;
  const std::filesystem::path repo = dir.path / "srv/app";
  const Keys keys;
  const RepoIds ids = make_repo(repo, keys);
  std::filesystem::remove_all(repo / ".git/logs");
  REQUIRE(std::filesystem::is_regular_file(repo / ".git/objects" / ids.env.substr(0, 2) / ids.env.substr(2)));
  auto result = scan_dir(dir.path.string());
  REQUIRE(result.images.size() == 1);
  const auto& image = result.images[0];
  INFO("findings: " << Catch::Detail::stringify(finding_paths(image)));
  for (const std::string& blob_id : {ids.env, ids.large}) {
    REQUIRE(has_path(image, "/srv/app/.git/objects/" + blob_id.substr(0, 2) + "/" + blob_id.substr(2) + "!/" + blob_id));
  }
  std::set<std::string> found;
  for (const auto& f : image.findings) {
    if (f.location.path.find("/.git/objects/") != std::string::npos) found.insert(f.secret);
  }
  CHECK(found == std::set<std::string>{keys.env, keys.large, keys.message});
  CHECK(image.errors.empty());
  CHECK(image.skipped.empty());
}

TEST_CASE("git packs in layers follow the nested-archive rules: depth, in-memory size, budget, corrupt packs") {
  PackBuilder p;
  p.whole(blob, kBase);
  p.whole(tree, std::string(5000, 't'));
  const std::string pack = p.bytes();
  const std::string blob_member = "/repo/.git/objects/pack/pack-a.pack!/" + id(blob, kBase);
  TempDir dir;
  std::filesystem::create_directories(dir.path / "repo/.git/objects/pack");
  REQUIRE(fx::write_file(dir.file("repo/.git/objects/pack/pack-a.pack"), pack));
  // The same pack inside a tar: one more level of nesting.
  REQUIRE(fx::write_file(dir.file("backup.tar"), fx::LayerBuilder().file("repo/.git/objects/pack/pack-a.pack", pack).tar()));
  pipeline::ScanOptions options;
  options.jobs = 1;
  auto scan = [&] { return pipeline::scan("dir:" + dir.path.string(), layerleak::testing::builtin_detector(), options); };
  {
    auto r = scan();
    REQUIRE(r.images.size() == 1);
    CHECK(has_path(r.images[0], blob_member));
    CHECK(has_path(r.images[0], "/backup.tar!" + blob_member));
    CHECK(r.images[0].skipped.empty());
  }
  {
    options.max_archive_depth = 1;  // the tar is opened, the pack inside it is not
    auto r = scan();
    CHECK(has_path(r.images[0], blob_member));
    CHECK_FALSE(has_path(r.images[0], "/backup.tar!" + blob_member));
    options.max_archive_depth = 5;
  }
  {
    options.max_zip_buffer = 100;
    auto r = scan();
    CHECK_FALSE(has_path(r.images[0], blob_member));
    REQUIRE_FALSE(r.images[0].skipped.empty());
    CHECK(contains(r.images[0].skipped[0].reason, "larger than the in-memory limit"));
    options.max_zip_buffer = 32ull << 20;
  }
  {
    options.max_archive_bytes = 1000;  // the tree alone is 5000 inflated bytes
    auto r = scan();
    CHECK(has_path(r.images[0], blob_member));  // served before the tree
    bool reported = false;
    for (const auto& s : r.images[0].skipped) reported |= contains(s.reason, "decompressed bytes in one archive");
    CHECK(reported);
    options.max_archive_bytes = 4ull << 30;
  }
  {
    std::string corrupt = pack;
    corrupt[40] ^= 0x55;
    REQUIRE(fx::write_file(dir.file("repo/.git/objects/pack/pack-a.pack"), corrupt));
    auto r = scan();
    REQUIRE(r.images.size() == 1);
    CHECK(r.images[0].errors.empty());
    bool reported = false;
    for (const auto& s : r.images[0].skipped) reported |= s.path == "/repo/.git/objects/pack/pack-a.pack";
    CHECK(reported);
  }
}

TEST_CASE("in layers, the naming pass stays within the file's budget and the report says when it stopped") {
  const NamedPack n;
  TempDir dir;
  std::filesystem::create_directories(dir.path / "repo/.git/objects/pack");
  REQUIRE(fx::write_file(dir.file("repo/.git/objects/pack/pack-a.pack"), n.bytes()));
  pipeline::ScanOptions options;
  options.jobs = 1;
  auto scan = [&] { return pipeline::scan("dir:" + dir.path.string(), layerleak::testing::builtin_detector(), options); };
  const std::string member = "/repo/.git/objects/pack/pack-a.pack!" + n.named("renamed.env", n.c2, kBase);
  {
    auto r = scan();
    REQUIRE(r.images.size() == 1);
    CHECK(has_path(r.images[0], member));
    CHECK(r.images[0].skipped.empty());
  }
  {
    options.max_archive_bytes = 400;  // the naming pass inflates the whole pack, more than that
    auto r = scan();
    REQUIRE(r.images.size() == 1);
    std::vector<std::string> reasons;
    for (const auto& s : r.images[0].skipped) reasons.push_back(s.path + ": " + s.reason);
    INFO(Catch::Detail::stringify(reasons));
    CHECK_FALSE(has_path(r.images[0], member));
    CHECK(std::any_of(reasons.begin(), reasons.end(), [](const std::string& s) {
      return contains(s, "pack-a.pack!/: git history not fully named by path") && contains(s, "naming limit of 400 bytes");
    }));
  }
}
