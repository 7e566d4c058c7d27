// The word filter of the escape-decoding stages (scanner/detect/src/decode_stage.h): a line with an escape
// is decoded only when it names a credential. Checked at every offset from the 16-byte blocks the filter
// reads, in every case, next to bytes that lower to nothing, and against lines that must not pass.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "decode_stage.h"

using layerleak::detect::names_a_credential;

namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  return s;
}

// Upper case on every other letter: "SeCrEt".
std::string mixed(std::string s) {
  for (std::size_t i = 0; i < s.size(); i += 2) s[i] = static_cast<char>(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
  return s;
}

}  // namespace

TEST_CASE("credential words: found in any case at every offset of a line, binary bytes around them", "[decode-stage]") {
  const std::vector<std::string> words = {"scw", "scaleway", "secret", "token", "passw", "api_key", "apikey", "auth", "nkey"};
  const std::string binary("\x00\x5c\x13\xff\x7f\x40\x60\x5b\x7b\xd3", 10);  // NUL, '\\', '@', '`', '[', '{', 0xd3
  for (const std::string& word : words) {
    for (const std::string& spelled : {word, upper(word), mixed(word)}) {
      for (std::size_t before = 0; before < 40; ++before) {
        for (std::size_t after : {0u, 1u, 15u, 16u, 17u}) {
          std::string line;
          for (std::size_t i = 0; i < before; ++i) line += binary[i % binary.size()];
          line += spelled;
          for (std::size_t i = 0; i < after; ++i) line += binary[(i + 3) % binary.size()];
          INFO(spelled << " after " << before << " bytes, " << after << " after it");
          CHECK(names_a_credential(line));
        }
      }
    }
  }
}

TEST_CASE("credential words: lines that only come close are not decoded", "[decode-stage]") {
  const std::vector<std::string> lines = {
      "",
      "\\fBls\\fR lists directory contents",
      "printf(\"%s\\n\", path); /* see the manual */",
      "sc w se cre t tok en pas sw api-key api key au th n key",
      std::string("SC\x13W SE\x00" "CRET T\x00KEN", 19),  // broken by control bytes
      "s\x03w \x13" "cw \x53\x03\x57",  // 0x03 | 0x20 is '#', not 'c'
      "path=/usr/share/doc; see also: tox, pack, apt, autumn-free? no: aut h, n-key",
  };
  for (const std::string& line : lines) {
    INFO(line);
    CHECK_FALSE(names_a_credential(line));
  }
  CHECK(names_a_credential(std::string(4097, '\\')));  // a long line is always decoded
  CHECK_FALSE(names_a_credential(std::string(4096, '\\')));
}
