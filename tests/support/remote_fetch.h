// Reading a whole remote entry into memory, for remote tests.
#pragma once

#include <string>

#include "store/remote/remote.h"

namespace gocachefs::testing {

inline RemoteResult fetch_all(Remote& remote, const std::string& key, std::string* out) {
  out->clear();
  return remote.fetch(key, [&](const char* data, std::size_t size) {
    out->append(data, size);
    return true;
  });
}

}  // namespace gocachefs::testing
