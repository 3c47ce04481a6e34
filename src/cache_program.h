// The one owning struct of a `gocachefs` process that cmd/go runs: settings,
// store, log, index, remote and cache, built in that order and torn down in
// reverse. Start-up is split in two around the handshake: everything that can
// fail in a way the user must fix happens before it (so that a failure is one
// line on stderr and nothing on stdout), the slower opening of the index and
// the remote after it.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>

#include "src/cache.h"
#include "src/config.h"
#include "src/store_use.h"
#include "store/index.h"
#include "store/object_store.h"
#include "src/measured_remote.h"
#include "store/remote/remote.h"

namespace gocachefs {

// A start-up failure; its message is the line for the user.
class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CacheProgram {
 public:
  // Before the handshake: checks the store (a directory we can read; written
  // to, or else served read-only) and opens the log. Throws StartupError.
  explicit CacheProgram(Settings settings);
  ~CacheProgram();  // removes the private store of a read-only session
  CacheProgram(const CacheProgram&) = delete;
  CacheProgram& operator=(const CacheProgram&) = delete;

  // After the handshake: opens the index (replacing a damaged one), the
  // remote and the cache. Throws StartupError.
  Cache& open();

  // The requests made of the remote so far (none without one).
  RemoteCounts remote_counts() const;

  const Settings& settings() const { return settings_; }

 private:
  // Switches to a private writable store over the read-only one; says so on
  // stderr (the log may not be open yet: log_read_only() then tells it).
  void serve_read_only(const std::string& why);
  void log_read_only() const;
  std::unique_ptr<Index> open_index(const std::filesystem::path& store_dir, bool read_only);

  Settings settings_;
  bool store_writable_ = true;
  std::string read_only_reason_;
  std::optional<StoreUse> in_use_;  // held while serving a writable store (src/store_use.h)
  // When the store is read-only, this session's puts go to a private store
  // here, removed at exit.
  std::filesystem::path private_dir_;
  std::unique_ptr<ObjectStore> objects_;  // the writable store: the user's, or the private one
  std::unique_ptr<Index> index_;
  std::unique_ptr<ObjectStore> base_objects_;  // the read-only store, when there is one
  std::unique_ptr<Index> base_index_;
  std::optional<ReadOnlyStore> base_;
  std::unique_ptr<MeasuredRemote> remote_;
  std::unique_ptr<MeasuredRemote> bulk_remote_;  // for whole packs
  std::unique_ptr<LazyRemote> lazy_;  // the daemon's client, when remote hits are lazy
  std::unique_ptr<Cache> cache_;
};

// <store>/index.sqlite
std::filesystem::path index_path(const std::filesystem::path& store_dir);

// Says so once on stderr and in the log: the user's line for a repaired index.
void report_index_repair(const std::string& message);

}  // namespace gocachefs
