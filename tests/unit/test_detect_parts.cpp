// The detector's parts tested one by one (scanner/detect/src, internal): decoders and their offset maps,
// UTF-16 sniffing and narrowing, the key path above a value, and the placeholder shapes.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "confirm.h"
#include "context.h"
#include "decoders.h"
#include "position.h"
#include "test_support.h"

using namespace layerleak;
using namespace layerleak::detect;

namespace {

std::string utf16(std::string_view ascii, Utf16 order, bool bom) {
  std::string out;
  if (bom) out += order == Utf16::le ? std::string("\xFF\xFE", 2) : std::string("\xFE\xFF", 2);
  for (char c : ascii) {
    if (order == Utf16::le) {
      out.push_back(c);
      out.push_back('\0');
    } else {
      out.push_back('\0');
      out.push_back(c);
    }
  }
  return out;
}

const rules::RuleSet& builtin() { return layerleak::testing::builtin_detector()->rules(); }

// key_context for the value that starts at the first `marker` in `text`, with the text cut into a
// window tail and a chunk at `split` (the reader must not care where the cut is).
KeyContext context_at(const std::string& text, std::string_view marker, std::size_t split = 0) {
  const std::size_t start = text.find(marker);
  REQUIRE(start != std::string::npos);
  split = std::min(split, start);
  const std::string tail = text.substr(0, split);
  const Window window{tail, std::span<const char>(text.data() + split, text.size() - split), split};
  return key_context(window, start, builtin());
}

// The context must be the same for every cut between the file's start and the value.
KeyContext context_everywhere(const std::string& text, std::string_view marker) {
  const KeyContext whole = context_at(text, marker, 0);
  const std::size_t start = text.find(marker);
  for (std::size_t split = 1; split <= start; split += 7) {
    INFO("split at " << split);
    const KeyContext cut = context_at(text, marker, split);
    CHECK(cut.names == whole.names);
    CHECK(cut.effective == whole.effective);
    CHECK(cut.section == whole.section);
  }
  return whole;
}

NameVerdict verdict(const std::string& text, std::string_view marker) {
  return judge_names(context_everywhere(text, marker), builtin());
}

std::string type_at(const std::string& text, std::string_view marker) {
  static const std::string no_tail;
  const Window window{no_tail, std::span<const char>(text.data(), text.size()), 0};
  return nearest_resource_type(window, text.find(marker));
}

constexpr std::string_view kUuid = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c";

}  // namespace

TEST_CASE("OffsetMap maps decoded offsets back through its checkpoints", "[detect-parts]") {
  OffsetMap empty;
  CHECK(empty.source(0) == 0);
  CHECK(empty.source(17) == 17);

  OffsetMap map;
  map.add(2, 4);
  map.add(5, 10);
  CHECK(map.source(0) == 0);
  CHECK(map.source(1) == 1);
  CHECK(map.source(2) == 4);
  CHECK(map.source(4) == 6);
  CHECK(map.source(5) == 10);
  CHECK(map.source(9) == 14);
  map.clear();
  CHECK(map.source(9) == 9);
}

TEST_CASE("decode_percent: escapes in any case, '+' as a space, invalid escapes kept, exact offsets",
          "[detect-parts]") {
  std::string out;
  OffsetMap map;
  REQUIRE(decode_percent("a%41b", out, map));
  CHECK(out == "aAb");
  CHECK(map.source(0) == 0);
  CHECK(map.source(1) == 1);  // the 'A' comes from the '%' at 1
  CHECK(map.source(2) == 4);  // the 'b'

  REQUIRE(decode_percent("x%2fy%2Fz", out, map));
  CHECK(out == "x/y/z");
  CHECK(map.source(4) == 8);

  // '+' is a space, but alone it is no escape: the line is not worth a decoded view.
  CHECK_FALSE(decode_percent("a+b", out, map));
  CHECK(out == "a b");
  REQUIRE(decode_percent("a+b%20c", out, map));
  CHECK(out == "a b c");

  // Invalid and truncated escapes stay as they are.
  CHECK_FALSE(decode_percent("100%zz and %4", out, map));
  CHECK(out == "100%zz and %4");
  REQUIRE(decode_percent("%%41%", out, map));
  CHECK(out == "%A%");
  CHECK(map.source(0) == 0);
  CHECK(map.source(1) == 1);
  CHECK(map.source(2) == 4);

  // A key whose separator and first character are escaped: every decoded offset lands on its source byte.
  const std::string source = "q=1&SCW_SECRET_KEY%3D%36f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c%26next=%2F";
  REQUIRE(decode_percent(source, out, map));
  CHECK(out == "q=1&SCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c&next=/");
  CHECK(map.source(static_cast<std::uint32_t>(out.find("=6f2c"))) == source.find("%3D"));
  CHECK(map.source(static_cast<std::uint32_t>(out.find("6f2c"))) == source.find("%36"));
  CHECK(map.source(static_cast<std::uint32_t>(out.find("f2c1"))) == source.find("f2c1"));
  CHECK(map.source(static_cast<std::uint32_t>(out.find("6b7c"))) == source.find("6b7c"));
  CHECK(map.source(static_cast<std::uint32_t>(out.find("next"))) == source.find("next"));
  CHECK(map.source(static_cast<std::uint32_t>(out.size() - 1)) == source.size() - 3);
}

TEST_CASE("decode_json_escapes: simple escapes, \\u, surrogate pairs, lone surrogates, invalid escapes kept",
          "[detect-parts]") {
  std::string out;
  OffsetMap map;
  REQUIRE(decode_json_escapes(R"(a\"b)", out, map));
  CHECK(out == "a\"b");
  CHECK(map.source(1) == 1);
  CHECK(map.source(2) == 3);

  REQUIRE(decode_json_escapes(R"(\\ \/ \b\f\n\r\t)", out, map));
  CHECK(out == "\\ / \b\f\n\r\t");

  REQUIRE(decode_json_escapes(R"(x\u0041y)", out, map));
  CHECK(out == "xAy");
  CHECK(map.source(1) == 1);
  CHECK(map.source(2) == 7);

  // U+00E9 and U+20AC in UTF-8.
  REQUIRE(decode_json_escapes(R"(\u00e9\u20AC!)", out, map));
  CHECK(out == "\xC3\xA9\xE2\x82\xAC!");
  CHECK(map.source(5) == 12);

  // A surrogate pair is one code point (U+1F600), four UTF-8 bytes; what follows maps past both escapes.
  REQUIRE(decode_json_escapes(R"(\ud83d\ude00z)", out, map));
  CHECK(out == "\xF0\x9F\x98\x80z");
  CHECK(map.source(4) == 12);

  // Lone surrogates become '?'; a high surrogate followed by anything but a low one too.
  REQUIRE(decode_json_escapes(R"(\ud83dx)", out, map));
  CHECK(out == "?x");
  CHECK(map.source(1) == 6);
  REQUIRE(decode_json_escapes(R"(\ude00)", out, map));
  CHECK(out == "?");
  REQUIRE(decode_json_escapes(R"(\ud83d\u0041)", out, map));
  CHECK(out == "?A");

  // Invalid escapes, short \u and a trailing backslash are kept byte for byte.
  CHECK_FALSE(decode_json_escapes(R"(C:\qtemp \u12 \uZZZZ end\)", out, map));
  CHECK(out == R"(C:\qtemp \u12 \uZZZZ end\)");
  CHECK_FALSE(decode_json_escapes("no escape here", out, map));

  // An escaped separator before a key: the secret maps back to its first byte in the source.
  const std::string source = R"({"env": "SCW_SECRET_KEY\u003d6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c\n\tnext"})";
  REQUIRE(decode_json_escapes(source, out, map));
  CHECK(out.find("SCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c\n\tnext") != std::string::npos);
  CHECK(map.source(static_cast<std::uint32_t>(out.find('='))) == source.find("\\u003d"));
  CHECK(map.source(static_cast<std::uint32_t>(out.find("6f2c"))) == source.find("6f2c"));
  CHECK(map.source(static_cast<std::uint32_t>(out.find("next"))) == source.find("next"));
}

TEST_CASE("sniff_utf16: marks, NUL-interleaved text, too short, binaries that are not UTF-16", "[detect-parts]") {
  std::size_t bom = 99;
  CHECK(sniff_utf16(utf16("SCW_SECRET_KEY=1", Utf16::le, true), bom) == Utf16::le);
  CHECK(bom == 2);
  CHECK(sniff_utf16(utf16("SCW_SECRET_KEY=1", Utf16::be, true), bom) == Utf16::be);
  CHECK(bom == 2);
  // A mark decides even for a file of one code unit.
  CHECK(sniff_utf16(std::string("\xFF\xFE", 2), bom) == Utf16::le);
  CHECK(bom == 2);

  CHECK(sniff_utf16(utf16("SCW_SECRET_KEY=1\r\n", Utf16::le, false), bom) == Utf16::le);
  CHECK(bom == 0);
  CHECK(sniff_utf16(utf16("SCW_SECRET_KEY=1\r\n", Utf16::be, false), bom) == Utf16::be);
  CHECK(bom == 0);
  // Eight code units are enough, seven are not.
  CHECK(sniff_utf16(utf16("ABCDEFGH", Utf16::le, false), bom) == Utf16::le);
  CHECK(sniff_utf16(utf16("ABCDEFG", Utf16::le, false), bom) == Utf16::none);
  CHECK(bom == 0);
  CHECK(sniff_utf16("", bom) == Utf16::none);

  // Plain ASCII, and binaries: NUL-interleaved but not printable, an ELF header, a NUL run.
  CHECK(sniff_utf16("SCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c", bom) == Utf16::none);
  std::string control;
  for (char c = 1; c < 20; ++c) control += std::string{c, '\0'};
  CHECK(sniff_utf16(control, bom) == Utf16::none);
  CHECK(sniff_utf16(std::string("\x7F"
                                "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x3E\0",
                                20),
                    bom) == Utf16::none);
  CHECK(sniff_utf16(std::string(64, '\0'), bom) == Utf16::none);
  // One non-ASCII unit among the first 64 rules it out (the mark is the way to say UTF-16 then).
  std::string accented =
      utf16("SCW_SECRET_KEY=", Utf16::le, false) + std::string("\xE9\0", 2) + utf16("x", Utf16::le, false);
  CHECK(sniff_utf16(accented, bom) == Utf16::none);
}

TEST_CASE("Utf16Narrower gives one byte per code unit whatever the chunk splits", "[detect-parts]") {
  const std::string text = "# caf\xE9\r\nSCW_SECRET_KEY=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c\r\n";
  for (Utf16 order : {Utf16::le, Utf16::be}) {
    INFO("order " << (order == Utf16::le ? "le" : "be"));
    std::string encoded;
    for (char c : text) {
      const char hi = '\0', lo = c;
      encoded += order == Utf16::le ? std::string{lo, hi} : std::string{hi, lo};
    }
    // U+4E2D (a CJK character) is not ASCII either.
    encoded += order == Utf16::le ? std::string("\x2D\x4E", 2) : std::string("\x4E\x2D", 2);
    std::string expected = text;
    expected[5] = '?';  // U+00E9: a non-zero low byte above 0x7F
    expected += '?';
    for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{5}, std::size_t{7},
                              std::size_t{11}, encoded.size()}) {
      INFO("chunk " << chunk);
      Utf16Narrower narrower(order);
      std::string out;
      for (std::size_t i = 0; i < encoded.size(); i += chunk) {
        narrower.feed(std::span<const char>(encoded.data() + i, std::min(chunk, encoded.size() - i)), out);
      }
      CHECK(out == expected);
    }
    // Uneven chunks: 1, 2, 3, 1, 2, 3, ...
    Utf16Narrower narrower(order);
    std::string out;
    std::size_t i = 0;
    for (std::size_t step = 0; i < encoded.size(); ++step) {
      const std::size_t n = std::min<std::size_t>(1 + step % 3, encoded.size() - i);
      narrower.feed(std::span<const char>(encoded.data() + i, n), out);
      i += n;
    }
    CHECK(out == expected);
  }
}

TEST_CASE("key_context: Terraform state outputs.<name>.value", "[detect-parts]") {
  const std::string state = std::string(R"({
  "version": 4,
  "outputs": {
    "scw_secret_key": {
      "value": ")") + std::string(kUuid) +
                            R"(",
      "type": "string",
      "sensitive": true
    }
  }
})";
  const KeyContext c = context_everywhere(state, kUuid);
  CHECK(c.own == "value");
  REQUIRE(c.names.size() >= 2);
  CHECK(c.names[0] == "value");
  CHECK(c.names[1] == "scw_secret_key");
  CHECK(c.effective == "scw_secret_key");
  CHECK(judge_names(c, builtin()) == NameVerdict::secret);
  CHECK(names_any(c, {"scw", "scaleway"}));

  // The same path under an ID name is an ID.
  std::string ids = state;
  ids.replace(ids.find("scw_secret_key"), 14, "project_id");
  const KeyContext id = context_everywhere(ids, kUuid);
  CHECK(id.effective == "project_id");
  CHECK(judge_names(id, builtin()) == NameVerdict::id);
}

TEST_CASE("key_context: HCL variable default", "[detect-parts]") {
  const std::string hcl = "variable \"scw_secret_key\" {\n  type      = string\n  sensitive = true\n  default   = \"" +
                          std::string(kUuid) + "\"\n}\n";
  const KeyContext c = context_everywhere(hcl, kUuid);
  CHECK(c.own == "default");
  CHECK(c.effective == "scw_secret_key");
  CHECK(judge_names(c, builtin()) == NameVerdict::secret);
  // A closed block before does not count as enclosing.
  const std::string two = "variable \"scw_secret_key\" {\n  default = \"x\"\n}\nvariable \"region\" {\n  default = \"" +
                          std::string(kUuid) + "\"\n}\n";
  const KeyContext other = context_everywhere(two, kUuid);
  CHECK(other.effective == "region");
  CHECK(judge_names(other, builtin()) == NameVerdict::none);
}

TEST_CASE("key_context: YAML values nested under keys and on the next line", "[detect-parts]") {
  const std::string nested =
      "providers:\n  scaleway:\n    secret:\n      # rotated monthly\n      value: " + std::string(kUuid) + "\n";
  const KeyContext c = context_everywhere(nested, kUuid);
  CHECK(c.own == "value");
  CHECK(c.effective == "secret");
  CHECK(c.names == std::vector<std::string>{"value", "secret", "scaleway", "providers"});
  CHECK(judge_names(c, builtin()) == NameVerdict::secret);
  CHECK(names_any(c, {"scw", "scaleway"}));

  const std::string next_line = "scw:\n  secret_key:\n    " + std::string(kUuid) + "\n";
  const KeyContext n = context_everywhere(next_line, kUuid);
  CHECK(n.own.empty());
  CHECK(n.effective == "secret_key");
  CHECK(n.names == std::vector<std::string>{"secret_key", "scw"});

  // A sibling key at the same indentation is not an enclosing one.
  const std::string sibling = "app:\n  secret_key: abc\n  instance: " + std::string(kUuid) + "\n";
  const KeyContext s = context_everywhere(sibling, kUuid);
  CHECK(s.effective == "instance");
  CHECK(judge_names(s, builtin()) == NameVerdict::none);
}

TEST_CASE("key_context: Kubernetes name/value pairs and JSON key/value objects", "[detect-parts]") {
  const std::string env = "env:\n  - name: SCW_SECRET_KEY\n    value: " + std::string(kUuid) + "\n";
  const KeyContext c = context_everywhere(env, kUuid);
  CHECK(c.own == "value");
  CHECK(c.effective == "SCW_SECRET_KEY");
  CHECK(judge_names(c, builtin()) == NameVerdict::secret);

  const std::string id_env = "env:\n  - name: SCW_DEFAULT_PROJECT_ID\n    value: " + std::string(kUuid) + "\n";
  CHECK(verdict(id_env, kUuid) == NameVerdict::id);

  const std::string json = R"([{"key": "SCW_SECRET_KEY", "value": ")" + std::string(kUuid) + R"("}])";
  const KeyContext j = context_everywhere(json, kUuid);
  CHECK(j.effective == "SCW_SECRET_KEY");
  CHECK(judge_names(j, builtin()) == NameVerdict::secret);

  // GitLab CI variables: the key on the line before.
  const std::string gitlab = "variables:\n  - key: SCW_SECRET_KEY\n    value: \"" + std::string(kUuid) + "\"\n";
  CHECK(context_everywhere(gitlab, kUuid).effective == "SCW_SECRET_KEY");
}

TEST_CASE("key_context: INI and TOML sections are context, never the value's name", "[detect-parts]") {
  const std::string ini = "[default]\nregion = fr-par\n\n[scaleway]\nsecret = " + std::string(kUuid) + "\n";
  const KeyContext c = context_everywhere(ini, kUuid);
  CHECK(c.section == "scaleway");
  CHECK(c.effective == "secret");
  CHECK(names_any(c, {"scw", "scaleway"}));
  CHECK_FALSE(names_any(c, {"mnq"}));
  CHECK(judge_names(c, builtin()) == NameVerdict::secret);

  const std::string toml = "[profiles.scw_prod]\nvalue = \"" + std::string(kUuid) + "\"\n";
  const KeyContext t = context_everywhere(toml, kUuid);
  CHECK(t.section == "profiles.scw_prod");
  CHECK(t.effective.empty());  // the section does not name the value
  CHECK(judge_names(t, builtin()) == NameVerdict::none);
  CHECK(names_any(t, {"scw"}));

  // An array line with text after it is not a section header.
  const std::string not_section = "[ \"a\", \"b\" ] trailing\nsecret = " + std::string(kUuid) + "\n";
  CHECK(context_everywhere(not_section, kUuid).section.empty());
}

TEST_CASE("key_context: another vendor's name wins, unless the value's own name is Scaleway's", "[detect-parts]") {
  // Under a vendor's object.
  const std::string snyk = "scaleway:\n  region: fr-par\nsnyk:\n  token: " + std::string(kUuid) + "\n";
  const KeyContext s = context_everywhere(snyk, kUuid);
  CHECK(s.effective == "token");
  CHECK(judge_names(s, builtin()) == NameVerdict::foreign);
  // The vendor in the value's own name, in JSON.
  CHECK(verdict(R"({"scw_region": "fr-par", "SNYK_TOKEN": ")" + std::string(kUuid) + "\"}", kUuid) ==
        NameVerdict::foreign);
  // In a section.
  CHECK(verdict("[datadog]\napi_key = " + std::string(kUuid) + "\n", kUuid) == NameVerdict::foreign);
  // In the name beside a generic value.
  CHECK(verdict("env:\n  - name: GITHUB_TOKEN\n    value: " + std::string(kUuid) + "\n", kUuid) ==
        NameVerdict::foreign);

  // A Scaleway name on the value beats a vendor ancestor (a GitHub Actions secrets map, a Vault path).
  const std::string github = "github:\n  secrets:\n    SCW_SECRET_KEY: " + std::string(kUuid) + "\n";
  const KeyContext g = context_everywhere(github, kUuid);
  CHECK(g.effective == "SCW_SECRET_KEY");
  CHECK(judge_names(g, builtin()) == NameVerdict::secret);
  CHECK(verdict("[vault]\nscaleway_secret_key = " + std::string(kUuid) + "\n", kUuid) == NameVerdict::secret);
  // ... but a generic name under the vendor does not.
  CHECK(verdict("github:\n  secrets:\n    token: " + std::string(kUuid) + "\n", kUuid) == NameVerdict::foreign);
}

TEST_CASE("key_context: ID names and names that say nothing", "[detect-parts]") {
  CHECK(verdict("SCW_DEFAULT_ORGANIZATION_ID=" + std::string(kUuid), kUuid) == NameVerdict::id);
  CHECK(verdict("organization: " + std::string(kUuid), kUuid) == NameVerdict::id);
  CHECK(verdict("project = \"" + std::string(kUuid) + "\"", kUuid) == NameVerdict::id);
  CHECK(verdict(R"({"instance_ids": [")" + std::string(kUuid) + "\"]}", kUuid) == NameVerdict::id);
  // "project" with a secret word is a secret: project_secret_key.
  CHECK(verdict("project_secret_key: " + std::string(kUuid), kUuid) == NameVerdict::secret);
  CHECK(verdict("SCW_SECRET_KEY=" + std::string(kUuid), kUuid) == NameVerdict::secret);
  CHECK(verdict("region: " + std::string(kUuid), kUuid) == NameVerdict::none);
  CHECK(verdict(std::string(kUuid), kUuid) == NameVerdict::none);
  // Generic names alone: nothing to go by.
  const KeyContext g = context_everywhere("value: " + std::string(kUuid), kUuid);
  CHECK(g.own == "value");
  CHECK(g.effective.empty());
  CHECK(judge_names(g, builtin()) == NameVerdict::none);
}

TEST_CASE("nearest_resource_type: Terraform state and HCL, the nearest one wins", "[detect-parts]") {
  const std::string state = R"({"resources": [
  {"type": "scaleway_iam_api_key", "name": "ci", "instances": [{"attributes": {"access_key": "SCW0RE86AB2CD4EF6GH8"}}]},
  {"type": "scaleway_cockpit_token", "name": "alloy", "instances": [{"attributes": {"secret_key": "TOKEN_HERE"}}]}
]})";
  CHECK(type_at(state, "SCW0RE86") == "scaleway_iam_api_key");
  CHECK(type_at(state, "TOKEN_HERE") == "scaleway_cockpit_token");
  const std::string hcl =
      "resource \"scaleway_mnq_sqs_credentials\" \"main\" {\n  project_id = \"x\"\n  name = \"TOKEN_HERE\"\n}\n";
  CHECK(type_at(hcl, "TOKEN_HERE") == "scaleway_mnq_sqs_credentials");
  CHECK(type_at("secret_key = \"TOKEN_HERE\"", "TOKEN_HERE").empty());
  // "type" with a spaced colon (pretty-printed state).
  CHECK(type_at("{\n  \"type\" : \"scaleway_cockpit_token\",\n  \"token\": \"TOKEN_HERE\"", "TOKEN_HERE") ==
        "scaleway_cockpit_token");
}

TEST_CASE("is_placeholder_uuid: uniform groups, ascending runs, few digits; random UUIDs pass", "[detect-parts]") {
  for (std::string_view placeholder : {
           "11111111-1111-1111-1111-111111111111", "00000000-0000-0000-0000-000000000001",
           "11111111-2222-3333-4444-555555555555", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
           "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE", "12345678-1234-5678-1234-567812345678",
           "01234567-89ab-cdef-0123-456789abcdef", "01234567-89AB-CDEF-0123-456789ABCDEF",
           "f8e7d6c5-6789-0123-4a5b-c6d7e8f9a0b1",  // 5678901234: ascending across a group, 9 then 0
           "e1f2a3b3-4567-89ab-c1d2-8d3c2b1a0f9e",  // 3456789abc across the dashes
           "2b8d6113-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
           "01234567-abcd-effe-dcba-012345678910",  // published by Scaleway, and 0123456789 at its end
       }) {
    INFO(placeholder);
    CHECK(is_placeholder_uuid(placeholder));
  }
  for (std::string_view real : {
           "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c",
           "7c2e6d1a-4b3f-4e8a-9c5d-2f1b0a9e8d7c",
           "A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D",
           "1edf21b0-a09c-4124-a9c4-53d4d65f8c79",
           "3af38057-360a-438a-a686-ff1fcc8d085e",
       }) {
    INFO(real);
    CHECK_FALSE(is_placeholder_uuid(real));
  }
}

TEST_CASE("is_placeholder_access_key: filler words, runs of one character, ascending runs", "[detect-parts]") {
  for (std::string_view placeholder : {
           "SCWXXXXXXXXXXXXXXXXX", "SCWFAKE0000000000000", "SCWEXAMPLE1234ABCDEF", "SCW0000000000ABCDEFG",
           "SCW111111R2D4F6H8K0M",  // six of one
           "SCW0123456789ABCDEFG",  // ascending in Crockford order
           "SCWR2ABCDEFGHJKD4F6H",  // ABCDEFGHJK: I skipped as Crockford does
           "SCW12345678RD4F6H8K0",  // eight ascending
       }) {
    INFO(placeholder);
    CHECK(is_placeholder_access_key(placeholder));
  }
  for (std::string_view real : {
           "SCW0RE86AB2CD4EF6GH8", "SCWK4M8R2T6V9X3Z5B7D",
           "SCW11111R2D4F6H8K0M3",  // five of one
           "SCW1234567RXD4F6H8K0",  // seven ascending
       }) {
    INFO(real);
    CHECK_FALSE(is_placeholder_access_key(real));
  }
}
