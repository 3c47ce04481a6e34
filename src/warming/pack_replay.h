// Replays the packs that a key's last job left (store/pack.h): reads the
// key's pointer, then streams each pack it names in one request, storing
// every object as it arrives (verified against its OutputID, like any
// remote object) and recording its actions, so that gets find them local.
// Until then, a get for an action that a pack holds waits only for its own
// object, when the stream brings it soon (eager), or is answered at once
// with the head the pack carries (the lazy mount); an object far down the
// stream is fetched on its own, ahead of the stream.
//
// Bounded cost: a key without a pointer, a pack that is missing or damaged,
// or a remote that is down costs its requests and nothing else (gets go the
// per-action way); a pack that covers too little of what the job asks for
// is abandoned. Packs this store already holds whole are not fetched again.
// With a signing key, a pointer or pack that is not validly signed is
// ignored (counted, logged once): its actions go the per-action way; so is,
// with a key or without, a pointer stored under a key that is not its own,
// and a pack over the memory limits (PackReplayLimits).
//
// A lazy replay (the daemon) stops each stream at its cold bodies, those the
// recording job never read beyond their head; a tool that reads one gets it
// by a range request of the pack (fetch_from_pack), as does one that wants
// an object far down the stream of a store of packs only (gha://).
//
// Threads: one per pack stream. Lock order: mutex_, then the Index's.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/remote_health.h"
#include "src/remote_refusals.h"
#include "src/warming/pack_keys.h"
#include "store/index.h"
#include "store/object_store.h"
#include "store/pack.h"
#include "store/remote/remote.h"
#include "store/remote_trust.h"

namespace gocachefs {

struct PackReplayCounters {
  std::uint64_t actions_warmed = 0;   // actions in the packs read (new to this store)
  std::uint64_t pack_bytes = 0;       // bytes of packs and pointers fetched
  std::uint64_t objects_stored = 0;   // objects stored from packs
  std::uint64_t objects_fetched_apart = 0;  // gets that did not wait for the stream
  std::uint64_t packs_rejected = 0;   // packs and pointers not trusted (unsigned, wrongly signed, ...) or too large
  std::uint64_t objects_refused = 0;  // objects the disk had no room for
};

// What the packs of one replay may make this process hold in memory: their
// actions and objects, and the heads of large objects (kept for the lazy
// mount while the process lives). A pack comes from a remote that, without
// a signing key, anyone who can write to it controls: a pack over these
// bounds is not replayed (logged once), and its actions come per action.
// A std build's pack holds some 12,000 entries and a few hundred heads.
struct PackReplayLimits {
  std::size_t entries_per_pack = 250'000;  // actions and objects in one pack's index
  std::size_t entries = 1'000'000;         // in all the packs of a replay
  std::uint64_t head_bytes_per_pack = std::uint64_t{128} << 20;  // 8,192 heads of kInlinePrefixLimit
  std::uint64_t head_bytes = std::uint64_t{256} << 20;
};

// An action a replayed pack holds.
struct PackCovered {
  Id output_id{};
  std::uint64_t size = 0;
  std::int64_t put_time_ns = 0;
  std::string head;  // the first bytes of a large object (for the lazy mount)
  bool stored = false;
  bool miss = false;  // the recording job found it nowhere: answer a miss at once
};

class PackReplay {
 public:
  enum class Mode {
    kEager,  // in the go command's gocachefs: every stored object's actions go to the index
    // In the daemon: a large object's actions do not, so that its gets come
    // to the daemon and are answered in the mount, where its reads are seen
    // (what a job did not read travels as a head in its pack); the packs
    // this store holds whole are read up to their bodies, for the heads.
    kLazy,
  };
  PackReplay(ObjectStore& objects, Index& index, Remote& remote, RemoteHealth& health, Mode mode = Mode::kEager,
             RemoteTrust trust = {}, PackReplayLimits limits = {});
  ~PackReplay();  // stops the streams
  PackReplay(const PackReplay&) = delete;
  PackReplay& operator=(const PackReplay&) = delete;

  // Starts reading the pointer of the first of `keys` that has one, and its
  // packs, in the background; returns at once. Packs already being read are
  // not read twice.
  void start(const std::vector<std::string>& keys);

  // Whether a pack holds the action. Waits, boundedly, for the pointers and
  // the packs' indexes still on their way; never for bodies.
  std::optional<PackCovered> lookup(const Id& action_id);
  // Once the object is stored: its stamp. Waits while the stream is about to
  // bring it (kIfSoon), or as long as the stream moves (kUntilItComes); empty
  // at once when it is far down the stream (kIfSoon), or will not come (the
  // caller fetches it on its own).
  enum class Wait { kIfSoon, kUntilItComes };
  std::optional<ObjectStamp> wait_for(const Id& output_id, Wait wait = Wait::kIfSoon);
  // Whether a stream still moving will bring the object (not stored yet).
  bool arriving(const Id& output_id) const;
  // Reads one object's body from its pack by a range request (the pack's
  // frames section says where it lies) and stores it, verified: an object
  // far down the stream, or cold (a lazy stream stops before those). Empty
  // when the pack has no body of it, or the read failed (logged).
  std::optional<ObjectStamp> fetch_from_pack(const Id& output_id);
  // Waits up to `max_wait` for the streams to end (an eager process's close:
  // the next go command of the job finds everything stored).
  void finish(std::chrono::milliseconds max_wait);

  PackReplayCounters counters() const;

 private:
  struct Object {
    Id output_id{};
    std::uint64_t size = 0;
    std::uint64_t stream_offset = 0;  // decoded bytes before it in its pack's stream
    std::size_t pack = 0;             // index into streams_
    std::string head;       // of a large object, for the lazy mount
    bool in_stream = true;  // false: the pack carries only its head, or its body is cold and the stream stops before
    bool in_body = false;   // its whole bytes are in the pack's body section
    std::uint64_t body_offset = 0;  // there (decoded)
    bool large = false;     // the pack carries a head of it
    enum class State { kPending, kStored, kFailed } state = State::kPending;
    ObjectStamp stamp;
  };
  struct Action {
    Id output_id{};
    std::int64_t put_time_ns = 0;
  };
  struct Stream {
    PackRef ref;
    bool heads_only = false;     // its bodies are (nearly all) stored here: read up to them
    std::uint64_t position = 0;  // decoded bytes received
    std::chrono::steady_clock::time_point started;
    bool index_known = false;
    std::optional<PackFrames> frames;  // where its bodies lie, for range reads
    bool done = false;
    std::thread thread;
  };

  void read_pointers(std::vector<std::string> keys);
  void stream_pack(std::size_t number);
  // Whether the pack's index fits what is left of the limits; takes its
  // share of them when it does, logs (once) and counts it when not.
  bool take_room_for(std::size_t number, const PackIndex& index);
  void add_index(std::size_t number, const PackIndex& index, std::vector<std::uint64_t>& offsets);
  // False when the object was rejected (its bytes are not what the pack says).
  bool store_whole(std::size_t number, const PackObject& object, std::string_view bytes);
  void stored(const Id& output_id, const ObjectStamp& stamp);
  // Records in the index the actions of every pack read whose object this is
  // (of a small one only, in kLazy).
  void record_actions(const Id& output_id, const ObjectStamp& stamp, const std::vector<Id>& only = {});
  void failed(const Id& output_id);
  bool loading() const;  // under mutex_
  // Whether its stream will still bring the object (under mutex_).
  bool coming(const Object& object) const;

  ObjectStore& objects_;
  Index& index_;
  Remote& remote_;
  RemoteHealth& health_;
  const Mode mode_;
  const RemoteTrust trust_;
  const PackReplayLimits limits_;
  RemoteRefusals packs_rejected_;
  RemoteRefusals objects_refused_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int pointers_loading_ = 0;
  std::chrono::steady_clock::time_point load_deadline_;  // lookups wait for indexes until then
  std::vector<std::unique_ptr<Stream>> streams_;
  std::set<Id> packs_started_;
  std::map<Id, Action> actions_;
  std::map<Id, std::vector<Id>> actions_of_object_;  // the same object may be in several packs
  std::set<Id> known_misses_;
  std::map<Id, Object> objects_by_id_;
  std::size_t entries_taken_ = 0;        // of limits_.entries, by the packs replayed
  std::uint64_t head_bytes_taken_ = 0;   // of limits_.head_bytes
  std::uint64_t lookups_ = 0, covered_lookups_ = 0;
  std::vector<std::thread> pointer_threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> abandoned_{false};
  PackReplayCounters counters_;
};

}  // namespace gocachefs
