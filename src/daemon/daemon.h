// `gocachefs daemon`: the one owning struct of the daemon process. One per
// user and store, started on demand by the first client that needs it (see
// daemon_client.h), leaving by itself once idle. It owns the lazy mount at
// <store>/mnt, the remote connections for lazy gets, and an uploader that
// keeps sending the store's upload queue after the go commands have gone.
//
// Threads: the accept loop (run()), one per client connection, the mount's
// FUSE workers, the read-ahead's (ToolPrefetcher), the uploader's. Lock
// order: LazyGets::mutex_, then PackReplay's, then the Index's; nothing here holds a lock while
// it waits on the network except the single-flight fetches, which hold none
// of these.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>

#include "fuse/lazy_fs.h"
#include "src/config.h"
#include "src/daemon/lazy_gets.h"
#include "src/daemon/tool_prefetch.h"
#include "src/measured_remote.h"
#include "src/remote_fetcher.h"
#include "src/remote_health.h"
#include "src/store_use.h"
#include "src/uploader.h"
#include "src/warming/pack_replay.h"
#include "store/index.h"
#include "store/object_store.h"

namespace gocachefs {

// Exit statuses a client can act on.
constexpr int kDaemonNoFuse = 3;  // the mount failed: the reason is in <store>/daemon.failed

// Where a failed daemon leaves its reason, and how long clients believe it.
std::filesystem::path daemon_failure_path(const std::filesystem::path& store_dir);
constexpr auto kDaemonFailureMemory = std::chrono::minutes(10);

class Daemon {
 public:
  explicit Daemon(Settings settings);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Serves until idle for Settings::daemon_idle; the exit status.
  int run();

 private:
  void serve_connection(int fd);
  // Ends the connections' threads (clients reconnect to a new daemon).
  void close_connections();
  void flush_counters();

  Settings settings_;
  int lock_fd_ = -1;  // flock held for the daemon's life: one daemon per store
  std::optional<StoreUse> in_use_;  // src/store_use.h
  std::unique_ptr<ObjectStore> objects_;
  std::unique_ptr<Index> index_;
  std::unique_ptr<MeasuredRemote> remote_;
  std::string remote_fingerprint_;  // clients with another remote are refused
  std::unique_ptr<RemoteHealth> health_;
  std::unique_ptr<RemoteFetcher> fetcher_;
  std::unique_ptr<MeasuredRemote> bulk_remote_;        // for whole packs: a longer timeout
  std::unique_ptr<PackReplay> replay_;         // the packs clients asked to warm
  std::unique_ptr<LazyGets> gets_;
  std::unique_ptr<LazyFs> fs_;  // after gets_: it calls into them until unmounted
  std::unique_ptr<ToolPrefetcher> read_ahead_;  // after fs_: fetches through it
  std::unique_ptr<Uploader> uploader_;

  std::atomic<bool> stopping_{false};  // `gocachefs stop`
  std::atomic<int> connections_{0};
  std::mutex connections_mutex_;
  std::set<int> connection_fds_;  // shut down when the daemon leaves, so their threads end
  std::atomic<std::int64_t> last_activity_ns_{0};
  std::atomic<std::uint64_t> lazy_hits_{0};
  std::atomic<std::uint64_t> lazy_bytes_served_{0};  // sizes of objects answered in the mount
  std::mutex flush_mutex_;  // the accept loop's flushes and clients' "flush"
  LazyFsCounters flushed_{};
  std::uint64_t flushed_lazy_hits_ = 0;
  std::uint64_t flushed_lazy_bytes_served_ = 0;
  std::uint64_t flushed_fetch_bytes_ = 0;
  std::uint64_t flushed_read_ahead_ = 0;
  std::uint64_t flushed_records_ahead_ = 0;
  std::uint64_t flushed_records_used_ = 0;
  std::uint64_t flushed_records_rejected_ = 0;
  std::uint64_t flushed_objects_refused_ = 0;
  PackReplayCounters flushed_replay_{};
};

}  // namespace gocachefs
