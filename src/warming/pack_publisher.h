// Writes a job's packs, at the close of each of its go commands: the
// actions the job used so far (the journal, in first-use order) that the
// packs it already names do not hold go into one new pack; packs of which
// the job used some but less than half are dropped from the pointer, and
// what it used of them is packed anew (see packs_to_keep). A handful of new
// actions is left to per-action gets rather than cost a pack and a pointer. The pack is uploaded before the pointer that names
// it, and the pointer only when it changed: a job that used exactly what
// the last one left writes nothing. A job killed halfway leaves the packs
// of its earlier go commands.
#pragma once

#include <cstdint>
#include <string>

#include "store/index.h"
#include "store/object_store.h"
#include "store/record_signing.h"
#include "store/remote/remote.h"

namespace gocachefs {

struct PublishedPacks {
  std::uint64_t pack_bytes = 0;  // of the new pack, 0 when none was needed
  std::size_t pack_actions = 0;
  std::size_t skipped = 0;  // actions whose objects are not stored here (lazy hits never read whole)
  bool pointer_written = false;
  std::string refused;  // why the remote refused the pack or pointer for good (a rate limit, a full cache)
};

// Objects the lazy mount answered and nobody read beyond their head
// (Index::lazy_objects_unread) travel as heads only, or, to a store of packs
// only (gha://), whole but cold (last, read by range). Errors are logged and
// leave the remote as it was; never throws. With `keys`, the pack and the
// pointer are signed by the first key.
PublishedPacks publish_packs(const std::string& key, Index& index, ObjectStore& objects, Remote& remote,
                             const SigningKeys* keys = nullptr);

}  // namespace gocachefs
