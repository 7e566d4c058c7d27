#include "common.h"

#include <memory>

namespace layerleak::suppress::detail {

Result<std::string> read_text_file(const std::string& path, std::size_t max_bytes) {
  auto reader = FileReader::open(path);
  if (!reader) return std::move(reader).error();
  auto text = read_all(**reader, max_bytes);
  if (!text) return std::move(text).error().with_context(path);
  return std::move(text).value();
}

bool is_fingerprint(std::string_view text) {
  constexpr std::string_view prefix = "sha256:";
  if (text.size() != prefix.size() + 64) return false;
  if (to_lower(text.substr(0, prefix.size())) != prefix) return false;
  for (char c : text.substr(prefix.size())) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view blanks = " \t\r\n";
  const std::size_t first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  const std::size_t last = text.find_last_not_of(blanks);
  return text.substr(first, last - first + 1);
}

}  // namespace layerleak::suppress::detail
