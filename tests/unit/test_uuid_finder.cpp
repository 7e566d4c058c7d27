// The UUID finder (scanner/detect/src/uuid_finder.h): which UUIDs become structural candidates, which are
// remembered as IDs, and that a UUID split across chunks, or ending the file, is found once.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "position.h"
#include "test_support.h"
#include "uuid_finder.h"

using namespace layerleak;
using namespace layerleak::detect;
namespace fx = layerleak::testing;

namespace {

constexpr const char* kKey = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c";

struct Found {
  std::vector<std::uint64_t> candidates, ids;
};

// The finder over `text` fed in chunks of `chunk` bytes through a position tracker, as the scanner does.
Found find(const std::string& text, std::size_t chunk) {
  Found out;
  PositionTracker position;
  position.reset();
  for (std::size_t at = 0; at < text.size(); at += chunk) {
    const std::string piece = text.substr(at, chunk);
    const Window window = position.window(std::span<const char>(piece.data(), piece.size()));
    find_uuid_candidates(window, out.candidates, out.ids);
    position.advance(std::span<const char>(piece.data(), piece.size()));
  }
  return out;
}

}  // namespace

TEST_CASE("uuid finder: secret-ish names, generic names and bare values are candidates; IDs are remembered", "[uuid-finder]") {
  const std::string k(kKey);
  struct Case {
    std::string text;
    std::size_t candidates, ids;
  };
  const std::vector<Case> cases = {
      {"SCW_SECRET_KEY=" + k + "\n", 1, 0},
      {"  value: " + k + "\n", 1, 0},
      {"secret:\n  " + k + "\n", 1, 0},
      {std::string("\x7f" "ELF\0SCW_SECRET_KEY\0", 20) + k, 1, 0},
      {"z$" + k, 1, 0},
      {"project_id: " + k + "\n", 0, 1},
      {"\"organizationId\": \"" + k + "\"", 0, 1},
      {"parent " + k + "\n", 0, 0},
      {"id: " + k + "\n", 0, 0},
      {"zone: fr-par/" + k + "\n", 0, 0},
      {"Credential=SCWPAXSFMY8TSNBBBDJV@" + k + "/20260817/fr-par/s3/aws4_request", 0, 0},
      {"token: 6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7\n", 0, 0},  // one hex digit short
  };
  for (const Case& c : cases) {
    for (std::size_t chunk : {1u, 2u, 3u, 7u, 13u, 64u, 4096u}) {
      INFO(c.text << " in chunks of " << chunk);
      const Found found = find(c.text, chunk);
      CHECK(found.candidates.size() == c.candidates);
      CHECK(found.ids.size() == c.ids);
    }
  }
}

TEST_CASE("uuid finder: the end offset is the UUID's end, also when it ends the file", "[uuid-finder]") {
  const std::string text = std::string("password=") + kKey;
  for (std::size_t chunk : {1u, 5u, 36u, 45u, 4096u}) {
    INFO("chunk " << chunk);
    const Found found = find(text, chunk);
    REQUIRE(found.candidates.size() == 1);
    CHECK(found.candidates[0] == text.size());
  }
}

TEST_CASE("uuid finder: text dense with dashes gives the same UUIDs at every chunk size and block offset", "[uuid-finder]") {
  // Lines that are UUIDs by name (candidates, IDs) among lines that only look like them: dash runs, dashes
  // 5 bytes apart around non-hex bytes, one hex digit short or long, package-list and command-line text.
  // Each line starts at a different offset from the 64-byte blocks the finder reads (the filler varies).
  const std::vector<std::string> noise = {
      "Depends: libc6 (>= 2.34), libgcc-s1 (>= 3.0), libstdc++6 (>= 11)\n",
      "-----BEGIN-----END-----\n",
      "--a--b--c--d--e--f--g--h--i--j--k--l--m--n--o--p--\n",
      "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\n",
      "token: 6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7\n",
      "value=6f2c1b7e-3d4a-4c5b-9e8f0-a1b2c3d6b7c\n",
      "run --rm -it --name web-1 -p 80:80 -e A=b\n",
  };
  std::string text;
  std::size_t candidates = 0, ids = 0;
  std::uint32_t seed = 12345;
  auto next = [&seed] { return seed = seed * 1103515245u + 12345u; };
  for (int i = 0; i < 400; ++i) {
    text += std::string(next() % 7, '-');
    switch (next() % 4) {
      case 0: text += "secret: " + std::string(kKey) + "\n"; ++candidates; break;
      case 1: text += "project_id=" + std::string(kKey) + "\n"; ++ids; break;
      default: text += noise[next() % noise.size()]; break;
    }
  }
  const Found whole = find(text, text.size());
  CHECK(whole.candidates.size() == candidates);
  CHECK(whole.ids.size() == ids);
  for (std::size_t chunk : {1u, 2u, 3u, 5u, 12u, 13u, 14u, 15u, 16u, 23u, 36u, 63u, 64u, 65u, 100u, 127u, 128u, 129u, 4096u}) {
    INFO("chunk " << chunk);
    const Found found = find(text, chunk);
    CHECK(found.candidates == whole.candidates);
    CHECK(found.ids == whole.ids);
  }
}
