// Reading ahead for the Go tools that read whole archives. The linker reads
// every archive its importcfg.link names, the compiler the export data of
// every import its importcfg names, vet those its vet.cfg names, one after
// another: lazily, a round trip each. When such a process opens a file in
// the mount, its command line names that file, which names every mount file
// it will read;
// fetching those in parallel at once turns hundreds of round trips in a row
// into a few. Reads that the tool makes meanwhile join these fetches (LazyFs
// fetches each object once), so demand is never queued behind read-ahead;
// objects a pack's stream brings are left to it (a reader that wants one
// first decides at once whether to wait for it: PackReplay::wait_for).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "fuse/lazy_fs.h"
#include "src/thread_pool.h"
#include "store/ids.h"

namespace gocachefs {

// The file given to -importcfg in a tool's arguments (as cmd/go passes them:
// "-importcfg FILE"; also "-importcfg=FILE").
std::optional<std::string> importcfg_argument(const std::vector<std::string>& argv);
// The objects in `mount_dir` that an importcfg's "packagefile IMPORT=PATH"
// lines name, in their order.
std::vector<Id> mount_objects_in_importcfg(std::string_view importcfg, const std::filesystem::path& mount_dir);
// The same for vet's configuration (JSON, its last argument): the values of
// its "PackageFile" map.
std::vector<Id> mount_objects_in_vet_config(std::string_view vet_config, const std::filesystem::path& mount_dir);

class ToolPrefetcher {
 public:
  ToolPrefetcher(LazyFs& fs, std::filesystem::path mount_dir, std::size_t parallel_fetches);
  ~ToolPrefetcher();  // stops, then waits for the fetches in flight
  ToolPrefetcher(const ToolPrefetcher&) = delete;
  ToolPrefetcher& operator=(const ToolPrefetcher&) = delete;

  // A process opened a file in the mount. Cheap and non-blocking (called by
  // FUSE workers); each process is looked at once.
  void opened_by(pid_t pid);
  // Looks at no more openers and drops the fetches not yet started; openers
  // may still be reported (they are ignored). Before the mount goes.
  void stop();
  // Objects fetched ahead of the tools that read them, so far.
  std::uint64_t objects_read_ahead() const { return objects_read_ahead_; }

 private:
  void scan_openers();
  void read_ahead_for(pid_t pid);

  LazyFs& fs_;
  const std::filesystem::path mount_dir_;

  std::mutex mutex_;
  std::condition_variable opener_ready_;
  std::deque<pid_t> openers_;
  std::unordered_set<pid_t> seen_;  // recent openers, looked at once each
  std::deque<pid_t> seen_order_;    // bounds seen_
  // Configurations read ahead for already: a process's threads open files
  // too, each with its own id.
  std::unordered_set<std::string> configs_seen_;
  std::deque<std::string> configs_order_;  // bounds configs_seen_
  bool stopping_ = false;
  std::atomic<std::uint64_t> objects_read_ahead_{0};

  ThreadPool fetches_;
  std::thread scanner_;  // last: it uses everything above
};

}  // namespace gocachefs
