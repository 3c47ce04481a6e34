#include "store/ids.h"

#include <cstring>

#include "store/base64.h"

namespace gocachefs {

std::string to_hex(const Id& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(id.size() * 2, '\0');
  for (std::size_t i = 0; i < id.size(); ++i) {
    out[2 * i] = kDigits[id[i] >> 4];
    out[2 * i + 1] = kDigits[id[i] & 0xf];
  }
  return out;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not ours: names are always written lower case
}

std::optional<Id> id_from_hex(std::string_view hex) {
  Id id{};
  if (hex.size() != id.size() * 2) return std::nullopt;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return id;
}

std::string id_to_base64(const Id& id) {
  return base64::encode({reinterpret_cast<const char*>(id.data()), id.size()});
}

std::optional<Id> id_from_base64(std::string_view text) {
  const auto bytes = base64::decode(text);
  Id id{};
  if (!bytes || bytes->size() != id.size()) return std::nullopt;
  std::memcpy(id.data(), bytes->data(), id.size());
  return id;
}

}  // namespace gocachefs
