// The daemon's answer to a get that missed locally: a remote hit whose object
// is not stored here is answered at once with a path in the lazy mount, and
// its bytes are fetched only when a read goes beyond the head its record
// carried (LazyFs calls fetch_whole). Small objects, which records carry
// whole, are stored at once and answered with their store path.
//
// A hit cannot be taken back (cmd/go does not rebuild when a file it was given
// fails to read), so a mount path is given only for an object that exists on
// the remote at that moment, never while the remote is failing; a fetch that
// fails is retried for a bounded time, then remembered: the next get of the
// action is a miss, and the build that follows rebuilds it. Objects of a
// replayed pack are the exception: the pack streaming in is their proof,
// and their bytes come from it (or from cas/ when the stream is far behind).
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fuse/lazy_fs.h"
#include "fuse/object_source.h"
#include "src/remote_fetcher.h"
#include "src/remote_health.h"
#include "src/warming/pack_replay.h"
#include "store/action_record.h"
#include "store/remote/remote.h"

namespace gocachefs {

struct LazyHit {
  ActionEntry entry;
  std::string disk_path;  // in the store, or in the mount
  bool lazy = false;      // in the mount
};

class LazyGets : public ObjectSource {
 public:
  LazyGets(ObjectStore& objects, Remote& remote, RemoteHealth& health, RemoteFetcher& fetcher,
           std::filesystem::path mount_dir);
  // Set once the mount is up, before the first get.
  void attach(LazyFs& fs) { fs_ = &fs; }
  // Gets the replayed packs hold are answered from them first.
  void use_packs(PackReplay& replay) { replay_ = &replay; }

  std::optional<LazyHit> get(const Id& action_id);
  FetchResult fetch_whole(const Id& output_id, std::uint64_t size) override;
  bool arriving(const Id& output_id) override;

  // Why objects failed since the last call: for the next client's terminal.
  std::vector<std::string> take_failures();
  // Objects answered in the mount, and read beyond their head, since the
  // last call (for the index: a job's pack carries only the heads of those
  // never read).
  struct Seen {
    std::vector<Id> served, read;
  };
  Seen take_seen();

 private:
  ObjectStore& objects_;
  Remote& remote_;
  RemoteHealth& health_;
  RemoteFetcher& fetcher_;
  std::optional<LazyHit> hit_from_pack(const Id& action_id, const PackCovered& covered);
  std::optional<LazyHit> answer_from_mount(const Id& action_id, const ActionRecord& record);
  // Whether the remote's cas/ entry, `length` long by its HEAD, is as long as
  // the record says it was written: only then is it answered from the mount.
  static bool entry_as_written(const ActionRecord& record, std::optional<std::uint64_t> length);

  std::filesystem::path mount_dir_;
  LazyFs* fs_ = nullptr;
  PackReplay* replay_ = nullptr;

  std::mutex mutex_;
  // Remote-only actions answered with a mount path, until their object is
  // fetched (then the index has them) or fails (then they are forgotten).
  std::map<Id, ActionRecord> remote_only_;
  std::vector<std::string> failures_;
  std::vector<Id> served_, reads_;
};

}  // namespace gocachefs
