// fuzz_layer_codec: bytes -> cache::decode_layer, the reader of cached per-layer results (CBOR, from the
// SQLite cache file, which another process or a damaged disk may have written). It must never crash,
// hang or allocate beyond a small multiple of its input; a record it accepts must encode to bytes that
// decode to the same record and encode to the same bytes again (the encoding is canonical).
#include <string>
#include <string_view>

#include "fuzz_entry.h"
#include "layerleak/cache.h"

LAYERLEAK_FUZZ_TARGET(layer_codec) {
  using namespace layerleak;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto decoded = cache::decode_layer(input);
  if (!decoded) return 0;
  const std::string encoded = cache::encode_layer(*decoded);
  auto again = cache::decode_layer(encoded);
  if (!again) __builtin_trap();
  if (cache::encode_layer(*again) != encoded) __builtin_trap();
  if (again->detections.size() != decoded->detections.size() || again->entries != decoded->entries ||
      again->changes.entries != decoded->changes.entries || again->hardlinks != decoded->hardlinks ||
      again->compression != decoded->compression) {
    __builtin_trap();
  }
  return 0;
}
