// Archives and compressed files inside layers (issue 5): every format recognised by content and scanned
// recursively with "<outer>!/<member>" paths; findings keep the outer file's layer, visibility and
// provenance; depth, ratio, size and member limits are bounded and reported in stats.skipped.
//
// Layers and images come from the fixture builder; the archives inside them are written here with
// libarchive's write API (zip stored and deflated, tar, and the gzip/bzip2/xz/zstd filters over tar or the
// raw format), so each test states exactly which bytes it feeds the scanner.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "fixture_builder.h"
#include "test_support.h"
#include "layerleak/pipeline.h"

using namespace layerleak;
namespace fx = layerleak::testing;

namespace {

// ---- keys and positions --------------------------------------------------------------------------------

std::string key(unsigned i) { return fx::numbered_secret_key(i); }

std::string env_line(unsigned i) { return "SCW_SECRET_KEY=" + key(i) + "\n"; }

struct Pos {
  std::uint64_t line = 0, column = 0, offset = 0;
};

// 1-based line and column, 0-based offset of `needle` in `content` (as the detector reports a secret).
Pos position(const std::string& content, const std::string& needle) {
  const std::size_t at = content.find(needle);
  REQUIRE(at != std::string::npos);
  Pos p;
  p.offset = at;
  p.line = 1 + static_cast<std::uint64_t>(std::count(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
  const std::size_t nl = at == 0 ? std::string::npos : content.rfind('\n', at - 1);
  p.column = nl == std::string::npos ? at + 1 : at - nl;
  return p;
}

// ---- detector, temp dirs, scanning ---------------------------------------------------------------------

using layerleak::testing::TempDir;

pipeline::ScanOptions default_options() {
  pipeline::ScanOptions options;
  options.jobs = 2;
  return options;
}

// Writes `spec` as an oci-archive and scans it; exactly one image is expected.
report::ImageReport scan_spec(const fx::ImageSpec& spec, const pipeline::ScanOptions& options = default_options()) {
  TempDir dir;
  const std::string path = dir.file("image.tar");
  REQUIRE(fx::write_file(path, fx::oci_archive({spec})));
  auto result = pipeline::scan("oci-archive:" + path, layerleak::testing::builtin_detector(), options);
  REQUIRE(result.images.size() == 1);
  return std::move(result.images[0]);
}

fx::ImageSpec one_layer(const fx::LayerBuilder& layer, const std::string& created_by = "COPY . /") {
  fx::ImageSpec spec;
  fx::LayerSpec l;
  l.layer = layer;
  l.created_by = created_by;
  spec.layers = {l};
  return spec;
}

// "path | rule | layer | line:column | visibility" per finding, sorted: readable when a CHECK fails.
std::string row(const std::string& path, const std::string& rule, std::size_t layer, Pos p,
                const std::string& visibility = "runtime") {
  std::ostringstream out;
  out << path << " | " << rule << " | layer " << layer << " | " << p.line << ":" << p.column << " | " << visibility;
  return out.str();
}

std::vector<std::string> rows(const report::ImageReport& image) {
  std::vector<std::string> out;
  for (const auto& f : image.findings) {
    out.push_back(row(f.location.path, f.rule_id, f.location.layer_index.value_or(99),
                      Pos{f.location.line, f.location.column, f.location.offset}, f.visibility));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// "path: reason" of every skipped entry.
std::vector<std::string> skips(const report::ImageReport& image) {
  std::vector<std::string> out;
  for (const auto& s : image.skipped) out.push_back(s.path + ": " + s.reason);
  return out;
}

const report::Skipped* find_skip(const report::ImageReport& image, const std::string& path) {
  for (const auto& s : image.skipped) {
    if (s.path == path) return &s;
  }
  return nullptr;
}

const report::Finding* find_finding(const report::ImageReport& image, const std::string& path) {
  for (const auto& f : image.findings) {
    if (f.location.path == path) return &f;
  }
  return nullptr;
}

void check_no_errors(const report::ImageReport& image) {
  for (const auto& e : image.errors) FAIL_CHECK("unexpected error: " << e.message);
  CHECK(image.complete);
  for (const auto& l : image.layers) CHECK(l.complete);
}

// ---- archives written with libarchive ------------------------------------------------------------------

enum class Format { tar, zip_store, zip_deflate, raw };
enum class Filter { none, gzip, bzip2, xz, zstd };

struct Member {
  std::string path;  // a trailing '/' makes a directory
  std::string data;
  bool symlink = false;  // data is the target
};

la_ssize_t append_cb(struct archive*, void* client, const void* buffer, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), n);
  return static_cast<la_ssize_t>(n);
}

struct WriterDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

// Opens a libarchive writer for `format` and `filter` that appends to `out`.
std::unique_ptr<struct archive, WriterDeleter> open_writer(Format format, Filter filter, std::string& out) {
  std::unique_ptr<struct archive, WriterDeleter> a(archive_write_new());
  REQUIRE(a);
  switch (format) {
    case Format::tar: REQUIRE(archive_write_set_format_pax_restricted(a.get()) == ARCHIVE_OK); break;
    case Format::zip_store:
    case Format::zip_deflate:
      REQUIRE(archive_write_set_format_zip(a.get()) == ARCHIVE_OK);
      REQUIRE(archive_write_set_format_option(a.get(), "zip", "compression",
                                              format == Format::zip_store ? "store" : "deflate") == ARCHIVE_OK);
      break;
    case Format::raw: REQUIRE(archive_write_set_format_raw(a.get()) == ARCHIVE_OK); break;
  }
  switch (filter) {
    case Filter::none: break;
    case Filter::gzip:
      REQUIRE(archive_write_add_filter_gzip(a.get()) == ARCHIVE_OK);
      REQUIRE(archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr) == ARCHIVE_OK);
      break;
    case Filter::bzip2: REQUIRE(archive_write_add_filter_bzip2(a.get()) == ARCHIVE_OK); break;
    case Filter::xz: REQUIRE(archive_write_add_filter_xz(a.get()) == ARCHIVE_OK); break;
    case Filter::zstd: REQUIRE(archive_write_add_filter_zstd(a.get()) == ARCHIVE_OK); break;
  }
  REQUIRE(archive_write_set_bytes_in_last_block(a.get(), 1) == ARCHIVE_OK);
  REQUIRE(archive_write_open(a.get(), &out, nullptr, append_cb, nullptr) == ARCHIVE_OK);
  return a;
}

void write_header(struct archive* a, const std::string& path, std::int64_t size, mode_t type,
                  const std::string& symlink = "") {
  std::unique_ptr<struct archive_entry, EntryDeleter> e(archive_entry_new());
  archive_entry_set_pathname(e.get(), path.c_str());
  archive_entry_set_filetype(e.get(), type);
  archive_entry_set_perm(e.get(), type == AE_IFDIR ? 0755 : 0644);
  archive_entry_set_mtime(e.get(), 0, 0);
  if (type == AE_IFREG) archive_entry_set_size(e.get(), size);
  if (type == AE_IFLNK) archive_entry_set_symlink(e.get(), symlink.c_str());
  INFO("writing " << path << ": " << (archive_error_string(a) ? archive_error_string(a) : ""));
  REQUIRE(archive_write_header(a, e.get()) == ARCHIVE_OK);
}

std::string pack(Format format, Filter filter, const std::vector<Member>& members) {
  std::string out;
  {
    auto a = open_writer(format, filter, out);
    for (const Member& m : members) {
      if (m.symlink) {
        write_header(a.get(), m.path, 0, AE_IFLNK, m.data);
      } else if (!m.path.empty() && m.path.back() == '/') {
        write_header(a.get(), m.path, 0, AE_IFDIR);
      } else {
        write_header(a.get(), m.path, static_cast<std::int64_t>(m.data.size()), AE_IFREG);
        if (!m.data.empty()) {
          REQUIRE(archive_write_data(a.get(), m.data.data(), m.data.size()) == static_cast<la_ssize_t>(m.data.size()));
        }
      }
    }
    REQUIRE(archive_write_close(a.get()) == ARCHIVE_OK);
  }
  REQUIRE_FALSE(out.empty());
  return out;
}

std::string zip(const std::vector<Member>& members, bool deflate = true) {
  return pack(deflate ? Format::zip_deflate : Format::zip_store, Filter::none, members);
}
std::string tar(const std::vector<Member>& members, Filter filter = Filter::none) {
  return pack(Format::tar, filter, members);
}
// A single compressed file (gzip/bzip2/xz/zstd over libarchive's raw format).
std::string compressed(const std::string& data, Filter filter) { return pack(Format::raw, filter, {{"data", data}}); }

// Deterministic bytes that no compressor shrinks much (test_support.h).
std::string noise(std::size_t n, std::uint32_t seed = 12345) { return fx::incompressible_bytes(n, seed); }

// A text of `size` bytes made of 100-byte dotted lines, with "SCW_SECRET_KEY=<key(i)>" lines placed so that
// the i-th secret straddles byte `boundaries[i]` of the text. Returns the text.
std::string straddling_text(std::size_t size, const std::vector<std::size_t>& boundaries, unsigned first_key) {
  std::string content(size, '.');
  for (std::size_t i = 99; i < content.size(); i += 100) content[i] = '\n';
  for (std::size_t k = 0; k < boundaries.size(); ++k) {
    const std::string line = "\n" + env_line(first_key + static_cast<unsigned>(k));
    // The secret starts 16 bytes into `line`; put its 5th byte on the boundary.
    const std::size_t at = boundaries[k] - 16 - 4;
    content.replace(at, line.size(), line);
  }
  return content;
}

}  // namespace

// ---- every format -------------------------------------------------------------------------------------

TEST_CASE("keys inside jar, war, ear, whl and zip files are found with their !/ member paths") {
  const std::string yml = "server:\n  port: 8080\nscaleway:\n  SCW_SECRET_KEY: " + key(1) + "\n";
  const std::string props = "spring.main.banner-mode=off\nscw.secret-key=" + key(2) + "\n";
  // A Spring-Boot-like fat jar: directories, a manifest, classes, and a library jar STORED inside it.
  const std::string lib_jar = zip({{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"},
                                   {"application.properties", props}});
  const std::string jar = zip({{"META-INF/", ""},
                               {"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: org.example.Launcher\n"},
                               {"BOOT-INF/", ""},
                               {"BOOT-INF/classes/", ""},
                               {"BOOT-INF/classes/application.yml", yml},
                               {"BOOT-INF/classes/App.class", noise(3000, 7)},
                               {"BOOT-INF/lib/", ""},
                               {"BOOT-INF/lib/config-1.0.jar", lib_jar}});
  const std::string war_xml = "<context-param><param-name>SCW_SECRET_KEY</param-name></context-param>\n"
                              "<env-entry>SCW_SECRET_KEY=" + key(3) + "</env-entry>\n";
  const std::string war = zip({{"WEB-INF/web.xml", war_xml}}, /*deflate=*/false);
  const std::string ear = zip({{"META-INF/application.xml", "<application/>\n"}, {"web.war", war}});
  const std::string whl_py = "import os\nSCW_SECRET_KEY = \"" + key(4) + "\"\n";
  const std::string whl = zip({{"pkg/__init__.py", ""}, {"pkg/settings.py", whl_py},
                               {"pkg-1.0.dist-info/METADATA", "Name: pkg\n"}});
  const std::string plain_zip = zip({{"deploy/.env", "# env\n" + env_line(5)}});
  const std::string fake_zip_text = "not a zip at all\n" + env_line(6);

  fx::LayerBuilder layer;
  layer.file("opt/app.jar", jar)
      .file("srv/app.war", war)
      .file("srv/app.ear", ear)
      .file("usr/lib/python3/dist-packages/pkg-1.0-py3-none-any.whl", whl)
      .file("data/archive.zip", plain_zip)
      .file("data/blob.bin", plain_zip)     // a zip by content, whatever its name
      .file("data/fake.zip", fake_zip_text);  // a name is not content: scanned as text
  auto image = scan_spec(one_layer(layer));
  check_no_errors(image);
  CHECK(skips(image).empty());
  const std::string s = "scaleway.secret-key";
  CHECK(rows(image) ==
        sorted({row("/opt/app.jar!/BOOT-INF/classes/application.yml", s, 0, position(yml, key(1))),
                row("/opt/app.jar!/BOOT-INF/lib/config-1.0.jar!/application.properties", s, 0, position(props, key(2))),
                row("/srv/app.war!/WEB-INF/web.xml", s, 0, position(war_xml, key(3))),
                row("/srv/app.ear!/web.war!/WEB-INF/web.xml", s, 0, position(war_xml, key(3))),
                row("/usr/lib/python3/dist-packages/pkg-1.0-py3-none-any.whl!/pkg/settings.py", s, 0, position(whl_py, key(4))),
                row("/data/archive.zip!/deploy/.env", s, 0, position("# env\n" + env_line(5), key(5))),
                row("/data/blob.bin!/deploy/.env", s, 0, position("# env\n" + env_line(5), key(5))),
                row("/data/fake.zip", s, 0, position(fake_zip_text, key(6)))}));
  // Offsets are offsets inside the member, not inside the archive.
  const auto* f = find_finding(image, "/opt/app.jar!/BOOT-INF/classes/application.yml");
  REQUIRE(f != nullptr);
  CHECK(f->location.offset == position(yml, key(1)).offset);
  CHECK(f->secret == key(1));
}

TEST_CASE("keys inside tar, tar.gz, tgz, tar.zst, tar.bz2 and tar.xz files are found") {
  const std::string env = "# app\n" + env_line(10);
  const std::vector<Member> members = {{"home/", ""}, {"home/app/", ""}, {"home/app/.env", env},
                                       {"home/app/link", "/home/app/.env", true}, {"home/app/readme", "hi\n"}};
  struct Case {
    std::string name;
    Filter filter;
  };
  const std::vector<Case> cases = {{"backup.tar", Filter::none},    {"backup.tar.gz", Filter::gzip},
                                   {"backup.tgz", Filter::gzip},    {"backup.tar.zst", Filter::zstd},
                                   {"backup.tar.bz2", Filter::bzip2}, {"backup.tar.xz", Filter::xz},
                                   {"backup.bin", Filter::xz}};
  fx::LayerBuilder layer;
  std::vector<std::string> expected;
  for (const auto& c : cases) {
    layer.file("data/" + c.name, tar(members, c.filter));
    // The member keeps its own name: tar format wins over the raw (single file) reading.
    expected.push_back(row("/data/" + c.name + "!/home/app/.env", "scaleway.secret-key", 0, position(env, key(10))));
  }
  auto image = scan_spec(one_layer(layer));
  check_no_errors(image);
  CHECK(skips(image).empty());
  CHECK(rows(image) == sorted(expected));
}

TEST_CASE("keys inside single gzip, zstd, bzip2 and xz files are found under the outer name without extension") {
  std::string log;
  for (int i = 0; i < 50; ++i) log += "2024-01-01T00:00:" + std::to_string(10 + i) + " GET /health 200\n";
  log += "2024-01-01T00:01:00 starting with SCW_SECRET_KEY=" + key(20) + "\n";
  log += "2024-01-01T00:01:01 ready\n";
  const Pos p = position(log, key(20));
  const std::string s = "scaleway.secret-key";
  fx::LayerBuilder layer;
  layer.file("var/log/app.log.gz", compressed(log, Filter::gzip))
      .file("var/log/builder.log.gz", fx::compress(log, fx::Compression::gzip))  // the fixture builder's gzip
      .file("var/log/app.log.zst", compressed(log, Filter::zstd))
      .file("var/log/lib.log.zst", fx::compress(log, fx::Compression::zstd))     // libzstd, content size set
      .file("var/log/app.log.bz2", compressed(log, Filter::bzip2))
      .file("var/log/app.log.xz", compressed(log, Filter::xz))
      .file("var/log/rotated", compressed(log, Filter::gzip))    // no extension: "<name>.data"
      .file("var/log/old.tgz", compressed(log, Filter::gzip));   // a gzip'd text named .tgz: "old.tar"
  auto image = scan_spec(one_layer(layer));
  check_no_errors(image);
  CHECK(skips(image).empty());
  CHECK(rows(image) == sorted({row("/var/log/app.log.gz!/app.log", s, 0, p),
                               row("/var/log/builder.log.gz!/builder.log", s, 0, p),
                               row("/var/log/app.log.zst!/app.log", s, 0, p),
                               row("/var/log/lib.log.zst!/lib.log", s, 0, p),
                               row("/var/log/app.log.bz2!/app.log", s, 0, p),
                               row("/var/log/app.log.xz!/app.log", s, 0, p),
                               row("/var/log/rotated!/rotated.data", s, 0, p),
                               row("/var/log/old.tgz!/old.tar", s, 0, p)}));
}

TEST_CASE("a nested .gz with bytes after its end is still decompressed and scanned, as gzip -d does") {
  const std::string log = "boot\nSCW_SECRET_KEY=" + key(21) + "\nready\n";
  const Pos p = position(log, key(21));
  fx::LayerBuilder layer;
  layer.file("var/log/garbage.log.gz", compressed(log, Filter::gzip) + "trailing bytes that are not gzip")
      .file("var/log/padded.log.gz", compressed(log, Filter::gzip) + std::string(64, '\0'))
      .file("var/log/two.log.gz", compressed(log, Filter::gzip) + compressed("second member\n", Filter::gzip));
  auto image = scan_spec(one_layer(layer));
  check_no_errors(image);
  CHECK(skips(image).empty());
  const std::string s = "scaleway.secret-key";
  CHECK(rows(image) == sorted({row("/var/log/garbage.log.gz!/garbage.log", s, 0, p),
                               row("/var/log/padded.log.gz!/padded.log", s, 0, p),
                               row("/var/log/two.log.gz!/two.log", s, 0, p)}));
}

TEST_CASE("a compressed archive inside a compressed archive is opened level by level") {
  const std::string env = env_line(30);
  // zip -> tar.xz -> .gz -> tar.zst -> .env ; and a .bz2 of a zip. libarchive stacks compression filters
  // (gzip over zstd over tar is one tar, as a .tar.gz is): a compressed archive is ONE level, named once.
  const std::string inner_tar = tar({{"etc/app/.env", env}}, Filter::zstd);
  const std::string gz = compressed(inner_tar, Filter::gzip);
  const std::string txz = tar({{"layer/conf.tar.zst.gz", gz}}, Filter::xz);
  const std::string outer = zip({{"dist/conf.txz", txz}});
  const std::string bz_of_zip = compressed(zip({{"creds/.env", env_line(31)}}), Filter::bzip2);
  fx::LayerBuilder layer;
  layer.file("srv/bundle.zip", outer).file("srv/creds.zip.bz2", bz_of_zip);
  auto image = scan_spec(one_layer(layer));
  check_no_errors(image);
  CHECK(skips(image).empty());
  CHECK(rows(image) ==
        sorted({row("/srv/bundle.zip!/dist/conf.txz!/layer/conf.tar.zst.gz!/etc/app/.env",
                    "scaleway.secret-key", 0, position(env, key(30))),
                row("/srv/creds.zip.bz2!/creds/.env", "scaleway.secret-key", 0,
                    position(env_line(31), key(31)))}));
}

// ---- nested container images --------------------------------------------------------------------------

TEST_CASE("a container image tarball copied into an image is scanned down to its layers") {
  const std::string env = "# inner\n" + env_line(40);
  fx::ImageSpec inner;
  inner.repo_tags = {"example/inner:1"};
  fx::LayerSpec inner_layer;
  inner_layer.created_by = "COPY .env /app/.env";
  inner_layer.layer.dir("app").file("app/.env", env);
  inner.layers = {inner_layer};

  fx::ImageSpec inner_env = inner;  // the docker >= 25 one also leaks through its config
  inner_env.env = {"PATH=/usr/bin", "SCW_SECRET_KEY=" + key(41)};

  const auto built = fx::build_image(inner);
  const auto built_env = fx::build_image(inner_env);
  REQUIRE(built.layer_digests.size() == 1);
  const std::string layer_hex = built.layer_digests[0].substr(7);
  const std::string diff_hex = built.diff_ids[0].substr(7);
  const std::string config_env_hex = built_env.config_digest.substr(7);
  REQUIRE(built_env.layer_digests[0] == built.layer_digests[0]);

  fx::LayerBuilder outer;
  outer.file("opt/image.tar", fx::docker_archive_v25({inner_env}))
      .file("opt/oci.tar", fx::oci_archive({inner}))
      .file("opt/legacy.tar", fx::docker_archive_legacy({inner}));
  fx::ImageSpec spec = one_layer(outer, "COPY images /opt");
  fx::LayerSpec remove;
  remove.created_by = "RUN rm /opt/legacy.tar";
  remove.layer.whiteout("opt/legacy.tar");
  spec.layers.push_back(remove);
  auto image = scan_spec(spec);
  check_no_errors(image);
  CHECK(skips(image).empty());
  const std::string s = "scaleway.secret-key";
  const Pos p = position(env, key(40));
  CHECK(rows(image) ==
        sorted({row("/opt/image.tar!/blobs/sha256/" + layer_hex + "!/app/.env", s, 0, p),
                row("/opt/image.tar!/blobs/sha256/" + config_env_hex, s, 0, position(built_env.config, key(41))),
                row("/opt/oci.tar!/blobs/sha256/" + layer_hex + "!/app/.env", s, 0, p),
                row("/opt/legacy.tar!/" + diff_hex + "/layer.tar!/app/.env", s, 0, p, "deleted")}));
  // Provenance is the outer layer's.
  for (const auto& f : image.findings) {
    INFO(f.location.path);
    CHECK(f.location.kind == "layer");
    CHECK(f.location.created_by == "COPY images /opt");
    CHECK(f.location.layer_digest == image.layers[0].digest);
    CHECK(f.location.diff_id == image.layers[0].diff_id);
    if (f.visibility == "deleted") CHECK(f.hidden_by_layer == std::optional<std::size_t>(1));
    if (f.visibility == "runtime") CHECK_FALSE(f.hidden_by_layer.has_value());
  }
}

// ---- visibility and provenance ------------------------------------------------------------------------

TEST_CASE("findings inside archives take the outer file's layer, visibility and provenance") {
  const std::string yml = "SCW_SECRET_KEY: " + key(50) + "\n";
  const std::string env = env_line(51);
  const std::string log = "boot\n" + env_line(52);
  const std::string zenv = env_line(53);
  const std::string cfg = env_line(54);
  fx::ImageSpec spec;
  fx::LayerSpec base;
  base.created_by = "COPY build /";
  base.layer.file("opt/app.jar", zip({{"BOOT-INF/classes/application.yml", yml}}))
      .file("data/backup.tgz", tar({{"home/app/.env", env}}, Filter::gzip))
      .file("var/log/app.log.gz", compressed(log, Filter::gzip))
      .file("etc/conf/bundle.tar.xz", tar({{"scw.env", cfg}}, Filter::xz));
  fx::LayerSpec change;
  change.created_by = "RUN rm /opt/app.jar && make-backup";
  change.layer.whiteout("opt/app.jar")
      .file("data/backup.tgz", tar({{"home/app/.env", "SCW_SECRET_KEY=${SCW_SECRET_KEY}\n"}}, Filter::gzip))
      .opaque("etc/conf");
  fx::LayerSpec add;
  add.compression = fx::Compression::zstd;
  add.created_by = "COPY new.zip /srv/";
  add.layer.file("srv/new.zip", zip({{"a/b/.env", zenv}}, false));
  spec.layers = {base, change, add};
  auto image = scan_spec(spec);
  check_no_errors(image);
  const std::string s = "scaleway.secret-key";
  CHECK(rows(image) == sorted({row("/opt/app.jar!/BOOT-INF/classes/application.yml", s, 0, position(yml, key(50)), "deleted"),
                               row("/data/backup.tgz!/home/app/.env", s, 0, position(env, key(51)), "overwritten"),
                               row("/var/log/app.log.gz!/app.log", s, 0, position(log, key(52))),
                               row("/etc/conf/bundle.tar.xz!/scw.env", s, 0, position(cfg, key(54)), "deleted"),
                               row("/srv/new.zip!/a/b/.env", s, 2, position(zenv, key(53)))}));
  for (const auto& f : image.findings) {
    INFO(f.location.path);
    const std::size_t l = f.location.layer_index.value_or(99);
    REQUIRE(l < image.layers.size());
    CHECK(f.location.layer_digest == image.layers[l].digest);
    CHECK(f.location.diff_id == image.layers[l].diff_id);
    CHECK(f.location.created_by == spec.layers[l].created_by);
    if (f.visibility == "runtime") {
      CHECK_FALSE(f.hidden_by_layer.has_value());
    } else {
      CHECK(f.hidden_by_layer == std::optional<std::size_t>(1));
    }
  }
}

TEST_CASE("a real file whose name contains !/ keeps its own visibility") {
  // "!/" is the member separator in reports, but any byte sequence is a legal file name in a layer.
  // Deleting /srv/a!/x.env must make its finding "deleted"; /srv/a itself never existed.
  fx::ImageSpec spec;
  fx::LayerSpec base;
  base.layer.dir("srv/a!").file("srv/a!/x.env", env_line(55)).file("srv/keep!/y.env", env_line(56));
  fx::LayerSpec remove;
  remove.layer.whiteout("srv/a!/x.env").file("srv/keep", "a plain file named like the prefix\n");
  spec.layers = {base, remove};
  auto image = scan_spec(spec);
  check_no_errors(image);
  const std::string s = "scaleway.secret-key";
  CHECK(rows(image) == sorted({row("/srv/a!/x.env", s, 0, position(env_line(55), key(55)), "deleted"),
                               row("/srv/keep!/y.env", s, 0, position(env_line(56), key(56)))}));
}

// ---- chunk boundaries ---------------------------------------------------------------------------------

TEST_CASE("a key split across read-block boundaries inside a member is found at the right place") {
  // libarchive hands members out in blocks: 64 KiB from its decompression filters, 256 KiB from our read
  // buffer (minus the 512-byte tar header in front of the member), 256 KiB from the zip inflater.
  const std::vector<std::size_t> boundaries = {65536 - 512, 65536, 131072, 196608, 262144 - 1024, 262144 - 512, 262144, 300000};
  const std::string content = straddling_text(320 * 1024, boundaries, 60);
  REQUIRE(content.size() > 300 * 1024);
  struct Case {
    std::string name;
    std::string bytes;
    std::string member;
  };
  const std::string big = "config/big.env";
  std::vector<Case> cases = {
      {"in.zip", zip({{"README", "x\n"}, {big, content}}), "!/" + big},
      {"stored.zip", zip({{"README", "x\n"}, {big, content}}, false), "!/" + big},
      {"in.tar", tar({{"README", "x\n"}, {big, content}}), "!/" + big},
      {"in.tar.gz", tar({{"README", "x\n"}, {big, content}}, Filter::gzip), "!/" + big},
      {"in.tar.zst", tar({{big, content}}, Filter::zstd), "!/" + big},
      {"in.tar.bz2", tar({{big, content}}, Filter::bzip2), "!/" + big},
      {"in.tar.xz", tar({{big, content}}, Filter::xz), "!/" + big},
      {"big.env.gz", compressed(content, Filter::gzip), "!/big.env"},
      {"big.env.zst", compressed(content, Filter::zstd), "!/big.env"},
      {"big.env.bz2", compressed(content, Filter::bzip2), "!/big.env"},
      {"big.env.xz", compressed(content, Filter::xz), "!/big.env"},
  };
  // One image, one layer, every case in it: a finding is traced back to its case by its path.
  fx::LayerBuilder layer;
  for (const auto& c : cases) layer.file("data/" + c.name, c.bytes);
  auto image = scan_spec(one_layer(layer));
  check_no_errors(image);
  CHECK(skips(image).empty());
  for (const auto& c : cases) {
    INFO(c.name);
    const std::string path = "/data/" + c.name + c.member;
    std::vector<std::string> expected, got;
    for (std::size_t k = 0; k < boundaries.size(); ++k) {
      expected.push_back(row(path, "scaleway.secret-key", 0, position(content, key(60 + static_cast<unsigned>(k)))));
    }
    for (const auto& f : image.findings) {
      if (f.location.path != path) continue;
      got.push_back(row(f.location.path, f.rule_id, f.location.layer_index.value_or(99),
                        Pos{f.location.line, f.location.column, f.location.offset}, f.visibility));
      // The offset is the member's: the secret starts 4 bytes before its boundary.
      const std::size_t k = std::find(boundaries.begin(), boundaries.end(), f.location.offset + 4) - boundaries.begin();
      INFO("offset " << f.location.offset);
      REQUIRE(k < boundaries.size());
      CHECK(f.secret == key(60 + static_cast<unsigned>(k)));
    }
    CHECK(sorted(got) == sorted(expected));
  }
  CHECK(image.findings.size() == cases.size() * boundaries.size());
}

// ---- zip streaming and buffering ----------------------------------------------------------------------

TEST_CASE("zips bigger than the in-memory buffer are streamed, with the same findings") {
  const std::string env = "# big\n" + env_line(70);
  const std::string filler = noise(200 * 1024, 99);
  const std::vector<Member> members = {{"a/", ""}, {"a/filler.bin", filler}, {"a/.env", env}, {"b/last.env", env_line(71)}};
  fx::LayerBuilder layer;
  layer.file("opt/deflated.jar", zip(members)).file("opt/stored.jar", zip(members, false));
  const std::string s = "scaleway.secret-key";
  const auto expected = sorted({row("/opt/deflated.jar!/a/.env", s, 0, position(env, key(70))),
                                row("/opt/deflated.jar!/b/last.env", s, 0, position(env_line(71), key(71))),
                                row("/opt/stored.jar!/a/.env", s, 0, position(env, key(70))),
                                row("/opt/stored.jar!/b/last.env", s, 0, position(env_line(71), key(71)))});
  SECTION("buffered (the default 32 MiB buffer)") {
    auto image = scan_spec(one_layer(layer));
    check_no_errors(image);
    CHECK(skips(image).empty());
    CHECK(rows(image) == expected);
  }
  SECTION("streamed (buffer smaller than the zips)") {
    auto options = default_options();
    options.max_zip_buffer = 4096;
    auto image = scan_spec(one_layer(layer), options);
    check_no_errors(image);
    INFO(::Catch::Detail::stringify(skips(image)));
    CHECK(rows(image) == expected);
    CHECK(skips(image).empty());
  }
}

namespace {
// Zeroes CRC and sizes in the local headers of deflated entries that have a data descriptor (flag bit 3),
// as zip does when it writes to a pipe: a streaming reader learns a member's size only at its end.
std::string without_local_sizes(std::string zip_bytes) {
  const std::string sig("PK\x03\x04", 4);
  for (std::size_t at = zip_bytes.find(sig); at != std::string::npos && at + 30 <= zip_bytes.size();
       at = zip_bytes.find(sig, at + 4)) {
    const auto u8 = [&](std::size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(zip_bytes[at + i])); };
    const unsigned flags = u8(6) | (u8(7) << 8), method = u8(8) | (u8(9) << 8);
    if ((flags & 8u) != 0 && method == 8) std::fill_n(zip_bytes.begin() + static_cast<std::ptrdiff_t>(at + 14), 12, '\0');
  }
  return zip_bytes;
}
}  // namespace

TEST_CASE("a nested zip whose size is unknown and too big to buffer is reported, not dropped") {
  // Streamed (outer bigger than the buffer), a member whose local header has no size (data descriptor)
  // cannot be sized before it is read. A zip inside a .gz, by contrast, is read by libarchive directly.
  const std::string small_inner = zip({{"app/.env", env_line(72)}});
  const std::string big_inner = zip({{"filler.bin", noise(64 * 1024, 5)}, {"app/.env", env_line(73)}});
  const std::string outer = zip({{"lib/small.jar", small_inner}, {"lib/big.jar", big_inner},
                                 {"filler.bin", noise(64 * 1024, 6)}, {"z.env", env_line(74)}});
  fx::LayerBuilder layer;
  layer.file("opt/outer.jar", outer)
      .file("opt/piped.jar", without_local_sizes(outer))
      .file("opt/bundle.zip.gz", compressed(big_inner, Filter::gzip));
  REQUIRE(without_local_sizes(outer) != outer);
  auto options = default_options();
  options.max_zip_buffer = 16 * 1024;
  auto image = scan_spec(one_layer(layer), options);
  check_no_errors(image);
  const std::string s = "scaleway.secret-key";
  const auto found = rows(image);
  INFO(::Catch::Detail::stringify(found));
  INFO(::Catch::Detail::stringify(skips(image)));
  CHECK(std::count(found.begin(), found.end(), row("/opt/outer.jar!/lib/small.jar!/app/.env", s, 0, position(env_line(72), key(72)))) == 1);
  CHECK(std::count(found.begin(), found.end(), row("/opt/outer.jar!/z.env", s, 0, position(env_line(74), key(74)))) == 1);
  // A zip inside a gzip is one level for libarchive (a filter under the zip format), streamed.
  CHECK(std::count(found.begin(), found.end(), row("/opt/bundle.zip.gz!/app/.env", s, 0, position(env_line(73), key(73)))) == 1);
  // The big inner jar has its size in the local header: it is streamed and found.
  CHECK(std::count(found.begin(), found.end(), row("/opt/outer.jar!/lib/big.jar!/app/.env", s, 0, position(env_line(73), key(73)))) == 1);
  // The same jar as a pipe writes it: the big inner jar cannot be sized, is too big to buffer, and is
  // reported; members after it are still read.
  CHECK(std::count(found.begin(), found.end(), row("/opt/piped.jar!/lib/small.jar!/app/.env", s, 0, position(env_line(72), key(72)))) == 1);
  CHECK(std::count(found.begin(), found.end(), row("/opt/piped.jar!/z.env", s, 0, position(env_line(74), key(74)))) == 1);
  CHECK(found.size() == 6);
  REQUIRE(image.skipped.size() == 1);
  const auto* piped_skip = find_skip(image, "/opt/piped.jar!/lib/big.jar");
  REQUIRE(piped_skip != nullptr);
  CHECK(piped_skip->reason.find("zip") != std::string::npos);
  CHECK(piped_skip->reason.find("larger than") != std::string::npos);
  CHECK(piped_skip->layer_index == std::optional<std::size_t>(0));
}

// ---- bombs and limits ---------------------------------------------------------------------------------

namespace {
// A zip whose one member is `mib` MiB of zeros, deflated (written in 1 MiB pieces, never held whole).
std::string zeros_zip(std::size_t mib, const std::string& member) {
  std::string out;
  auto a = open_writer(Format::zip_deflate, Filter::none, out);
  write_header(a.get(), member, static_cast<std::int64_t>(mib) << 20, AE_IFREG);
  const std::string chunk(1 << 20, '\0');
  for (std::size_t i = 0; i < mib; ++i) {
    REQUIRE(archive_write_data(a.get(), chunk.data(), chunk.size()) == static_cast<la_ssize_t>(chunk.size()));
  }
  REQUIRE(archive_write_close(a.get()) == ARCHIVE_OK);
  return out;
}
}  // namespace

TEST_CASE("a zip bomb is stopped by the ratio limit, reported, and the rest of the layer is scanned") {
  const std::string bomb = zeros_zip(200, "zeros.bin");
  INFO("bomb: " << bomb.size() << " bytes for 200 MiB");
  REQUIRE(bomb.size() < 300 * 1024);
  REQUIRE((200u << 20) > 1000 * bomb.size() + (1u << 20) + (1u << 20));  // above 1000:1 before its end
  const std::string nested_bomb = zip({{"inner.zip", bomb}});  // zip of a zip: ratio far above 1000:1
  fx::LayerBuilder layer;
  layer.file("data/bomb.zip", bomb).file("data/nested-bomb.zip", nested_bomb).file("app/.env", env_line(80));
  const auto started = std::chrono::steady_clock::now();
  auto image = scan_spec(one_layer(layer));
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  check_no_errors(image);
  CHECK(rows(image) == std::vector<std::string>{row("/app/.env", "scaleway.secret-key", 0, position(env_line(80), key(80)))});
  INFO(::Catch::Detail::stringify(skips(image)));
  const auto* plain = find_skip(image, "/data/bomb.zip!/zeros.bin");
  REQUIRE(plain != nullptr);
  CHECK(plain->reason.find("ratio") != std::string::npos);
  CHECK(plain->layer_index == std::optional<std::size_t>(0));
  const auto* nested = find_skip(image, "/data/nested-bomb.zip!/inner.zip!/zeros.bin");
  REQUIRE(nested != nullptr);
  CHECK(nested->reason.find("ratio") != std::string::npos);
  CHECK(image.skipped.size() == 2);
  // Bounded: never more than ratio x size + 1 MiB (+ one block) decompressed per outer file.
  const std::uint64_t bound = 1001 * (bomb.size() + nested_bomb.size()) + 3 * (1u << 20);
  CHECK(image.bytes_scanned <= bound);
  CHECK(seconds < 30);
}

TEST_CASE("the ratio limit is configurable and keeps what was read before it") {
  // 4 MiB of repetitive log compress to a few KiB: above a 10:1 limit after ~1 MiB.
  std::string log = "head SCW_SECRET_KEY=" + key(81) + "\n";
  while (log.size() < (4u << 20)) log += "2024-01-01 GET /health 200 OK\n";
  log += "tail SCW_SECRET_KEY=" + key(82) + "\n";
  const std::string gz = compressed(log, Filter::gzip);
  INFO("gzip: " << gz.size() << " bytes for " << log.size());
  REQUIRE(log.size() > 10 * gz.size() + (1u << 20) + (512u << 10));   // trips at 10:1
  REQUIRE(log.size() + (512u << 10) < 1000 * gz.size() + (1u << 20));  // not at 1000:1
  fx::LayerBuilder layer;
  layer.file("var/log/app.log.gz", gz).file("var/log/plain.log", log);
  const std::string s = "scaleway.secret-key";
  SECTION("--max-ratio 10") {
    auto options = default_options();
    options.max_ratio = 10;
    auto image = scan_spec(one_layer(layer), options);
    check_no_errors(image);
    // The plain copy is not an archive: no ratio applies to it.
    CHECK(rows(image) == sorted({row("/var/log/app.log.gz!/app.log", s, 0, position(log, key(81))),
                                 row("/var/log/plain.log", s, 0, position(log, key(81))),
                                 row("/var/log/plain.log", s, 0, position(log, key(82)))}));
    REQUIRE(image.skipped.size() == 1);
    CHECK(image.skipped[0].path == "/var/log/app.log.gz!/app.log");
    CHECK(image.skipped[0].reason.find("ratio") != std::string::npos);
  }
  SECTION("default 1000:1") {
    auto image = scan_spec(one_layer(layer));
    check_no_errors(image);
    CHECK(skips(image).empty());
    CHECK(rows(image).size() == 4);
  }
  SECTION("0 = no ratio limit") {
    auto options = default_options();
    options.max_ratio = 0;
    auto image = scan_spec(one_layer(layer), options);
    check_no_errors(image);
    CHECK(skips(image).empty());
    CHECK(rows(image).size() == 4);
  }
}

TEST_CASE("the decompressed-bytes limit per outer file is enforced and reported") {
  const std::string first = env_line(83) + noise(512 * 1024, 3);
  const std::string second = noise(2u << 20, 4) + "\n" + env_line(84);
  fx::LayerBuilder layer;
  layer.file("data/dump.tar", tar({{"first.env", first}, {"second.env", second}})).file("app/.env", env_line(85));
  auto options = default_options();
  options.max_archive_bytes = 1u << 20;
  auto image = scan_spec(one_layer(layer), options);
  check_no_errors(image);
  const std::string s = "scaleway.secret-key";
  CHECK(rows(image) == sorted({row("/data/dump.tar!/first.env", s, 0, position(first, key(83))),
                               row("/app/.env", s, 0, position(env_line(85), key(85)))}));
  REQUIRE(image.skipped.size() == 1);
  CHECK(image.skipped[0].path == "/data/dump.tar!/second.env");
  CHECK(image.skipped[0].reason.find("decompressed bytes") != std::string::npos);
}

TEST_CASE("the member count limit is enforced per outer file and reported") {
  std::vector<Member> members;
  for (int i = 0; i < 10; ++i) members.push_back({"m" + std::to_string(i) + ".txt", "x\n"});
  members[1].data = env_line(86);
  members[9].data = env_line(87);
  fx::LayerBuilder layer;
  layer.file("data/many.zip", zip(members)).file("data/many.tar.gz", tar(members, Filter::gzip));
  const std::string s = "scaleway.secret-key";
  auto options = default_options();
  options.max_archive_members = 5;
  auto image = scan_spec(one_layer(layer), options);
  check_no_errors(image);
  CHECK(rows(image) == sorted({row("/data/many.zip!/m1.txt", s, 0, position(env_line(86), key(86))),
                               row("/data/many.tar.gz!/m1.txt", s, 0, position(env_line(86), key(86)))}));
  INFO(::Catch::Detail::stringify(skips(image)));
  REQUIRE(image.skipped.size() == 2);
  for (const auto& skip : image.skipped) {
    CHECK((skip.path == "/data/many.zip" || skip.path == "/data/many.tar.gz"));
    CHECK(skip.reason.find("max-archive-members") != std::string::npos);
  }
  // Members of nested archives count against the outermost file.
  fx::LayerBuilder nested;
  nested.file("data/outer.zip", zip({{"a.zip", zip({{"1", "x"}, {"2", "x"}, {"3", "x"}})}, {"b.env", env_line(88)}}));
  options.max_archive_members = 4;
  auto image2 = scan_spec(one_layer(nested), options);
  check_no_errors(image2);
  CHECK(rows(image2).empty());
  REQUIRE(image2.skipped.size() == 1);
  CHECK(image2.skipped[0].reason.find("max-archive-members") != std::string::npos);
}

TEST_CASE("a 30-level nest of tar.gz files is bounded by --max-archive-depth") {
  // Level i is /nest/l0.tar.gz!/l1.tar.gz!/.../l<i>.tar.gz and holds k<i>.env and l<i+1>.tar.gz.
  constexpr int kLevels = 30;
  std::string current = tar({{"k29.env", env_line(100 + 29)}}, Filter::gzip);
  for (int i = kLevels - 2; i >= 0; --i) {
    current = tar({{"k" + std::to_string(i) + ".env", env_line(100 + static_cast<unsigned>(i))},
                   {"l" + std::to_string(i + 1) + ".tar.gz", current}},
                  Filter::gzip);
  }
  std::vector<std::string> level_path = {"/nest/l0.tar.gz"};
  for (int i = 1; i < kLevels; ++i) level_path.push_back(level_path.back() + "!/l" + std::to_string(i) + ".tar.gz");
  fx::LayerBuilder layer;
  layer.file("nest/l0.tar.gz", current).file("zz/after.env", env_line(99));
  const std::string s = "scaleway.secret-key";
  auto expected_up_to = [&](int levels) {
    std::vector<std::string> out = {row("/zz/after.env", s, 0, position(env_line(99), key(99)))};
    for (int i = 0; i < levels; ++i) {
      out.push_back(row(level_path[i] + "!/k" + std::to_string(i) + ".env", s, 0,
                        position(env_line(100 + static_cast<unsigned>(i)), key(100 + static_cast<unsigned>(i)))));
    }
    return sorted(out);
  };
  SECTION("default depth 5") {
    auto image = scan_spec(one_layer(layer));
    check_no_errors(image);
    CHECK(rows(image) == expected_up_to(5));
    INFO(::Catch::Detail::stringify(skips(image)));
    REQUIRE(image.skipped.size() == 1);
    CHECK(image.skipped[0].path == level_path[5]);
    CHECK(image.skipped[0].reason.find("max-archive-depth") != std::string::npos);
  }
  SECTION("depth 1: only the outer archive is opened") {
    auto options = default_options();
    options.max_archive_depth = 1;
    auto image = scan_spec(one_layer(layer), options);
    check_no_errors(image);
    CHECK(rows(image) == expected_up_to(1));
    REQUIRE(image.skipped.size() == 1);
    CHECK(image.skipped[0].path == level_path[1]);
  }
  SECTION("depth 64: all 30 levels") {
    auto options = default_options();
    options.max_archive_depth = 64;
    auto image = scan_spec(one_layer(layer), options);
    check_no_errors(image);
    CHECK(skips(image).empty());
    CHECK(rows(image) == expected_up_to(kLevels));
  }
}

TEST_CASE("max_archive_depth 0 does not open archives: they are scanned as plain bytes") {
  const std::string yml = "SCW_SECRET_KEY: " + key(110) + "\n";
  fx::LayerBuilder layer;
  layer.file("opt/stored.jar", zip({{"application.yml", yml}}, false))   // stored: the text is in the bytes
      .file("opt/deflated.jar", zip({{"application.yml", yml}}))       // deflated: nothing readable
      .file("data/backup.tgz", tar({{".env", env_line(111)}}, Filter::gzip))
      .file("data/backup.tar", tar({{".env", env_line(112)}}));
  auto options = default_options();
  options.max_archive_depth = 0;
  auto image = scan_spec(one_layer(layer), options);
  check_no_errors(image);
  CHECK(skips(image).empty());
  std::vector<std::string> paths;
  for (const auto& f : image.findings) paths.push_back(f.location.path);
  std::sort(paths.begin(), paths.end());
  CHECK(paths == std::vector<std::string>{"/data/backup.tar", "/opt/stored.jar"});
  for (const auto& f : image.findings) CHECK(f.location.path.find("!/") == std::string::npos);
}

// ---- broken archives ----------------------------------------------------------------------------------

TEST_CASE("a truncated archive is reported and the rest of the layer is still scanned") {
  const std::string first = env_line(120);
  const std::vector<Member> members = {{"first.env", first}, {"big.bin", noise(256 * 1024, 11)}, {"last.env", env_line(121)}};
  const std::string tgz = tar(members, Filter::gzip);
  const std::string zipped = zip(members);
  const std::string log = compressed(noise(128 * 1024, 12) + "\n" + env_line(122), Filter::xz);
  fx::LayerBuilder layer;
  layer.file("data/broken.tar.gz", tgz.substr(0, tgz.size() / 2))
      .file("data/broken.zip", zipped.substr(0, zipped.size() / 2))
      .file("data/broken.log.xz", log.substr(0, log.size() / 2))
      .file("zz/app/.env", env_line(123));
  auto image = scan_spec(one_layer(layer));
  check_no_errors(image);
  const auto found = rows(image);
  const std::string s = "scaleway.secret-key";
  INFO(::Catch::Detail::stringify(found));
  // The file after the broken ones is scanned; so is the streamed member before the cut.
  CHECK(std::count(found.begin(), found.end(), row("/zz/app/.env", s, 0, position(env_line(123), key(123)))) == 1);
  CHECK(std::count(found.begin(), found.end(), row("/data/broken.tar.gz!/first.env", s, 0, position(first, key(120)))) == 1);
  for (const auto& f : image.findings) {
    CHECK(f.secret != key(121));
    CHECK(f.secret != key(122));
  }
  INFO(::Catch::Detail::stringify(skips(image)));
  for (const std::string outer : {"/data/broken.tar.gz", "/data/broken.zip", "/data/broken.log.xz"}) {
    const bool reported = std::any_of(image.skipped.begin(), image.skipped.end(), [&](const report::Skipped& s) {
      return s.path.rfind(outer, 0) == 0 && !s.reason.empty() && s.layer_index == std::optional<std::size_t>(0);
    });
    CHECK(reported);
  }
  CHECK(image.skipped.size() == 3);
}

TEST_CASE("files that only look like archives are scanned as plain bytes and reported, not fatal") {
  std::string fake_tar = noise(257, 27) + std::string("ustar\0" "00", 8) + noise(1000, 28);  // bad checksum
  const std::string junk_zip = std::string("PK\x03\x04", 4) + noise(2000, 21) + "\n" + env_line(131);
  const std::string junk_bz2 = std::string("BZh9", 4) + noise(2000, 25) + "\n" + env_line(132);
  fx::LayerBuilder layer;
  layer.file("data/junk.zip", junk_zip)
      .file("data/junk-eocd.zip", std::string("PK\x05\x06", 4) + noise(300, 22))
      .file("data/junk.gz", std::string("\x1f\x8b\x08\x00", 4) + noise(2000, 23))
      .file("data/junk.zst", std::string("\x28\xb5\x2f\xfd", 4) + noise(2000, 24))
      .file("data/junk.bz2", junk_bz2)
      .file("data/junk.xz", std::string("\xfd" "7zXZ\0", 6) + noise(2000, 26))
      .file("data/junk.tar", fake_tar)
      .file("data/short.zip", std::string("PK\x03\x04", 4))
      .file("zz/app/.env", env_line(130));
  auto image = scan_spec(one_layer(layer));
  check_no_errors(image);
  const std::string s = "scaleway.secret-key";
  // Nothing could be opened, so the bytes themselves are scanned: the plain-text keys are found.
  CHECK(rows(image) == sorted({row("/zz/app/.env", s, 0, position(env_line(130), key(130))),
                               row("/data/junk.zip", s, 0, position(junk_zip, key(131))),
                               row("/data/junk.bz2", s, 0, position(junk_bz2, key(132)))}));
  INFO(::Catch::Detail::stringify(skips(image)));
  // ... and each is reported once, under its own path (an archive that could not be opened may hide
  // compressed members from the plain scan): a file that is no archive has no members.
  for (const std::string path : {"/data/junk.zip", "/data/junk.gz", "/data/junk.zst", "/data/junk.bz2", "/data/junk.xz",
                                 "/data/junk.tar", "/data/short.zip"}) {
    INFO(path);
    const auto* skip = find_skip(image, path);
    CHECK(skip != nullptr);
    if (skip != nullptr) {
      CHECK_FALSE(skip->reason.empty());
      CHECK(skip->layer_index == std::optional<std::size_t>(0));
    }
  }
  for (const auto& skip : image.skipped) CHECK(skip.path.find("!/") == std::string::npos);
}

TEST_CASE("a text file that merely starts with archive magic is scanned as the text it is") {
  // Nothing can be decompressed here: the key must still be found, under the file's own path.
  const std::string bz = "BZh9 is how the release notes start\nSCW_SECRET_KEY=" + key(133) + "\n";
  const std::string pk = "PK\x03\x04 (zip magic) in a note\nSCW_SECRET_KEY=" + key(134) + "\n";
  fx::LayerBuilder layer;
  layer.file("docs/notes-bz.txt", bz).file("docs/notes-pk.txt", pk);
  auto image = scan_spec(one_layer(layer));
  check_no_errors(image);
  INFO(::Catch::Detail::stringify(skips(image)));
  const std::string s = "scaleway.secret-key";
  CHECK(rows(image) == sorted({row("/docs/notes-bz.txt", s, 0, position(bz, key(133))),
                               row("/docs/notes-pk.txt", s, 0, position(pk, key(134)))}));
}

TEST_CASE("archive members that are not regular files are not scanned and member names are normalised") {
  fx::LayerBuilder layer;
  layer.file("opt/odd.tar", tar({{"./a/./b/../c/.env", env_line(140)},
                                 {"dir/", ""},
                                 {"dir/link.env", "/etc/passwd", true},
                                 {"../../escape.env", env_line(141)}}))
      .file("opt/odd.zip", zip({{"x//y/.env", env_line(142)}}));
  auto image = scan_spec(one_layer(layer));
  check_no_errors(image);
  const std::string s = "scaleway.secret-key";
  CHECK(rows(image) == sorted({row("/opt/odd.tar!/a/c/.env", s, 0, position(env_line(140), key(140))),
                               row("/opt/odd.tar!/escape.env", s, 0, position(env_line(141), key(141))),
                               row("/opt/odd.zip!/x/y/.env", s, 0, position(env_line(142), key(142)))}));
}

TEST_CASE("archive findings do not depend on the number of workers") {
  fx::ImageSpec spec;
  for (unsigned i = 0; i < 6; ++i) {
    fx::LayerSpec l;
    l.layer.file("opt/app" + std::to_string(i) + ".jar", zip({{"application.yml", "SCW_SECRET_KEY: " + key(150 + i) + "\n"}}))
        .file("data/b" + std::to_string(i) + ".tgz", tar({{".env", env_line(160 + i)}}, Filter::gzip));
    spec.layers.push_back(l);
  }
  auto one = default_options();
  one.jobs = 1;
  auto four = default_options();
  four.jobs = 4;
  auto a = scan_spec(spec, one);
  auto b = scan_spec(spec, four);
  check_no_errors(a);
  CHECK(a.findings.size() == 12);
  CHECK(rows(a) == rows(b));
  std::vector<std::string> order_a, order_b;
  for (const auto& f : a.findings) order_a.push_back(f.location.path);
  for (const auto& f : b.findings) order_b.push_back(f.location.path);
  CHECK(order_a == order_b);
}

namespace {
// Sets the uncompressed size every header of a one-member zip declares (local header, data descriptor,
// central directory) to `declared`, leaving the data as it is: a header that lies.
std::string with_declared_size(std::string zip_bytes, std::uint32_t declared) {
  const auto put = [&](std::size_t at) {
    for (int i = 0; i < 4; ++i) zip_bytes[at + static_cast<std::size_t>(i)] = static_cast<char>((declared >> (8 * i)) & 0xff);
  };
  const auto u8 = [&](std::size_t at) { return static_cast<unsigned>(static_cast<unsigned char>(zip_bytes[at])); };
  const std::size_t local = zip_bytes.find(std::string("PK\x03\x04", 4));
  REQUIRE(local == 0);
  if ((u8(local + 22) | u8(local + 23) | u8(local + 24) | u8(local + 25)) != 0) put(local + 22);
  if (const std::size_t descriptor = zip_bytes.find(std::string("PK\x07\x08", 4)); descriptor != std::string::npos) {
    put(descriptor + 12);
  }
  const std::size_t central = zip_bytes.find(std::string("PK\x01\x02", 4));
  REQUIRE(central != std::string::npos);
  put(central + 24);
  return zip_bytes;
}
}  // namespace

TEST_CASE("a zip member that declares fewer bytes than it holds is scanned to its end") {
  // Why: the scanner marks the block that reaches a member's size as the file's last only where the
  // format bounds the data (tar); a zip's declared size set to a block boundary must not hide what follows.
  std::string text;
  for (int i = 0; text.size() < 700 * 1024; ++i) text += "line " + std::to_string(i) + " of a plain log\n";
  const std::string content = text + env_line(80);
  for (std::uint32_t declared : {4096u, 65536u, 131072u, 262144u, 524288u}) {
    INFO("declared " << declared);
    fx::LayerBuilder layer;
    layer.file("opt/app.jar", with_declared_size(zip({{"config/app.env", content}}), declared));
    auto image = scan_spec(one_layer(layer));
    bool found = false;
    for (const auto& f : image.findings) found = found || f.secret == key(80);
    CHECK(found);
  }
}
