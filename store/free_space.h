// Whether the store's file system has room for an object a remote makes us
// write: a fetch must never fill the disk that builds write to.
#pragma once

#include <cstdint>
#include <filesystem>

namespace gocachefs {

// Left free after any fetch: room for the build's own outputs and the index.
constexpr std::uint64_t kFetchReserveBytes = 256ULL << 20;

// Whether `size` more bytes leave kFetchReserveBytes free on the file
// system of `dir` (statvfs; true when it cannot tell: a fetch is then
// bounded by the object's size, itself bounded by --max-object-size).
bool has_room_for(const std::filesystem::path& dir, std::uint64_t size);

}  // namespace gocachefs
