// Removing objects from the local store: trim (what has not been used for a
// while, and the least recently used beyond a size cap) and clean (all).
//
// Both drop rows first and remove files after, through the index's trash:
// a process killed halfway leaves files without rows (removed by the next
// trim, clean or verify), never a row without its file. Go commands may run
// meanwhile: a row checked again inside the write lock keeps an object that
// was used after it was chosen. A go command records its hits' uses every
// couple of seconds (src/cache.cpp), so files are removed only a while after
// their rows went: a use recorded meanwhile brings the row back
// (Index::record_uses) and the file stays for the go command that was told
// its path. So does a file whose row a put brought back.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "store/index.h"
#include "store/object_store.h"

namespace gocachefs {

// Longer than a go command takes to record its uses (2 s, src/cache.cpp).
constexpr std::chrono::nanoseconds kUnlinkAfter = std::chrono::seconds(5);

// Objects used this recently always stay: a build may be about to read
// them, and the lazy mount may have them open.
constexpr std::chrono::nanoseconds kKeepRecent = std::chrono::hours(1);

// The window in which a recorded last use means "used within `keep`". A go
// command rewrites an object's last use only once the recorded one is
// kLastUseGranularityNs old (store/index.h), so the real last use may be that
// much later than the recorded one.
constexpr std::chrono::nanoseconds keep_window(std::chrono::nanoseconds keep) {
  return keep + std::chrono::nanoseconds(kLastUseGranularityNs);
}

struct TrimPolicy {
  // Objects unused for longer go (cmd/go's own cache keeps five days).
  std::chrono::nanoseconds max_age = std::chrono::hours(24 * 5);
  // Beyond this many bytes the least recently used go as well (0: no cap).
  std::uint64_t max_size = 0;
  // Objects used this recently always stay (kKeepRecent); keep_window() says
  // which recorded uses that covers.
  std::chrono::nanoseconds keep_recent = kKeepRecent;
  // How long files outlive their rows (above).
  std::chrono::nanoseconds unlink_after = kUnlinkAfter;
};

struct EvictionReport {
  std::uint64_t objects_removed = 0;  // from the index
  std::uint64_t bytes_freed = 0;
  std::uint64_t files_deferred = 0;  // clean: files left for running go commands
  std::uint64_t bytes_deferred = 0;
  std::uint64_t objects_kept = 0;
  std::uint64_t bytes_kept = 0;
};

// Trims the store by `policy` as of `now_ns`.
EvictionReport trim_store(Index& index, ObjectStore& objects, const TrimPolicy& policy, std::int64_t now_ns);

// Empties the store as of `now_ns`: every action and object goes (the
// counters stay). With `in_use` (go commands are running on the store), the
// files of objects used within the last hour (kKeepRecent, by keep_window())
// stay on disk for another hour, without rows: a running go command may have
// been told their paths. The next trim, clean or verify after that hour
// removes them.
EvictionReport clean_store(Index& index, ObjectStore& objects, bool in_use, std::int64_t now_ns);

// Removes the files of objects trashed before `dropped_before_ns` that have
// no row again; returns how many files were removed.
std::uint64_t remove_trashed_files(Index& index, const ObjectStore& objects, std::int64_t dropped_before_ns);
// The same for these objects only (those the caller itself dropped), at once.
std::uint64_t remove_trashed_files(Index& index, const ObjectStore& objects, const std::vector<Id>& output_ids);

}  // namespace gocachefs
