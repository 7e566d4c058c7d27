#include "decoders.h"

#include <algorithm>

namespace layerleak::detect {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Four hex digits at in[i..i+4), or -1.
long hex4(std::string_view in, std::size_t i) {
  if (i + 4 > in.size()) return -1;
  long v = 0;
  for (std::size_t k = i; k < i + 4; ++k) {
    const int h = hex_value(in[k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

}  // namespace

std::uint32_t OffsetMap::source(std::uint32_t decoded) const {
  auto it = std::upper_bound(points_.begin(), points_.end(), std::make_pair(decoded, ~std::uint32_t{0}));
  if (it == points_.begin()) return decoded;
  --it;
  return it->second + (decoded - it->first);
}

bool decode_percent(std::string_view in, std::string& out, OffsetMap& map) {
  out.clear();
  map.clear();
  bool any = false;
  for (std::size_t i = 0; i < in.size();) {
    if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
        hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 3;
      map.add(static_cast<std::uint32_t>(out.size()), static_cast<std::uint32_t>(i));
      any = true;
      continue;
    }
    out.push_back(in[i] == '+' ? ' ' : in[i]);
    ++i;
  }
  return any;
}

bool decode_json_escapes(std::string_view in, std::string& out, OffsetMap& map) {
  out.clear();
  map.clear();
  bool any = false;
  for (std::size_t i = 0; i < in.size();) {
    if (in[i] != '\\' || i + 1 >= in.size()) {
      out.push_back(in[i++]);
      continue;
    }
    const char e = in[i + 1];
    std::size_t used = 2;
    switch (e) {
      case '"': case '\\': case '/': case '\'': out.push_back(e); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        const long first = hex4(in, i + 2);
        if (first < 0) {
          out.push_back(in[i++]);
          continue;
        }
        used = 6;
        std::uint32_t cp = static_cast<std::uint32_t>(first);
        if (cp >= 0xD800 && cp < 0xDC00) {
          const long second = in.substr(i + 6, 2) == "\\u" ? hex4(in, i + 8) : -1;
          if (second >= 0xDC00 && second < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<std::uint32_t>(second) - 0xDC00);
            used = 12;
          } else {
            cp = '?';
          }
        } else if (cp >= 0xDC00 && cp < 0xE000) {
          cp = '?';
        }
        append_utf8(cp, out);
        break;
      }
      default: out.push_back(in[i++]); continue;
    }
    i += used;
    map.add(static_cast<std::uint32_t>(out.size()), static_cast<std::uint32_t>(i));
    any = true;
  }
  return any;
}

Utf16 sniff_utf16(std::string_view head, std::size_t& bom) {
  bom = 0;
  if (head.size() >= 2) {
    const auto b0 = static_cast<unsigned char>(head[0]), b1 = static_cast<unsigned char>(head[1]);
    if (b0 == 0xFF && b1 == 0xFE) return bom = 2, Utf16::le;
    if (b0 == 0xFE && b1 == 0xFF) return bom = 2, Utf16::be;
  }
  // Without a mark: at least 8 code units, every high byte NUL and every low byte printable ASCII.
  const std::size_t units = std::min<std::size_t>(head.size() / 2, 64);
  if (units < 8) return Utf16::none;
  auto ascii = [](unsigned char c) { return c == '\t' || c == '\n' || c == '\r' || (c >= 0x20 && c < 0x7F); };
  bool le = true, be = true;
  for (std::size_t u = 0; u < units; ++u) {
    const auto a = static_cast<unsigned char>(head[2 * u]), b = static_cast<unsigned char>(head[2 * u + 1]);
    le = le && b == 0 && ascii(a);
    be = be && a == 0 && ascii(b);
  }
  return le ? Utf16::le : be ? Utf16::be : Utf16::none;
}

void Utf16Narrower::feed(std::span<const char> in, std::string& out) {
  std::size_t i = 0;
  auto emit = [&](unsigned char a, unsigned char b) {
    const unsigned char low = order_ == Utf16::le ? a : b, high = order_ == Utf16::le ? b : a;
    out.push_back(high == 0 && low < 0x80 ? static_cast<char>(low) : '?');
  };
  if (pending_ && !in.empty()) {
    emit(first_, static_cast<unsigned char>(in[0]));
    pending_ = false;
    i = 1;
  }
  for (; i + 1 < in.size(); i += 2) emit(static_cast<unsigned char>(in[i]), static_cast<unsigned char>(in[i + 1]));
  if (i < in.size()) {
    pending_ = true;
    first_ = static_cast<unsigned char>(in[i]);
  }
}

}  // namespace layerleak::detect
