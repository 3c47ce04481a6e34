// `gocachefs verify`: checks every object of the local store against its
// name and the index against the files, and repairs what it finds. Builds
// may run meanwhile (see store/eviction.h for how rows and files stay in
// step).
#pragma once

#include <cstdint>
#include <functional>

#include "store/index.h"
#include "store/object_store.h"

namespace gocachefs {

struct VerifyOptions {
  bool quick = false;  // sizes only, no re-hashing
  // Called now and then with objects and bytes checked so far, of the totals.
  std::function<void(std::uint64_t objects, std::uint64_t of_objects, std::uint64_t bytes, std::uint64_t of_bytes)>
      progress;
};

struct VerifyReport {
  std::uint64_t objects_checked = 0;
  std::uint64_t bytes_checked = 0;
  std::uint64_t corrupt = 0;          // bytes no longer hash to the name: removed with their actions
  std::uint64_t wrong_size = 0;       // truncated or grown: removed with their actions
  std::uint64_t missing_files = 0;    // a row without its file: the row and its actions dropped
  std::uint64_t orphan_files = 0;     // a file without a row: removed
  std::uint64_t rows_restored = 0;    // actions named an object without a row whose file was good: row added
  std::uint64_t actions_dropped = 0;  // of objects named by actions, with neither row nor good file
  bool clean() const {
    return corrupt + wrong_size + missing_files + orphan_files + rows_restored + actions_dropped == 0;
  }
};

VerifyReport verify_store(Index& index, ObjectStore& objects, const VerifyOptions& options);

}  // namespace gocachefs
