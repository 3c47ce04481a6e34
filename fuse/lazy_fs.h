// The lazy mount: one read-only file per remote object, named by the hex of
// its OutputID. Its size and first bytes (the head) come from the action
// record; the first read beyond the head fetches the whole object once,
// verified, through the ObjectSource, and later reads are served from the
// local copy. Served by libfuse 3's low-level API and multi-threaded loop on
// a thread of its own.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "fuse/inode_table.h"
#include "fuse/object_source.h"
#include "src/single_flight.h"

struct fuse_session;

namespace gocachefs {

struct LazyFsCounters {
  std::uint64_t objects_opened = 0;    // distinct objects opened through the mount
  std::uint64_t bytes_from_heads = 0;  // bytes read that heads answered, with no fetch
  std::uint64_t bytes_fetched = 0;     // sizes of the objects fetched on a read beyond their head
  std::uint64_t fetches_failed = 0;
};

class LazyFs {
 public:
  // `on_open` is told the opener of every file (the calling thread's id, as
  // the kernel gives it), from a FUSE worker: it must not block.
  explicit LazyFs(ObjectSource& source, std::function<void(pid_t opener)> on_open = {});
  ~LazyFs();  // unmounts
  LazyFs(const LazyFs&) = delete;
  LazyFs& operator=(const LazyFs&) = delete;

  // Mounts at `dir`, an existing directory, read-only with auto_unmount (a
  // killed process's mount usually goes away with it; see
  // cleanup_stale_mount), for this user only. Empty on success, else what
  // went wrong (also in the log). One mount at a time.
  std::string mount(const std::filesystem::path& dir);
  // Stops serving and unmounts. Waits for the requests in progress, fetches
  // included. A process that still holds a file open gets ENOTCONN from it.
  void unmount();

  // Makes <mount>/<hex of OutputID> appear (see InodeTable::add). Not while
  // holding a lock that the ObjectSource takes (see lazy_fs.cpp).
  std::optional<Inode> add(const LazyObject& object);
  // Fetches the object now, as a read beyond its head would, unless it is
  // fetched, has failed or is arriving (ObjectSource::arriving): for reading
  // ahead of a process that will read it.
  // Blocking; a read that needs the object meanwhile waits for this fetch.
  // Whether this call fetched it.
  bool fetch_ahead(const Id& output_id);
  // Whether a read beyond the object's head failed: its next get is a miss.
  bool failed(const Id& output_id) const;
  // Files open in the mount right now: the daemon must not leave while any is.
  std::size_t open_files() const { return open_files_; }
  LazyFsCounters counters() const;

 private:
  friend struct LazyFsOps;  // the libfuse callbacks, in lazy_fs.cpp

  // The fd of the object's verified local copy, fetching it on first use;
  // -1 when the object has failed.
  int local_file(Inode inode, const LazyObject& object);
  int fetch(Inode inode, const LazyObject& object);
  int opened_file(Inode inode) const;

  ObjectSource& source_;
  const std::function<void(pid_t)> on_open_;
  InodeTable table_;
  const uid_t uid_;                // the files are the mounting user's
  const gid_t gid_;
  const std::int64_t start_time_;  // every file's times: their contents never change

  std::mutex session_mutex_;  // guards session_, held by unmount and by add's notifications
  fuse_session* session_ = nullptr;
  std::filesystem::path dir_;
  std::thread loop_;

  SingleFlight<Inode, int> fetches_;
  mutable std::shared_mutex files_mutex_;
  std::unordered_map<Inode, int> files_;  // verified local copies, opened once, closed at unmount

  std::atomic<std::size_t> open_files_{0};
  std::atomic<std::uint64_t> objects_opened_{0};
  std::atomic<std::uint64_t> bytes_from_heads_{0};
  std::atomic<std::uint64_t> bytes_fetched_{0};
  std::atomic<std::uint64_t> fetches_failed_{0};
};

}  // namespace gocachefs
