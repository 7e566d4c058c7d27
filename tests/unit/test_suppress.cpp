// Suppression tests: baseline and ignore-file loading (errors name file and line), glob semantics,
// and apply()/suppress_hidden() moving findings with their reasons, in order.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "layerleak/report.h"
#include "layerleak/suppress.h"

using namespace layerleak;
using namespace layerleak::suppress;

namespace {

// A private temporary directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "layerleak-suppress-XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string write(const std::string& name, const std::string& content) const {
    const std::string file = (path_ / name).string();
    std::ofstream out(file, std::ios::binary);
    out << content;
    REQUIRE(out.good());
    return file;
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const std::string kFpA = report::fingerprint("scaleway.secret-key", "11111111-1111-4111-8111-111111111111");
const std::string kFpB = report::fingerprint("scaleway.secret-key", "22222222-2222-4222-8222-222222222222");
const std::string kFpC = report::fingerprint("scaleway.access-key", "SCWAAAAAAAAAAAAAAAAA");

report::Finding finding(const std::string& rule_id, const std::string& secret, const std::string& path) {
  report::Finding f;
  f.rule_id = rule_id;
  f.secret = secret;
  f.fingerprint = report::fingerprint(rule_id, secret);
  f.location.kind = "layer";
  f.location.layer_index = 0;
  f.location.path = path;
  return f;
}

report::Finding config_finding(const std::string& secret, const std::string& field) {
  report::Finding f = finding("scaleway.secret-key", secret, "");
  f.location.kind = "config";
  f.location.layer_index.reset();
  f.location.field = field;
  f.visibility = "config";
  return f;
}

std::vector<std::string> paths_of(const std::vector<report::Finding>& findings) {
  std::vector<std::string> out;
  for (const report::Finding& f : findings) out.push_back(f.location.path.empty() ? f.location.field : f.location.path);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Baselines

TEST_CASE("baseline: a JSON report in the contract's shape yields findings and suppressed fingerprints") {
  TempDir dir;
  const std::string report_text = R"({
  "schema_version": 1,
  "tool": {"name": "layerleak", "version": "0.1.0", "rules_digest": "sha256:abc"},
  "images": [{
    "reference": "oci-archive:app.tar",
    "transport": "oci-archive",
    "manifest_digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "layers": [{"index": 0, "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111"}],
    "findings": [{
      "rule_id": "scaleway.secret-key",
      "severity": "critical",
      "secret": "1111****1111",
      "fingerprint": ")" + kFpA + R"(",
      "location": {"kind": "layer", "layer_index": 0, "path": "/app/.env", "line": 2, "column": 16, "offset": 36},
      "visibility": "deleted",
      "hidden_by_layer": 1
    }],
    "suppressed": [{
      "rule_id": "scaleway.access-key",
      "fingerprint": ")" + kFpC + R"(",
      "location": {"kind": "config", "field": "config.Env[2]"},
      "visibility": "config",
      "suppressed_by": "ignore: test key"
    }],
    "stats": {"layers": 1, "entries": 0, "bytes_scanned": 0, "duration_ms": 0, "skipped": []},
    "errors": [],
    "complete": true
  }, {
    "reference": "second",
    "findings": [{"rule_id": "scaleway.secret-key", "fingerprint": ")" + kFpB + R"("}],
    "suppressed": []
  }]
})";
  auto loaded = load_baseline(dir.write("report.json", report_text));
  REQUIRE(loaded);
  CHECK(loaded->size() == 3);
  CHECK(loaded->count(kFpA) == 1);
  CHECK(loaded->count(kFpB) == 1);
  CHECK(loaded->count(kFpC) == 1);
}

TEST_CASE("baseline: the JSON reporter's own output round-trips") {
  TempDir dir;
  report::ScanReport scan;
  scan.tool_version = "0.1.0";
  report::ImageReport image;
  image.reference = "dir:/x";
  image.findings.push_back(finding("scaleway.secret-key", "11111111-1111-4111-8111-111111111111", "/app/.env"));
  report::Finding s = finding("scaleway.access-key", "SCWAAAAAAAAAAAAAAAAA", "/app/b");
  s.suppressed_by = "baseline";
  image.suppressed.push_back(s);
  scan.images.push_back(image);
  std::ostringstream out;
  REQUIRE(report::write_report(scan, report::Format::json, {}, out));

  auto loaded = load_baseline(dir.write("previous.json", out.str()));
  REQUIRE(loaded);
  CHECK(*loaded == std::set<std::string>{kFpA, kFpC});
}

TEST_CASE("baseline: a JSON array of fingerprints") {
  TempDir dir;
  auto loaded = load_baseline(dir.write("list.json", "[\"" + kFpA + "\", \"" + kFpB + "\"]\n"));
  REQUIRE(loaded);
  CHECK(*loaded == std::set<std::string>{kFpA, kFpB});

  auto empty = load_baseline(dir.write("empty.json", "  []  "));
  REQUIRE(empty);
  CHECK(empty->empty());

  auto bad = load_baseline(dir.write("bad.json", "[\"" + kFpA + "\", 42]"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::malformed);
  CHECK(contains(bad.error().message, "bad.json"));
  CHECK(contains(bad.error().message, "[1]"));
}

TEST_CASE("baseline: a text list with comments, blank lines, CRLF and upper-case hex") {
  TempDir dir;
  std::string upper_b = kFpB;
  for (std::size_t i = 7; i < upper_b.size(); ++i) upper_b[i] = static_cast<char>(std::toupper(upper_b[i]));
  const std::string text =
      "# accepted on 2024-05-01\n\n" + kFpA + "\r\n  " + upper_b + "   # old test key\n#" + kFpC + "\n";
  auto loaded = load_baseline(dir.write("baseline.txt", text));
  REQUIRE(loaded);
  CHECK(*loaded == std::set<std::string>{kFpA, kFpB});  // kFpC is commented out; kFpB normalised

  auto empty = load_baseline(dir.write("empty.txt", ""));
  REQUIRE(empty);
  CHECK(empty->empty());
}

TEST_CASE("baseline: malformed input names the file and the line") {
  TempDir dir;
  SECTION("invalid JSON object") {
    const std::string file = dir.write("broken.json", "{\n  \"images\": [\n    {\"findings\": [}\n  ]\n}\n");
    auto loaded = load_baseline(file);
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().code == Errc::malformed);
    CHECK(contains(loaded.error().message, file));
    CHECK(contains(loaded.error().message, "line 3"));
  }
  SECTION("truncated JSON array") {
    const std::string file = dir.write("cut.json", "[\n\"" + kFpA + "\",\n\"" + kFpB + "\"\n");
    auto loaded = load_baseline(file);
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().code == Errc::malformed);
    CHECK(contains(loaded.error().message, "cut.json: line 4"));
  }
  SECTION("a text line that is not a fingerprint") {
    auto loaded = load_baseline(dir.write("list.txt", kFpA + "\n# fine\nsha256:nothex\n"));
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().code == Errc::malformed);
    CHECK(contains(loaded.error().message, "list.txt: line 3"));
    CHECK(contains(loaded.error().message, "sha256:nothex"));
  }
  SECTION("a JSON object that is not a report") {
    auto loaded = load_baseline(dir.write("other.json", R"({"version": "2.1.0", "runs": []})"));
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().code == Errc::malformed);
    CHECK(contains(loaded.error().message, "other.json"));
    CHECK(contains(loaded.error().message, "images"));
  }
  SECTION("a report finding without a fingerprint names its JSON path") {
    auto loaded = load_baseline(dir.write("nofp.json", R"({"images": [{"findings": [{"rule_id": "x.y"}]}]})"));
    REQUIRE_FALSE(loaded);
    CHECK(contains(loaded.error().message, "images[0].findings[0]"));
  }
}

TEST_CASE("baseline: a report is read by report::read_json, typed and bounded", "[baseline]") {
  TempDir dir;
  // A field of the wrong type is named by its JSON path (it used to be ignored).
  auto typed = load_baseline(dir.write("typed.json", R"({"images": [{"findings": [{"fingerprint": ")" + kFpA +
                                                          R"(", "location": {"line": "two"}}]}]})"));
  REQUIRE_FALSE(typed);
  CHECK(typed.error().code == Errc::malformed);
  CHECK(contains(typed.error().message, "typed.json"));
  CHECK(contains(typed.error().message, "images[0].findings[0].location.line"));
  // Deep nesting is refused before parsing, in both JSON forms (it used to overflow the stack).
  for (const char open : {'{', '['}) {
    const std::string text = open == '{' ? "{\"images\": " + std::string(100000, '[') : std::string(100000, '[');
    auto deep = load_baseline(dir.write("deep.json", text));
    REQUIRE_FALSE(deep);
    CHECK(deep.error().code == Errc::limit);
    CHECK(contains(deep.error().message, "deep.json"));
  }
}

TEST_CASE("baseline: a missing file is not_found and names the file") {
  TempDir dir;
  const std::string file = dir.path("does-not-exist.json");
  auto loaded = load_baseline(file);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code == Errc::not_found);
  CHECK(contains(loaded.error().message, file));
}

// ---------------------------------------------------------------------------------------------------
// Ignore files

TEST_CASE("ignore file: valid entries keep their order, criteria, reasons and lines") {
  TempDir dir;
  const std::string yaml =
      "# layerleak allowlist\n"                         // 1
      "ignore:\n"                                       // 2
      "  - path: \"/app/test/**\"\n"                    // 3
      "    reason: test fixtures, keys revoked\n"       // 4
      "  - rule: scaleway.access-key\n"                 // 5
      "    path: '**/docs/**'\n"                        // 6
      "    reason: documentation examples\n"            // 7
      "  - fingerprint: \"" + kFpA + "\"\n"             // 8
      "    reason: accepted risk, SEC-42\n";            // 9
  auto loaded = load_ignore_file(dir.write("ignore.yaml", yaml));
  REQUIRE(loaded);
  REQUIRE(loaded->size() == 3);
  const auto& e = *loaded;
  CHECK(e[0].path_glob == "/app/test/**");
  CHECK(e[0].rule_id.empty());
  CHECK(e[0].reason == "test fixtures, keys revoked");
  CHECK(e[0].line == 3);
  CHECK(e[1].rule_id == "scaleway.access-key");
  CHECK(e[1].path_glob == "**/docs/**");
  CHECK(e[1].line == 5);
  CHECK(e[2].fingerprint == kFpA);
  CHECK(e[2].path_glob.empty());
  CHECK(e[2].reason == "accepted risk, SEC-42");
  CHECK(e[2].line == 8);

  auto empty = load_ignore_file(dir.write("empty-list.yaml", "ignore: []\n"));
  REQUIRE(empty);
  CHECK(empty->empty());
}

TEST_CASE("ignore file: schema errors name the file and the line") {
  TempDir dir;
  SECTION("missing reason") {
    auto loaded = load_ignore_file(
        dir.write("ign.yaml", "ignore:\n  - path: /a\n    reason: ok\n  - rule: scaleway.secret-key\n"));
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().code == Errc::malformed);
    CHECK(contains(loaded.error().message, "ign.yaml: line 4"));
    CHECK(contains(loaded.error().message, "reason"));
  }
  SECTION("empty reason") {
    auto loaded = load_ignore_file(dir.write("ign.yaml", "ignore:\n  - path: /a\n    reason: \"  \"\n"));
    REQUIRE_FALSE(loaded);
    CHECK(contains(loaded.error().message, "ign.yaml: line 3"));
    CHECK(contains(loaded.error().message, "reason"));
  }
  SECTION("null reason") {
    auto loaded = load_ignore_file(dir.write("ign.yaml", "ignore:\n  - path: /a\n    reason:\n"));
    REQUIRE_FALSE(loaded);
    CHECK(contains(loaded.error().message, "ign.yaml: line 3"));
  }
  SECTION("unknown key") {
    auto loaded = load_ignore_file(
        dir.write("ign.yaml", "ignore:\n  - path: /a\n    reason: ok\n    expires: 2025-01-01\n"));
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().code == Errc::malformed);
    CHECK(contains(loaded.error().message, "ign.yaml: line 4"));
    CHECK(contains(loaded.error().message, "expires"));
  }
  SECTION("an entry with nothing to match") {
    auto loaded = load_ignore_file(dir.write("ign.yaml", "ignore:\n  - reason: everything is fine\n"));
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().code == Errc::malformed);
    CHECK(contains(loaded.error().message, "ign.yaml: line 2"));
    CHECK(contains(loaded.error().message, "at least one of path, rule, fingerprint"));
  }
  SECTION("bad fingerprint") {
    auto loaded = load_ignore_file(dir.write("ign.yaml", "ignore:\n  - fingerprint: abc\n    reason: r\n"));
    REQUIRE_FALSE(loaded);
    CHECK(contains(loaded.error().message, "ign.yaml: line 2"));
    CHECK(contains(loaded.error().message, "fingerprint"));
  }
  SECTION("bad glob") {
    auto loaded = load_ignore_file(dir.write("ign.yaml", "ignore:\n  - reason: r\n    path: \"/app/[ab\"\n"));
    REQUIRE_FALSE(loaded);
    CHECK(contains(loaded.error().message, "ign.yaml: line 3"));
    CHECK(contains(loaded.error().message, "'['"));
  }
  SECTION("repeated key") {
    auto loaded = load_ignore_file(dir.write("ign.yaml", "ignore:\n  - path: /a\n    path: /b\n    reason: r\n"));
    REQUIRE_FALSE(loaded);
    CHECK(contains(loaded.error().message, "ign.yaml: line 3"));
  }
  SECTION("unknown top-level key") {
    auto loaded = load_ignore_file(dir.write("ign.yaml", "ignore: []\nallow: []\n"));
    REQUIRE_FALSE(loaded);
    CHECK(contains(loaded.error().message, "ign.yaml: line 2"));
    CHECK(contains(loaded.error().message, "allow"));
  }
  SECTION("not a mapping") {
    auto loaded = load_ignore_file(dir.write("ign.yaml", "- path: /a\n  reason: r\n"));
    REQUIRE_FALSE(loaded);
    CHECK(contains(loaded.error().message, "ign.yaml: line 1"));
  }
  SECTION("an entry that is not a mapping") {
    auto loaded = load_ignore_file(dir.write("ign.yaml", "ignore:\n  - path: /a\n    reason: r\n  - /b\n"));
    REQUIRE_FALSE(loaded);
    CHECK(contains(loaded.error().message, "ign.yaml: line 4"));
  }
  SECTION("YAML syntax error") {
    auto loaded = load_ignore_file(dir.write("ign.yaml", "ignore:\n  - path: /a\n    reason: [unclosed\n"));
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().code == Errc::malformed);
    CHECK(contains(loaded.error().message, "ign.yaml: line"));
    CHECK(contains(loaded.error().message, "invalid YAML"));
  }
}

TEST_CASE("ignore file: a missing file is not_found and names the file") {
  TempDir dir;
  const std::string file = dir.path("nope.yaml");
  auto loaded = load_ignore_file(file);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code == Errc::not_found);
  CHECK(contains(loaded.error().message, file));
}

// ---------------------------------------------------------------------------------------------------
// Globs

TEST_CASE("glob_match table") {
  struct Case {
    const char* glob;
    const char* path;
    bool match;
  };
  const Case cases[] = {
      // literal and '*'
      {"/app/.env", "/app/.env", true},
      {"/app/.env", "/app/.env.bak", false},
      {"/app/*.env", "/app/prod.env", true},
      {"/app/*.env", "/app/sub/prod.env", false},  // '*' does not cross '/'
      {"/app/*", "/app/x/y", false},
      {"/app/*/config.yml", "/app/api/config.yml", true},
      {"/*", "/etc", true},
      {"/app/*", "/app/", true},  // '*' may match nothing
      // '?'
      {"/app/.env.?", "/app/.env.1", true},
      {"/app/.env.?", "/app/.env.10", false},
      {"/a?b", "/a/b", false},  // '?' never matches '/'
      // classes
      {"/app/[abc].yml", "/app/b.yml", true},
      {"/app/[abc].yml", "/app/d.yml", false},
      {"/app/[a-c]*.yml", "/app/cfg.yml", true},
      {"/app/[!a-c]*.yml", "/app/cfg.yml", false},
      {"/app/[^a-c]*.yml", "/app/dev.yml", true},
      {"/a[/]b", "/a/b", false},  // a class never matches '/'
      {"/app/[]x].txt", "/app/].txt", true},
      {"config.Env\\[2\\]", "config.Env[2]", true},  // escaped brackets
      // '**'
      {"/app/**", "/app/a/b/c.env", true},
      {"/app/**", "/application/x", false},
      {"/a/**/b", "/a/b", true},  // zero directories
      {"/a/**/b", "/a/x/y/b", true},
      {"/a/**/b", "/a/xb", false},
      {"**/node_modules/**", "/node_modules/pkg/.env", true},
      {"**/node_modules/**", "/usr/lib/node_modules/npm/.npmrc", true},
      {"**/node_modules/**", "/usr/lib/not_node_modules/x", false},
      {"**", "/anything/at/all", true},
      {"/a**b", "/axyb", true},  // not a whole segment: a plain '*'
      {"/a**b", "/ax/yb", false},
      // relative globs are "**/" + glob
      {".env", "/.env", true},
      {".env", "/app/deep/.env", true},
      {".env", "/app/x.env", false},
      {"*.pem", "/etc/ssl/private/key.pem", true},
      {"app/*.yml", "/srv/app/a.yml", true},
      {"app/*.yml", "/srv/myapp/a.yml", false},
      {"node_modules/", "/app/node_modules/a/b.js", true},  // trailing '/' = everything below
      {"config.Env*", "config.Env[2]", true},
      {"history*.created_by", "history[4].created_by", true},
      // '!' is ordinary: nested archive members
      {"/opt/app.jar!/BOOT-INF/**", "/opt/app.jar!/BOOT-INF/classes/application.yml", true},
      {"/opt/*.jar!/**", "/opt/app.jar!/x.yml", true},
      {"/opt/*.yml", "/opt/app.jar!/x.yml", false},
      {"*.jar!/**/*.yml", "/opt/lib/a.jar!/b.jar!/c/d.yml", true},
      {"/opt/app.jar", "/opt/app.jar!/x.yml", false},  // the archive itself is not its members
      // degenerate
      {"", "/app/.env", false},
      {"/app/[ab", "/app/[ab", true},  // unclosed '[' is literal
  };
  for (const Case& c : cases) {
    INFO("glob " << c.glob << " path " << c.path);
    CHECK(glob_match(c.glob, c.path) == c.match);
  }
  CHECK(std::size(cases) >= 25);
}

TEST_CASE("glob_match stays fast on pathological patterns") {
  const std::string path = "/" + std::string(2000, 'a') + "/b";
  CHECK_FALSE(glob_match("/**/*a*a*a*a*a*a*a*a*a*a*a*/**/c", path));
  CHECK(glob_match("/**/*a*a*a*a*a*a*a*a*a*a*a*/**/b", path));
}

// ---------------------------------------------------------------------------------------------------
// apply() and suppress_hidden()

namespace {

report::ScanReport sample_report() {
  report::ScanReport scan;
  report::ImageReport image;
  image.reference = "oci:img";
  image.findings = {
      finding("scaleway.secret-key", "11111111-1111-4111-8111-111111111111", "/app/.env"),       // kFpA
      finding("scaleway.secret-key", "22222222-2222-4222-8222-222222222222", "/app/test/k.env"),  // kFpB
      finding("scaleway.access-key", "SCWAAAAAAAAAAAAAAAAA", "/usr/share/docs/readme.md"),       // kFpC
      finding("scaleway.secret-key", "33333333-3333-4333-8333-333333333333", "/usr/share/docs/x.md"),
      config_finding("44444444-4444-4444-8444-444444444444", "config.Env[2]"),
      finding("scaleway.access-key", "SCWBBBBBBBBBBBBBBBBB", "/srv/main.py"),
  };
  scan.images.push_back(image);
  return scan;
}

}  // namespace

TEST_CASE("apply: baseline fingerprints suppress with reason \"baseline\"") {
  report::ScanReport scan = sample_report();
  Suppressions s;
  s.baseline_fingerprints = {kFpA, kFpC, report::fingerprint("x.y", "unrelated")};
  s.baseline_origin = "baseline.json";
  CHECK(apply(scan, s) == 2);
  const report::ImageReport& image = scan.images[0];
  REQUIRE(image.suppressed.size() == 2);
  CHECK(image.suppressed[0].fingerprint == kFpA);
  CHECK(image.suppressed[1].fingerprint == kFpC);
  CHECK(image.suppressed[0].suppressed_by == "baseline");
  CHECK(image.suppressed[1].suppressed_by == "baseline");
  CHECK(paths_of(image.findings) == std::vector<std::string>{"/app/test/k.env", "/usr/share/docs/x.md", "config.Env[2]",
                                                             "/srv/main.py"});
  for (const report::Finding& f : image.findings) CHECK(f.suppressed_by.empty());
}

TEST_CASE("apply: rule ids, path globs and fingerprint entries") {
  report::ScanReport scan = sample_report();
  Suppressions s;
  s.ignores = {
      IgnoreEntry{"", "scaleway.access-key", "", "access keys are public ids", 3},
      IgnoreEntry{"/app/test/**", "", "", "test fixtures", 5},
      IgnoreEntry{"", "", kFpA, "accepted", 7},
  };
  CHECK(apply(scan, s) == 4);
  const report::ImageReport& image = scan.images[0];
  CHECK(paths_of(image.findings) == std::vector<std::string>{"/usr/share/docs/x.md", "config.Env[2]"});
  REQUIRE(image.suppressed.size() == 4);
  // Order of the original findings is kept; the first matching entry gives the reason.
  CHECK(paths_of(image.suppressed) ==
        std::vector<std::string>{"/app/.env", "/app/test/k.env", "/usr/share/docs/readme.md", "/srv/main.py"});
  CHECK(image.suppressed[0].suppressed_by == "ignore: accepted");
  CHECK(image.suppressed[1].suppressed_by == "ignore: test fixtures");
  CHECK(image.suppressed[2].suppressed_by == "ignore: access keys are public ids");
  CHECK(image.suppressed[3].suppressed_by == "ignore: access keys are public ids");
}

TEST_CASE("apply: all criteria of an entry must match") {
  report::ScanReport scan = sample_report();
  Suppressions s;
  s.ignores = {IgnoreEntry{"**/docs/**", "scaleway.access-key", "", "docs mention access keys", 1},
               IgnoreEntry{"/app/.env", "", kFpB, "wrong fingerprint for this path", 2}};
  CHECK(apply(scan, s) == 1);
  const report::ImageReport& image = scan.images[0];
  REQUIRE(image.suppressed.size() == 1);
  CHECK(image.suppressed[0].location.path == "/usr/share/docs/readme.md");  // the secret key in docs stays
  CHECK(image.findings.size() == 5);
}

TEST_CASE("apply: config findings are matched by field") {
  SECTION("literal field, even with brackets") {
    report::ScanReport scan = sample_report();
    Suppressions s;
    s.ignores = {IgnoreEntry{"config.Env[2]", "", "", "build arg, rotated", 1}};
    CHECK(apply(scan, s) == 1);
    REQUIRE(scan.images[0].suppressed.size() == 1);
    CHECK(scan.images[0].suppressed[0].location.field == "config.Env[2]");
    CHECK(scan.images[0].suppressed[0].suppressed_by == "ignore: build arg, rotated");
  }
  SECTION("glob over fields") {
    report::ScanReport scan = sample_report();
    Suppressions s;
    s.ignores = {IgnoreEntry{"config.Env*", "scaleway.secret-key", "", "env", 1}};
    CHECK(apply(scan, s) == 1);
    CHECK(scan.images[0].suppressed[0].location.kind == "config");
  }
  SECTION("a path glob does not match a config finding's empty path") {
    report::ScanReport scan = sample_report();
    Suppressions s;
    s.ignores = {IgnoreEntry{"/app/**", "", "", "app", 1}};
    CHECK(apply(scan, s) == 2);
    for (const report::Finding& f : scan.images[0].suppressed) CHECK(f.location.kind == "layer");
  }
}

TEST_CASE("apply: baseline wins over ignore entries; several images; already suppressed untouched") {
  report::ScanReport scan = sample_report();
  report::ImageReport second;
  second.reference = "oci:img2";
  second.findings = {finding("scaleway.secret-key", "11111111-1111-4111-8111-111111111111", "/other/.env"),
                     finding("scaleway.secret-key", "55555555-5555-4555-8555-555555555555", "/other/keep")};
  report::Finding old = finding("scaleway.secret-key", "66666666-6666-4666-8666-666666666666", "/old");
  old.suppressed_by = "ignore: earlier";
  second.suppressed = {old};
  scan.images.push_back(second);

  Suppressions s;
  s.baseline_fingerprints = {kFpA};
  s.ignores = {IgnoreEntry{"", "", kFpA, "also ignored", 1}, IgnoreEntry{"/old", "", "", "old", 2}};
  CHECK(apply(scan, s) == 2);
  CHECK(scan.images[0].suppressed.size() == 1);
  CHECK(scan.images[0].suppressed[0].suppressed_by == "baseline");
  REQUIRE(scan.images[1].suppressed.size() == 2);
  CHECK(scan.images[1].suppressed[0].suppressed_by == "ignore: earlier");  // untouched, still first
  CHECK(scan.images[1].suppressed[1].location.path == "/other/.env");
  CHECK(scan.images[1].suppressed[1].suppressed_by == "baseline");
  CHECK(paths_of(scan.images[1].findings) == std::vector<std::string>{"/other/keep"});
  CHECK(scan.max_severity().has_value());
}

TEST_CASE("apply: a hardlinked file is suppressed only when every path of it is ignored") {
  report::ScanReport scan;
  report::ImageReport image;
  report::Finding f = finding("scaleway.secret-key", "11111111-1111-4111-8111-111111111111", "/usr/share/doc/a.env");
  f.aliases = {"/app/.env"};
  image.findings = {f};
  scan.images.push_back(image);

  Suppressions only_docs;
  only_docs.ignores = {IgnoreEntry{"/usr/share/doc/**", "", "", "docs", 1}};
  CHECK(apply(scan, only_docs) == 0);
  CHECK(scan.images[0].findings.size() == 1);

  Suppressions both;
  both.ignores = {IgnoreEntry{"*.env", "", "", "all env files", 1}};
  CHECK(apply(scan, both) == 1);
  CHECK(scan.images[0].findings.empty());
}

TEST_CASE("apply: nothing to apply, or an entry without criteria, suppresses nothing") {
  report::ScanReport scan = sample_report();
  CHECK(apply(scan, Suppressions{}) == 0);
  Suppressions s;
  s.ignores = {IgnoreEntry{"", "", "", "matches nothing", 1}};
  CHECK(apply(scan, s) == 0);
  CHECK(scan.images[0].findings.size() == 6);
  CHECK(scan.images[0].suppressed.empty());
}

TEST_CASE("suppress_hidden moves deleted and overwritten findings, in order") {
  report::ScanReport scan = sample_report();
  auto& findings = scan.images[0].findings;
  findings[0].visibility = "deleted";
  findings[0].hidden_by_layer = 2;
  findings[2].visibility = "overwritten";
  findings[2].hidden_by_layer = 1;
  findings[3].visibility = "runtime";
  CHECK(suppress_hidden(scan) == 2);
  const report::ImageReport& image = scan.images[0];
  CHECK(paths_of(image.suppressed) == std::vector<std::string>{"/app/.env", "/usr/share/docs/readme.md"});
  for (const report::Finding& f : image.suppressed) CHECK(f.suppressed_by == "only-runtime");
  CHECK(paths_of(image.findings) == std::vector<std::string>{"/app/test/k.env", "/usr/share/docs/x.md", "config.Env[2]",
                                                             "/srv/main.py"});
  CHECK(suppress_hidden(scan) == 0);  // idempotent

  // Combined with apply(): the remaining findings can still be ignored, earlier reasons are kept.
  Suppressions s;
  s.ignores = {IgnoreEntry{"", "scaleway.access-key", "", "ids", 1}};
  CHECK(apply(scan, s) == 1);
  CHECK(image.suppressed.size() == 3);
  CHECK(image.suppressed[0].suppressed_by == "only-runtime");
  CHECK(image.suppressed[2].suppressed_by == "ignore: ids");
}
