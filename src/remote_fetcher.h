// Answers a local miss from the remote: fetches the action record, then the
// object (unless the record carries it whole, or it is already stored),
// verifies that its SHA-256 is the OutputID, and stores it locally. Bytes
// that fail verification are never kept. Concurrent requests for one action,
// or for one object, share one download.
//
// After a remote hit on a compile action, cmd/go at once asks for its
// "stdout" sub-entry: a second round trip in a row for every cached
// compile. The fetcher asks for that record as soon as it has the first, in
// the background, so that the second get finds it in hand.
//
// What the remote says is checked before it costs anything (RemoteTrust): a
// record of another action, unsigned when a key is set, or declaring an
// object over the maximum size is a miss; so is an object the disk has no
// room for. Each refusal is counted and logged once per kind.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "src/remote_health.h"
#include "src/remote_refusals.h"
#include "src/single_flight.h"
#include "src/thread_pool.h"
#include "store/action_record.h"
#include "store/index.h"
#include "store/object_store.h"
#include "store/remote/remote.h"
#include "store/remote_trust.h"

namespace gocachefs {

class RemoteFetcher {
 public:
  RemoteFetcher(ObjectStore& objects, Index& index, Remote& remote, RemoteHealth& health, RemoteTrust trust = {});
  ~RemoteFetcher();  // drops the fetches ahead not yet started

  // The action's entry, now stored locally with its original put time; empty
  // when the remote does not have it or cannot deliver it intact.
  std::optional<ActionEntry> fetch(const Id& action_id);

  // The parts of fetch(), for the lazy mount's daemon.
  // The action's record; empty when the remote does not have it (or fails).
  // A compile action's record also starts fetching its "stdout" sub-entry's.
  std::optional<ActionRecord> fetch_record(const Id& action_id);
  // The stamp of the record's object when it is already stored intact.
  std::optional<ObjectStamp> local_object(const ActionRecord& record);
  // Stores the object (from the record when it carries it whole, else from
  // cas/), verified, once however many threads ask; its stamp once stored.
  std::optional<ObjectStamp> fetch_object(const ActionRecord& record);
  // Records the action in the index as stored locally; its entry, or empty
  // when it cannot.
  std::optional<ActionEntry> record(const Id& action_id, const ActionRecord& record, const ObjectStamp& stamp);

  std::uint64_t bytes_fetched() const { return bytes_fetched_; }
  // Sub-entry records fetched ahead, and how many of them a get then used.
  std::uint64_t records_fetched_ahead() const { return records_fetched_ahead_; }
  std::uint64_t records_used_ahead() const { return records_used_ahead_; }
  // Records refused (not trusted), and objects refused (too large, no room).
  std::uint64_t records_rejected() const { return records_rejected_.count(); }
  std::uint64_t objects_refused() const { return objects_refused_.count(); }
  // How many callers wait for another's fetch of the action (0 when none
  // runs): tests know from it that everyone is waiting.
  std::size_t callers_waiting(const Id& action_id) { return action_flights_.joined(action_id); }

 private:
  std::optional<ActionEntry> fetch_once(const Id& action_id);
  std::optional<ActionRecord> download_record(const Id& action_id);
  void fetch_stdout_record_ahead(const Id& action_id);
  std::optional<ActionRecord> take_fetched_ahead(const Id& action_id);
  std::optional<ObjectStamp> store_object(const ActionRecord& record);

  ObjectStore& objects_;
  Index& index_;
  Remote& remote_;
  RemoteHealth& health_;
  const RemoteTrust trust_;
  RemoteRefusals records_rejected_;
  RemoteRefusals objects_refused_;
  SingleFlight<Id, std::optional<ActionEntry>> action_flights_;
  SingleFlight<Id, std::optional<ObjectStamp>> object_flights_;
  SingleFlight<Id, std::optional<ActionRecord>> record_flights_;
  std::atomic<std::uint64_t> bytes_fetched_{0};

  std::mutex ahead_mutex_;  // a leaf: guards the two below only
  std::map<Id, ActionRecord> fetched_ahead_;
  std::deque<Id> fetched_ahead_order_;  // bounds fetched_ahead_
  std::atomic<std::uint64_t> records_fetched_ahead_{0};
  std::atomic<std::uint64_t> records_used_ahead_{0};
  std::atomic<bool> stopping_{false};
  ThreadPool ahead_;  // last: its tasks use everything above
};

}  // namespace gocachefs
