// The detector through DetectorSession with the built-in rules: decoded views (UTF-16, percent, JSON
// escapes, base64 in base64) with their locations in the original bytes, packed binaries, and the
// severities settled per file (pairs, published examples, test paths, IDs, other vendors' names).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/detect.h"
#include "test_support.h"

using namespace layerleak;
using namespace std::string_literals;

namespace {

struct Found {
  std::string rule;
  std::string secret;
  std::uint64_t offset, line, column;
  std::string encoding;
  rules::Severity severity;
  rules::Confidence confidence;
  std::string paired;
  bool operator==(const Found&) const = default;
};

std::vector<Found> scan(std::string_view path, std::string_view bytes, std::size_t chunk = 0) {
  auto session = detect::DetectorSession::create(layerleak::testing::builtin_detector());
  REQUIRE(session);
  (*session)->begin(path);
  if (chunk == 0) chunk = bytes.size() ? bytes.size() : 1;
  for (std::size_t i = 0; i < bytes.size(); i += chunk) {
    auto piece = bytes.substr(i, chunk);
    REQUIRE((*session)->feed(std::span<const char>(piece.data(), piece.size())));
  }
  auto found = (*session)->finish();
  REQUIRE(found);
  std::vector<Found> out;
  for (const auto& d : *found) {
    out.push_back({d.rule->id, d.secret, d.offset, d.line, d.column, d.encoding, d.severity, d.confidence,
                   d.paired_access_key});
  }
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string utf16(std::string_view ascii, bool little_endian, bool bom) {
  std::string out;
  if (bom) out += little_endian ? std::string("\xFF\xFE", 2) : std::string("\xFE\xFF", 2);
  for (char c : ascii) {
    out.push_back(little_endian ? c : '\0');
    out.push_back(little_endian ? '\0' : c);
  }
  return out;
}

// 1-based line and byte column of `offset` in `bytes` (single-byte text).
std::pair<std::uint64_t, std::uint64_t> where(std::string_view bytes, std::uint64_t offset) {
  std::uint64_t line = 1, line_start = 0;
  for (std::uint64_t i = 0; i < offset; ++i) {
    if (bytes[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, offset - line_start + 1};
}

constexpr std::string_view kSecret = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c";
constexpr std::string_view kOther = "7c2e6d1a-4b3f-4e8a-9c5d-2f1b0a9e8d7c";
constexpr std::string_view kAccess = "SCW0RE86AB2CD4EF6GH8";

struct Case {
  std::string name;
  std::string bytes;
  std::string encoding;
  std::uint64_t offset;
  std::uint64_t line = 0, column = 0;  // 0: as where() says
};

std::vector<Case> encoded_cases() {
  std::vector<Case> cases;
  const std::string env = "# Windows env\r\nSCW_SECRET_KEY=" + std::string(kSecret) + "\r\nREGION=fr-par\r\n";
  const std::size_t at = env.find(kSecret);
  // Line 2; the key is the 16th character of its line, so its first byte is the line's 31st.
  cases.push_back({"utf16le with BOM", utf16(env, true, true), "utf16le", 2 + 2 * at, 2, 31});
  cases.push_back({"utf16le without BOM", utf16(env, true, false), "utf16le", 2 * at, 2, 31});
  cases.push_back({"utf16be with BOM", utf16(env, false, true), "utf16be", 2 + 2 * at, 2, 31});
  cases.push_back({"utf16be without BOM", utf16(env, false, false), "utf16be", 2 * at, 2, 31});
  // On line 1 the mark comes before the key: 2 + 2 * 15 + 1.
  const std::string first_line = "SCW_SECRET_KEY=" + std::string(kSecret) + "\r\n";
  cases.push_back({"utf16le with BOM, line 1", utf16(first_line, true, true), "utf16le", 2 + 2 * 15, 1, 33});
  cases.push_back({"utf16be without BOM, line 1", utf16(first_line, false, false), "utf16be", 2 * 15, 1, 31});

  const std::string log = "10.0.0.7 - - [01/Feb/2026] \"GET / HTTP/1.1\" 200\n"
                          "10.0.0.7 - - [01/Feb/2026] \"POST /hook?note=a+b&SCW_SECRET_KEY%3D" +
                          std::string(kSecret) + "%26region%3Dfr-par HTTP/1.1\" 204\n";
  cases.push_back({"percent", log, "percent", log.find(kSecret)});
  // The secret's own first character escaped: the finding points at the '%'.
  std::string first = "curl -d 'SCW_SECRET_KEY=%3" + std::string(kSecret) + "' https://example.org\n";
  const std::size_t escaped = first.find(kSecret) - 2;
  cases.push_back({"percent, first character escaped", first, "percent", escaped});

  const std::string notebook = "{\n \"cells\": [{\n  \"source\": [\"%env SCW_SECRET_KEY\\u003d" + std::string(kSecret) +
                               "\\n\"]\n }]\n}\n";
  cases.push_back({"json-escape", notebook, "json-escape", notebook.find(kSecret)});
  // JSON inside JSON: two rounds of unescaping.
  const std::string nested = "{\"payload\": \"{\\\"cfg\\\": \\\"SCW_SECRET_KEY\\\\u003d" + std::string(kSecret) +
                             "\\\"}\"}\n";
  cases.push_back({"json-escape, two rounds", nested, "json-escape", nested.find(kSecret)});

  const std::string k8s = "apiVersion: v1\nkind: Secret\ndata:\n  SCW_SECRET_KEY: " + base64(kSecret) + "\n";
  cases.push_back({"base64", k8s, "base64", k8s.find(base64(kSecret))});
  const std::string config = "{\"auths\":{\"rg.fr-par.scw.cloud\":{\"auth\":\"" + base64("nologin:" + std::string(kSecret)) +
                             "\"}}}";
  const std::string docker = "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: " +
                             base64(config) + "\n";
  cases.push_back({"base64+base64", docker, "base64+base64", docker.find(base64(config))});
  return cases;
}

}  // namespace

TEST_CASE("each encoding gives its name and the location of the encoded bytes, for every chunk size",
          "[detect-views]") {
  for (const Case& c : encoded_cases()) {
    INFO(c.name);
    const auto whole = scan("/app/settings", c.bytes);
    REQUIRE(whole.size() == 1);
    CHECK(whole[0].rule == "scaleway.secret-key");
    CHECK(whole[0].secret == kSecret);
    CHECK(whole[0].encoding == c.encoding);
    CHECK(whole[0].offset == c.offset);
    const auto [line, column] = where(c.bytes, c.offset);
    CHECK(whole[0].line == (c.line ? c.line : line));
    // The column counts bytes, like the offset (UTF-16: two per character).
    CHECK(whole[0].column == (c.column ? c.column : column));
    for (std::size_t chunk = 1; chunk <= 7; ++chunk) {
      INFO("chunk " << chunk);
      CHECK(scan("/app/settings", c.bytes, chunk) == whole);
    }
  }
}

TEST_CASE("keys packed in binaries are found; the same UUID in text with a letter before it is not",
          "[detect-views]") {
  const std::string nul(64, '\0');
  // A C string table: NUL-separated name and value.
  const std::string table = "\x7F" "ELF"s + nul + "SCW_DEFAULT_REGION\0fr-par\0SCW_SECRET_KEY\0"s + std::string(kSecret) +
                            "\0usage: sync\0"s;
  auto found = scan("/usr/local/bin/sync", table);
  REQUIRE(found.size() == 1);
  CHECK(found[0].secret == kSecret);
  CHECK(found[0].offset == table.find(kSecret));
  for (std::size_t chunk = 1; chunk <= 7; ++chunk) CHECK(scan("/usr/local/bin/sync", table, chunk) == found);

  // Go string data: literals side by side, no separators at all.
  const std::string go = nul + "unexpected EOFinvalid syntaxSCW_SECRET_KEY" + std::string(kSecret) +
                         "unknown flagSCW_ACCESS_KEY" + nul;
  found = scan("/usr/local/bin/app", go);
  REQUIRE(found.size() == 1);
  CHECK(found[0].rule == "scaleway.secret-key");
  CHECK(found[0].secret == kSecret);
  CHECK(found[0].offset == go.find(kSecret));

  // Go string data far from any NUL: a Scaleway secret name ending right at the value is the separator.
  std::string strings;
  while (strings.size() < 1024) strings += "invalid syntaxunexpected EOFhttp: no such file";
  const std::string packed = nul + strings + "SCW_SECRET_KEY" + std::string(kSecret) + "unknown flag" + strings;
  found = scan("/usr/local/bin/app", packed);
  REQUIRE(found.size() == 1);
  CHECK(found[0].offset == packed.find(kSecret));

  // SQLite records: column values side by side (key name, value, timestamp), in a Scaleway app's settings.
  const std::string record1 = "\x05\x04\x1f\x33storage.endpointhttps://s3.fr-par.scw.cloud2025-01-03 10:00:00";
  const std::string record2 = "M\x06\x04\x31U3storage.secret_key" + std::string(kSecret) + "2025-02-14 17:21:09";
  const std::string sqlite = "SQLite format 3" + nul + nul + record1 + nul + record2 + nul;
  found = scan("/var/lib/app/app.sqlite3", sqlite);
  REQUIRE(found.size() == 1);
  CHECK(found[0].secret == kSecret);
  CHECK(found[0].offset == sqlite.find(kSecret));

  // The same bytes as text (no NUL anywhere): the letter before the UUID makes it part of a longer word.
  const std::string text = "storage.endpoint=https://s3.fr-par.scw.cloud\nstorage.secret_key" + std::string(kSecret) +
                           "2025-02-14 17:21:09\n";
  CHECK(scan("/var/lib/app/settings.txt", text).empty());
  CHECK(scan("/app/.env", "SCW_API_URL=https://api.scaleway.com\nSCW_SECRET_KEY=z" + std::string(kSecret) + "\n").empty());

  // A UUID with no name in a binary counts only when the binary also holds an access key.
  const std::string bare = nul + "bucket\0object\0exec scw\0\0\0"s + std::string(kSecret) + nul;
  CHECK(scan("/usr/bin/tool", bare).empty());
  const std::string with_key = bare + "SCW_ACCESS_KEY\0"s + std::string(kAccess) + nul;
  found = scan("/usr/bin/tool", with_key);
  REQUIRE(found.size() == 2);
  CHECK(found[0].secret == kSecret);
  CHECK(found[1].secret == kAccess);
}

TEST_CASE("resource_types and line_after decide from the bytes around the secret", "[detect-views]") {
  const std::string token = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5mN7pQ9rS1tU3v";
  const std::string state = "{\"resources\": [{\"type\": \"scaleway_cockpit_token\", \"name\": \"alloy\",\n"
                            "  \"instances\": [{\"attributes\": {\"secret_key\": \"" + token + "\"}}]}]}\n";
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{7}, state.size()}) {
    INFO("chunk " << chunk);
    auto found = scan("/srv/terraform.tfstate", state, chunk);
    REQUIRE(found.size() == 1);
    CHECK(found[0].rule == "scaleway.cockpit-token");
    CHECK(found[0].secret == token);
  }
  std::string other = state;
  other.replace(other.find("scaleway_cockpit_token"), 22, "acme_webhook_signature");
  for (const auto& f : scan("/srv/terraform.tfstate", other)) CHECK(f.rule != "scaleway.cockpit-token");

  // echo <key> | docker login: the rest of the line must say login.
  const std::string login = "REGISTRY=rg.fr-par.scw.cloud\necho " + std::string(kSecret) +
                            " | docker login rg.fr-par.scw.cloud -u nologin --password-stdin\n";
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{5}, login.size()}) {
    INFO("chunk " << chunk);
    auto found = scan("/build.sh", login, chunk);
    REQUIRE(found.size() == 1);
    CHECK(found[0].secret == kSecret);
  }
  CHECK(scan("/build.sh", "REGISTRY=rg.fr-par.scw.cloud\necho " + std::string(kSecret) + " > /tmp/run-id\n").empty());
}

TEST_CASE("an access key alone is info; with its secret key it is low and the two are paired", "[detect-views]") {
  auto alone = scan("/app/.env", "SCW_ACCESS_KEY=" + std::string(kAccess) + "\n");
  REQUIRE(alone.size() == 1);
  CHECK(alone[0].rule == "scaleway.access-key");
  CHECK(alone[0].severity == rules::Severity::info);

  auto pair = scan("/app/.env", "SCW_ACCESS_KEY=" + std::string(kAccess) + "\nSCW_SECRET_KEY=" + std::string(kSecret) + "\n");
  REQUIRE(pair.size() == 2);
  CHECK(pair[0].rule == "scaleway.access-key");
  CHECK(pair[0].severity == rules::Severity::low);
  CHECK(pair[1].rule == "scaleway.secret-key");
  CHECK(pair[1].severity == rules::Severity::critical);
  CHECK(pair[1].paired == kAccess);
  CHECK(pair[1].confidence == rules::Confidence::high);
}

TEST_CASE("a value Scaleway publishes as an example is info", "[detect-views]") {
  // From rules/data/published-examples.yaml: the key in Scaleway's API documentation.
  const std::string published = "720438f9-fcb9-4ebb-80a7-808ebf15314b";
  const auto& examples = layerleak::testing::builtin_detector()->rules().published_examples;
  REQUIRE(std::any_of(examples.begin(), examples.end(), [&](const auto& e) { return e.value == published; }));
  for (const std::string& value : {published, std::string("720438F9-FCB9-4EBB-80A7-808EBF15314B")}) {
    INFO(value);
    auto found = scan("/usr/share/doc/app/README.md", "export SCW_SECRET_KEY=" + value + "\n");
    REQUIRE(found.size() == 1);
    CHECK(found[0].severity == rules::Severity::info);
    CHECK(found[0].confidence == rules::Confidence::low);
  }
  // Every published secret key the rules still find is info.
  std::size_t seen = 0;
  for (const auto& e : examples) {
    if (e.kind != "secret_key") continue;
    INFO(e.value);
    for (const auto& f : scan("/app/.env", "SCW_SECRET_KEY=" + e.value + "\n")) {
      CHECK(f.severity == rules::Severity::info);
      ++seen;
    }
  }
  CHECK(seen >= 3);
  // A value that is not published stays critical.
  auto real = scan("/usr/share/doc/app/README.md", "export SCW_SECRET_KEY=" + std::string(kSecret) + "\n");
  REQUIRE(real.size() == 1);
  CHECK(real[0].severity == rules::Severity::critical);
}

TEST_CASE("findings in test sources are at most low", "[detect-views]") {
  const std::string text = "SCW_ACCESS_KEY=" + std::string(kAccess) + "\nSCW_SECRET_KEY=" + std::string(kSecret) + "\n";
  for (const char* path : {"/src/app/config_test.go", "/app/src/__tests__/client.js", "/app/src/auth.spec.ts",
                           "/app/node_modules/scw/index.js", "/srv/tests/test_config.py"}) {
    INFO(path);
    auto found = scan(path, text);
    REQUIRE(found.size() == 2);
    for (const auto& f : found) {
      CHECK(f.severity <= rules::Severity::low);
      CHECK(f.confidence == rules::Confidence::low);
    }
  }
  auto real = scan("/src/app/config.go", text);
  REQUIRE(real.size() == 2);
  CHECK(real[1].severity == rules::Severity::critical);
}

TEST_CASE("a UUID the same file uses as a project ID is not a secret key", "[detect-views]") {
  const std::string both = "SCW_DEFAULT_PROJECT_ID=" + std::string(kSecret) + "\nscaleway:\n  secret_key: " +
                           std::string(kSecret) + "\n";
  CHECK(scan("/app/config.yaml", both).empty());
  const std::string reverse = "[scaleway]\nsecret_key = " + std::string(kSecret) + "\nproject_id = " +
                              std::string(kSecret) + "\n";
  CHECK(scan("/app/config.ini", reverse).empty());
  // A different project ID leaves the secret key alone.
  const std::string other = "SCW_DEFAULT_PROJECT_ID=" + std::string(kOther) + "\nscaleway:\n  secret_key: " +
                            std::string(kSecret) + "\n";
  auto found = scan("/app/config.yaml", other);
  REQUIRE(found.size() == 1);
  CHECK(found[0].secret == kSecret);
}

TEST_CASE("another vendor's token in a Scaleway file is not reported", "[detect-views]") {
  const std::string env = "SCW_ACCESS_KEY=" + std::string(kAccess) + "\nSCW_SECRET_KEY=" + std::string(kSecret) +
                          "\nSCW_API_URL=https://api.scaleway.com\nSNYK_TOKEN=" + std::string(kOther) +
                          "\nCODECOV_TOKEN: " + std::string(kOther) + "\n";
  auto found = scan("/app/.env", env);
  REQUIRE(found.size() == 2);
  for (const auto& f : found) CHECK(f.secret != kOther);
  // Without the vendor's name the same UUID, as a generic secret, is a Scaleway finding in this file.
  std::string generic = env;
  generic.replace(generic.find("SNYK_TOKEN"), 10, "API_TOKEN");
  auto more = scan("/app/.env", generic);
  CHECK(std::any_of(more.begin(), more.end(), [](const Found& f) { return f.secret == kOther; }));
}

TEST_CASE("decoded views are bounded: 10 MB of escaped lines finish", "[detect-views]") {
  // Lines that open the gate and hold escapes of both kinds; a secret in the first line (inside the budget).
  std::string text = "{\"log\": \"POST /hook?SCW_SECRET_KEY%3D" + std::string(kSecret) + "%26a%3Db\"}\n";
  const std::string line = "{\"msg\": \"GET /api/scw?q=a%20b%2Fc\\u0041\\\"x\\\" scw region fr-par\"}\n";
  while (text.size() < (10u << 20)) text += line;
  // And one 2 MB line of escapes at the end (cut into segments).
  std::string long_line;
  while (long_line.size() < (2u << 20)) long_line += "scw%20\\u0041";
  text += long_line + "\n";
  const auto started = std::chrono::steady_clock::now();
  auto found = scan("/var/log/app.log", text, 1 << 16);
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  INFO("took " << seconds << " s");
  REQUIRE(found.size() == 1);
  CHECK(found[0].secret == kSecret);
  CHECK(found[0].encoding == "percent");
  CHECK(found[0].line == 1);
  CHECK(found[0].offset == text.find(kSecret));
  CHECK(seconds < 120);
}
