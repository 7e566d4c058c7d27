#include <openssl/evp.h>


#include "layerleak/core.h"

namespace layerleak {

Result<Digest> Digest::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return make_error(Errc::malformed, "digest without algorithm: \"" + std::string(text.substr(0, 80)) + "\"");
  }
  std::string_view algorithm = text.substr(0, colon);
  std::string_view hex = text.substr(colon + 1);
  if (algorithm != "sha256") {
    return make_error(Errc::unsupported, "unsupported digest algorithm \"" + std::string(algorithm.substr(0, 20)) + "\"");
  }
  if (hex.size() != 64) return make_error(Errc::malformed, "sha256 digest must have 64 hex digits");
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return make_error(Errc::malformed, "sha256 digest must be lowercase hex");
    }
  }
  return Digest{std::string(algorithm), std::string(hex)};
}

struct Sha256::Impl {
  struct CtxDeleter {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx{EVP_MD_CTX_new()};
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  // Why no error path: EVP_sha256 initialisation only fails on allocation failure, which the rest of
  // the program cannot survive either.
  EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr);
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::span<const char> bytes) {
  if (!bytes.empty()) EVP_DigestUpdate(impl_->ctx.get(), bytes.data(), bytes.size());
}

Digest Sha256::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx.get(), out, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 15]);
  }
  return Digest{"sha256", std::move(hex)};
}

Digest Sha256::of(std::string_view text) {
  Sha256 h;
  h.update(text);
  return h.finish();
}

HashingReader::HashingReader(ByteReader& inner, std::optional<Digest> expected, std::string what)
    : inner_(inner), lender_(dynamic_cast<BlockReader*>(&inner)), expected_(std::move(expected)), what_(std::move(what)) {}

Status HashingReader::hashed(std::span<const char> bytes) {
  if (!bytes.empty()) {
    hasher_.update(bytes);
    bytes_ += bytes.size();
    return Ok{};
  }
  computed_ = hasher_.finish();
  if (expected_ && *expected_ != *computed_) {
    return make_error(Errc::digest_mismatch, what_ + " digest mismatch: expected " + expected_->str() +
                                                 ", content hashes to " + computed_->str());
  }
  return Ok{};
}

Result<std::size_t> HashingReader::read(std::span<char> out) {
  if (computed_) return std::size_t{0};
  auto n = inner_.read(out);
  if (!n) return n;
  if (auto st = hashed(out.first(*n)); !st) return std::move(st).error();
  return n;
}

Result<std::span<const char>> HashingReader::read_block() {
  if (computed_) return std::span<const char>();
  std::span<const char> block;
  if (lender_ != nullptr) {
    auto lent = lender_->read_block();
    if (!lent) return std::move(lent).error();
    block = *lent;
  } else {
    constexpr std::size_t kBuffer = 256 * 1024;
    if (!buffer_) buffer_.reset(new char[kBuffer]);
    auto n = inner_.read(std::span<char>(buffer_.get(), kBuffer));
    if (!n) return std::move(n).error();
    block = std::span<const char>(buffer_.get(), *n);
  }
  if (auto st = hashed(block); !st) return std::move(st).error();
  return block;
}

}  // namespace layerleak
