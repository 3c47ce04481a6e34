// Object contents for tests: random (incompressible) and text-like
// (compressible, like most build outputs), deterministic.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

namespace gocachefs::testing {

inline std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937_64 generator(seed);
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; i += 8) {
    const std::uint64_t value = generator();
    std::memcpy(bytes.data() + i, &value, std::min<std::size_t>(8, size - i));
  }
  return bytes;
}

inline std::string text_bytes(std::size_t size, const std::string& prefix = "") {
  std::string bytes = prefix;
  for (int i = 0; bytes.size() < size; ++i) bytes += "export data " + std::to_string(i * 7919 % 100003) + "\n";
  bytes.resize(size);
  return bytes;
}

}  // namespace gocachefs::testing
