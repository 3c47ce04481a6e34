// Answers a local miss from the remote: fetches the action record, then the
// object (unless the record carries it whole, or it is already stored),
// verifies that its SHA-256 is the OutputID, and stores it locally. Bytes
// that fail verification are never kept. Concurrent requests for one action,
// or for one object, share one download.
#pragma once

#include <optional>

#include "src/remote_health.h"
#include "src/single_flight.h"
#include "store/action_record.h"
#include "store/index.h"
#include "store/object_store.h"
#include "store/remote/remote.h"

namespace gocachefs {

class RemoteFetcher {
 public:
  RemoteFetcher(ObjectStore& objects, Index& index, Remote& remote, RemoteHealth& health);

  // The action's entry, now stored locally with its original put time; empty
  // when the remote does not have it or cannot deliver it intact.
  std::optional<ActionEntry> fetch(const Id& action_id);

  // The parts of fetch(), for the lazy mount's daemon.
  // The action's record; empty when the remote does not have it (or fails).
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

 private:
  std::optional<ActionEntry> fetch_once(const Id& action_id);
  std::optional<ObjectStamp> store_object(const ActionRecord& record);

  ObjectStore& objects_;
  Index& index_;
  Remote& remote_;
  RemoteHealth& health_;
  SingleFlight<Id, std::optional<ActionEntry>> action_flights_;
  SingleFlight<Id, std::optional<ObjectStamp>> object_flights_;
  std::atomic<std::uint64_t> bytes_fetched_{0};
};

}  // namespace gocachefs
