#include "store/sha256.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace gocachefs {

void Sha256::Free::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("cannot initialise SHA-256");
  }
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t size) {
  EVP_DigestUpdate(ctx_.get(), data, size);
}

Id Sha256::finish() {
  Id digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx_.get(), digest.data(), &length);
  return digest;
}

Id Sha256::of(std::string_view bytes) {
  Sha256 hash;
  hash.update(bytes.data(), bytes.size());
  return hash.finish();
}

Id go_subkey(const Id& parent, std::string_view description) {
  Sha256 hash;
  hash.update("subkey:", 7);
  hash.update(parent.data(), parent.size());
  hash.update(description.data(), description.size());
  return hash.finish();
}

}  // namespace gocachefs
