// What the lazy mount needs from the daemon that hosts it: an object's bytes,
// fetched whole and verified, when a read goes beyond the head it was given.
#pragma once

#include <cstdint>
#include <string>

#include "store/ids.h"

namespace gocachefs {

struct FetchResult {
  std::string path;   // the verified object in the local store
  std::string error;  // why there is none; logged and remembered by LazyFs
  bool ok() const { return error.empty(); }
};

class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  // Fetches the whole object, verifies that its SHA-256 is `output_id` and
  // its size `size`, keeps it in the local store and returns the path of the
  // local file; or an error message. Blocking: LazyFs calls it from FUSE
  // worker threads, at most once at a time per object.
  virtual FetchResult fetch_whole(const Id& output_id, std::uint64_t size) = 0;
  // Whether the object's bytes are on their way without a fetch (a pack's
  // stream brings them): reading it ahead would only wait for them, and hold
  // up a reader that joined, which should decide for itself whether to wait.
  virtual bool arriving(const Id& /*output_id*/) { return false; }
};

}  // namespace gocachefs
