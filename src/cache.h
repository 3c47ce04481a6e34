// Cache semantics (get, put, flush) over the local store. Knows nothing of
// JSON or of which process it lives in, so a daemon can host it later.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/ids.h"
#include "store/index.h"
#include "store/object_store.h"

namespace gocachefs {

struct CacheHit {
  Id output_id{};
  std::uint64_t size = 0;
  std::int64_t put_time_ns = 0;
  std::string disk_path;
};

// A put whose body is still arriving.
struct PendingPut {
  Id action_id{};
  Id output_id{};
  std::uint64_t size = 0;
  std::unique_ptr<ObjectWriter> writer;
};

class Cache {
 public:
  Cache(ObjectStore& objects, Index& index);

  // A hit only when the action is indexed and its object is intact on disk;
  // anything else, including a failing index, is a miss (logged).
  std::optional<CacheHit> get(const Id& action_id);

  // Starts a put: feed the body to `put.writer`, then call finish_put.
  // Dropping the PendingPut instead discards what was written.
  std::unique_ptr<PendingPut> begin_put(const Id& action_id, const Id& output_id, std::uint64_t size);
  // Verifies the body against OutputID and size, stores the object and
  // records the action. Returns the object's path; throws std::exception
  // with a message fit for the user when the put cannot be stored.
  std::string finish_put(PendingPut& put);

  // Writes the last-use marks and counters gathered so far to the index.
  void flush();

 private:
  void note_use(const Id& output_id);

  ObjectStore& objects_;
  Index& index_;

  std::mutex uses_mutex_;
  std::vector<Id> uses_;  // objects hit since the last flush

  // Counted in memory and added to the index's lifetime counters on flush.
  std::atomic<std::int64_t> hits_{0};
  std::atomic<std::int64_t> misses_{0};
  std::atomic<std::int64_t> puts_{0};
  std::atomic<std::int64_t> put_bytes_{0};
};

std::int64_t now_unix_ns();

}  // namespace gocachefs
