// Incremental SHA-256 over OpenSSL's EVP interface (uses SHA-NI where present).
#pragma once

#include <memory>
#include <string_view>

#include "store/ids.h"

struct evp_md_ctx_st;

namespace gocachefs {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  // Finishes the digest; the object must not be updated afterwards.
  Id finish();

  static Id of(std::string_view bytes);

 private:
  struct Free {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, Free> ctx_;
};

// cmd/go's cache.Subkey: the ActionID of an entry derived from `parent`,
// SHA-256 of "subkey:", the parent and the description (as "stdout").
Id go_subkey(const Id& parent, std::string_view description);

}  // namespace gocachefs
