#include <algorithm>

#include "layerleak/core.h"

namespace layerleak {

std::string_view errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::io: return "io";
    case Errc::not_found: return "not_found";
    case Errc::malformed: return "malformed";
    case Errc::unsupported: return "unsupported";
    case Errc::digest_mismatch: return "digest_mismatch";
    case Errc::limit: return "limit";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::internal: return "internal";
    case Errc::auth: return "auth";
    case Errc::network: return "network";
    case Errc::cancelled: return "cancelled";
  }
  return "unknown";
}

Error Error::with_context(std::string_view context) const {
  Error copy = *this;
  copy.message = std::string(context) + ": " + message;
  return copy;
}

Result<std::size_t> MemoryReader::read(std::span<char> out) {
  std::size_t n = std::min(out.size(), bytes_.size() - position_);
  std::copy_n(bytes_.data() + position_, n, out.data());
  position_ += n;
  return n;
}

Result<std::size_t> PrefixedReader::read(std::span<char> out) {
  if (prefix_pos_ < prefix_.size()) {
    const std::size_t n = std::min(out.size(), prefix_.size() - prefix_pos_);
    std::copy_n(prefix_.data() + prefix_pos_, n, out.data());
    prefix_pos_ += n;
    return n;
  }
  return inner_.read(out);
}

Result<std::string> read_all(ByteReader& reader, std::size_t max_bytes) {
  std::string data;
  char buffer[65536];
  while (true) {
    auto n = reader.read(buffer);
    if (!n) return std::move(n).error();
    if (*n == 0) return data;
    if (data.size() + *n > max_bytes) {
      return make_error(Errc::limit, "larger than the " + std::to_string(max_bytes) + "-byte limit");
    }
    data.append(buffer, *n);
  }
}

bool json_nesting_within(std::string_view text, int max_depth) noexcept {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

}  // namespace layerleak
