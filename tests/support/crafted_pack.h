// Packs written by hand, as a hostile remote could serve them: a header and
// an index that declares whatever the test wants, and nothing after it
// (readers judge an index before any object's bytes arrive). The layout is
// store/pack.cpp's: u32 object count, u32 action count, then per object its
// OutputID, u64 size, u32 front size, u8 flags and head SHA-256, per action
// its ActionID, u32 object number and i64 put time, all little-endian.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "store/pack.h"
#include "store/sha256.h"

namespace gocachefs::testing {

// A pack of `objects` objects of `size` bytes whose fronts are `front_size`
// bytes (a head when smaller than `size`), each used by one action.
inline std::string crafted_pack(std::uint32_t objects, std::uint64_t size, std::uint32_t front_size) {
  std::string index;
  const auto put = [&](std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) index.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  };
  const auto put_id = [&](const Id& id) { index.append(reinterpret_cast<const char*>(id.data()), id.size()); };
  put(objects, 4);
  put(objects, 4);
  for (std::uint32_t i = 0; i < objects; ++i) {
    put_id(Sha256::of("crafted object " + std::to_string(i)));
    put(size, 8);
    put(front_size, 4);
    put(0, 1);  // no body
    put_id(Sha256::of(std::string(front_size, '\0')));
  }
  for (std::uint32_t i = 0; i < objects; ++i) {
    put_id(Sha256::of("crafted action " + std::to_string(i)));
    put(i, 4);
    put(1, 8);
  }
  std::string frame(ZSTD_compressBound(index.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), index.data(), index.size(), 1));
  std::string header = nlohmann::json{{"gocachefs_pack", 2},
                                      {"index_bytes", frame.size()},
                                      {"front_bytes", 1000},
                                      {"frames_bytes", 0},
                                      {"body_bytes", 0}}
                           .dump();
  header.resize(kPackHeaderSize - 1, ' ');
  return header + "\n" + frame;
}

}  // namespace gocachefs::testing
