// Cache semantics (get, put, flush) over the local store. Knows nothing of
// JSON or of which process it lives in, so a daemon can host it later.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/ids.h"
#include "store/index.h"
#include "store/object_store.h"
#include "src/measured_remote.h"
#include "src/warming/pack_keys.h"
#include "src/warming/pack_replay.h"
#include "store/remote/remote.h"
#include "store/remote_trust.h"

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

struct RemoteSettings {
  bool read_only = false;                              // fetch, never upload
  std::chrono::milliseconds upload_wait{60000};       // how long close waits for uploads
  int upload_threads = 4;
  RemoteTrust trust;  // what is accepted from the remote; its keys sign what is sent
};

// A store that is read, never written: a warm cache on a shared read-only
// volume, under the writable store that takes this session's puts.
struct ReadOnlyStore {
  ObjectStore& objects;
  Index& index;
};

// Answers local misses through the daemon's lazy mount (src/daemon/).
class LazyRemote {
 public:
  enum class Outcome {
    kHit,
    kMiss,
    kUnavailable,  // the daemon cannot be had: the cache fetches eagerly itself
  };
  virtual ~LazyRemote() = default;
  virtual Outcome get(const Id& action_id, CacheHit& hit) = 0;
  // Puts were queued for upload: the daemon sends what is left after we go.
  virtual void uploads_queued() = 0;
  // Whether a daemon is up to send the upload queue after this process has
  // gone: close then waits for this session's own puts only.
  virtual bool sends_backlog() = 0;
  // Asks the daemon to replay the packs of `keys` (it holds the mount).
  virtual void warm(const std::vector<std::string>& keys) = 0;
  // Has the daemon, if one is up, write what its mount saw to the index.
  virtual void flush() = 0;
  // Says on this go command's terminal what the daemon could not fetch for
  // its tools: the linker reads after the last get, so this is asked at
  // close, while cmd/go still waits (and writes its own stderr).
  virtual void tell_failures() = 0;
};

class PackReplay;
class RemoteFetcher;
class RemoteHealth;
class Uploader;

class Cache {
 public:
  // `remote` may be null: a local cache only. `base` (may be null) is read
  // after `objects` and `index`.
  Cache(ObjectStore& objects, Index& index, Remote* remote = nullptr, RemoteSettings settings = {},
        const ReadOnlyStore* base = nullptr);
  ~Cache();

  // A hit only when the action is indexed and its object is intact on disk
  // (re-hashed when its file changed since it was written); anything else,
  // including a failing index, is a miss (logged). Fast: no network.
  std::optional<CacheHit> get_local(const Id& action_id);
  bool has_remote() const { return remote_ != nullptr; }
  // Local misses go to `lazy` first (may be null: eager fetches only).
  void use_lazy(LazyRemote* lazy) { lazy_ = lazy; }
  // Warming (src/warming/): replays the packs of settings' keys (here when
  // fetches are eager, in the daemon when they are lazy) and journals what
  // this go command uses, for the pack written at close. `bulk` is the
  // remote for whole packs (a longer timeout); it must outlive the cache.
  void use_packs(const PackSettings& settings, Remote& bulk);
  // Remotes whose request counts and latencies go to the index's counters
  // with this cache's (nulls are skipped).
  void count_requests_of(std::vector<MeasuredRemote*> remotes) { measured_ = std::move(remotes); }
  // After a local miss: asks the remote (blocking; a failing remote is a miss).
  std::optional<CacheHit> get_remote(const Id& action_id);
  // Both, in order.
  std::optional<CacheHit> get(const Id& action_id);

  // Starts a put: feed the body to `put.writer`, then call finish_put.
  // Dropping the PendingPut instead discards what was written.
  std::unique_ptr<PendingPut> begin_put(const Id& action_id, const Id& output_id, std::uint64_t size);
  // Verifies the body against OutputID and size, stores the object and
  // records the action. Returns the object's path; throws std::exception
  // with a message fit for the user when the put cannot be stored.
  std::string finish_put(PendingPut& put);

  // Before answering close: waits (up to RemoteSettings::upload_wait) for
  // queued uploads, so a CI job that ends does not lose them: all of them,
  // or only this session's when a daemon sends the rest.
  void finish_uploads();
  // Before answering close, after finish_uploads: an eager replay finishes
  // its streams (the next go command of the job finds everything stored),
  // and this job's pack is written when the settings say so.
  void finish_warming();
  // Before answering close: fetches the lazy mount could not make for this
  // go command's tools, said on its terminal.
  void tell_lazy_failures() {
    if (lazy_) lazy_->tell_failures();
  }

  // Requests this go command was answered with an error (counted in stats).
  void count_request_errors(std::int64_t n) { request_errors_ += n; }

  // Writes the last-use marks and counters gathered so far to the index.
  // Also done every few seconds, so a killed process loses little.
  void flush();

 private:
  void note_use(const Id& output_id);
  CacheHit hit_for(const ActionEntry& entry);
  std::optional<CacheHit> lookup_in(ObjectStore& objects, Index& index, const Id& action_id, bool writable);
  void flush_periodically();
  void journal(const Id& action_id, const std::optional<CacheHit>& hit);  // empty: a miss
  std::optional<CacheHit> lookup_remote(const Id& action_id);  // get_remote without the counting
  std::optional<CacheHit> hit_from_pack(const Id& action_id, const PackCovered& covered);
  std::vector<std::string> pack_keys() const;  // the key, then its fallbacks
  void replay_here();                          // starts the replay here, once

  ObjectStore& objects_;
  Index& index_;
  Remote* remote_;
  RemoteSettings settings_;
  const ReadOnlyStore* base_;
  LazyRemote* lazy_ = nullptr;
  std::unique_ptr<RemoteHealth> health_;
  std::unique_ptr<RemoteFetcher> fetcher_;
  std::unique_ptr<Uploader> uploader_;  // null when read-only
  PackSettings packs_;
  Remote* bulk_remote_ = nullptr;
  std::vector<MeasuredRemote*> measured_;
  std::unique_ptr<PackReplay> replay_;  // when packs are replayed here (or may be: no daemon)
  std::once_flag replay_started_;

  std::mutex journal_mutex_;
  std::vector<JournalEntry> journal_;  // uses not yet in the index's journal

  std::mutex own_uploads_mutex_;
  std::vector<Id> own_uploads_;  // actions this session queued for upload

  std::mutex uses_mutex_;
  std::vector<Id> uses_;  // objects hit since the last flush

  // Counted in memory and added to the index's lifetime counters on flush.
  std::atomic<std::int64_t> hits_{0};
  std::atomic<std::int64_t> misses_{0};
  std::atomic<std::int64_t> puts_{0};
  std::atomic<std::int64_t> put_bytes_{0};
  std::atomic<std::int64_t> remote_hits_{0};
  std::atomic<std::int64_t> corrupt_objects_{0};
  std::atomic<std::int64_t> request_errors_{0};
  std::uint64_t flushed_fetch_bytes_ = 0;
  std::uint64_t flushed_records_ahead_ = 0;
  std::uint64_t flushed_records_used_ = 0;
  std::uint64_t flushed_records_rejected_ = 0;
  std::uint64_t flushed_objects_refused_ = 0;
  std::uint64_t flushed_upload_bytes_ = 0;
  std::uint64_t flushed_uploads_ = 0;
  std::uint64_t flushed_upload_object_bytes_ = 0;
  PackReplayCounters flushed_replay_{};
  std::atomic<std::int64_t> pack_bytes_written_{0};
  std::mutex flush_mutex_;  // one flush at a time (the periodic one and close's)

  // The base's objects re-hashed this session (its index cannot record them).
  std::mutex base_verified_mutex_;
  std::set<Id> base_verified_;

  std::mutex stop_mutex_;
  std::condition_variable stop_changed_;
  bool stopping_ = false;
  std::thread flusher_;  // last: started once everything above exists
};

std::int64_t now_unix_ns();

}  // namespace gocachefs
