#include "store/base64.h"

#include <modp_b64.h>

namespace gocachefs::base64 {

std::string encode(std::string_view bytes) {
  std::string out(modp_b64_encode_len(bytes.size()), '\0');
  const std::size_t n = modp_b64_encode(out.data(), bytes.data(), bytes.size());
  out.resize(n);
  return out;
}

std::optional<std::size_t> decode_into(std::string_view text, char* out) {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return 0;
  // modp_b64 accepts '=' only as trailing padding and rejects any other
  // character outside the alphabet, returning (size_t)-1.
  const std::size_t n = modp_b64_decode(out, text.data(), text.size());
  if (n == static_cast<std::size_t>(-1)) return std::nullopt;
  return n;
}

std::optional<std::string> decode(std::string_view text) {
  std::string out(decoded_capacity(text.size()), '\0');
  const auto n = decode_into(text, out.data());
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

}  // namespace gocachefs::base64
