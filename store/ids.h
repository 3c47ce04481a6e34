// ActionID and OutputID: the 32-byte keys cmd/go uses for cache entries.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gocachefs {

// An ActionID or an OutputID (a SHA-256). Both are 32 bytes in cmd/go.
using Id = std::array<std::uint8_t, 32>;

// Lower-case hex, 64 characters: how object files and remote keys are named.
std::string to_hex(const Id& id);
std::optional<Id> id_from_hex(std::string_view hex);

// Standard base64 with padding (44 characters): how IDs travel in the protocol.
std::string id_to_base64(const Id& id);
// Empty when `text` is not valid base64 of exactly 32 bytes.
std::optional<Id> id_from_base64(std::string_view text);

}  // namespace gocachefs
