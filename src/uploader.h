// Sends puts to the remote in the background, from the durable queue in the
// index: the object first, then the action record that names it, so a reader
// never finds a record whose object is missing. A few threads, reused
// connections, retries with jittered exponential backoff. An upload the
// remote refuses for good (kRejected: too large...) is dropped with one line,
// and so is one that failed too often; one whose attempt throws is retried.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "src/remote_health.h"
#include "store/index.h"
#include "store/object_store.h"
#include "store/record_signing.h"
#include "store/remote/remote.h"

namespace gocachefs {

class Uploader {
 public:
  // With `signing_keys`, every record sent is signed by the first key.
  Uploader(ObjectStore& objects, Index& index, Remote& remote, RemoteHealth& health, int threads,
           std::shared_ptr<const SigningKeys> signing_keys = nullptr);
  ~Uploader();  // stops after the uploads in hand; the rest stay queued
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;

  // New uploads are queued.
  void wake();
  // Waits until the queue is empty (or, given `only`, until those actions
  // have left it: uploads others queued are then sent meanwhile but not
  // waited for), the remote is failing, or `limit` has passed. Returns how
  // many of those it waited for are still queued.
  std::uint64_t drain(const std::optional<std::vector<Id>>& only, std::chrono::milliseconds limit);

  // Running totals for this process: bytes on the wire, the objects' own
  // sizes before compression, actions sent.
  std::uint64_t bytes_sent() const { return bytes_sent_; }
  std::uint64_t object_bytes_sent() const { return object_bytes_sent_; }
  std::uint64_t uploads_sent() const { return uploads_sent_; }
  // Wall time during which at least one upload was in flight: bytes_sent()
  // over it is the upload throughput.
  std::chrono::nanoseconds busy_time() const { return std::chrono::nanoseconds(busy_ns_.load()); }

 private:
  void work();
  // One try at an action's upload; empty when the breaker held it back.
  std::optional<RemoteResult> attempt(const Id& action_id);
  // Updates the queue after an attempt: done, dropped (refused for good, or
  // kMaxUploadAttempts failed), retried after a backoff, or given back.
  void settle(const Id& action_id, const std::optional<RemoteResult>& result);
  // Sends the object, then its record. kOk when the action needs nothing
  // more (sent, or nothing to send); throws when the local side fails.
  RemoteResult upload(const Id& action_id);
  std::chrono::nanoseconds backoff(int attempts);

  ObjectStore& objects_;
  Index& index_;
  Remote& remote_;
  RemoteHealth& health_;
  const std::shared_ptr<const SigningKeys> signing_keys_;

  std::mutex mutex_;
  std::condition_variable work_ready_;  // wake(), stop
  std::condition_variable progress_;    // an upload finished
  bool stopping_ = false;
  bool draining_ = false;
  std::vector<std::thread> threads_;
  std::atomic<std::uint64_t> bytes_sent_{0};
  std::atomic<std::uint64_t> object_bytes_sent_{0};
  std::atomic<std::uint64_t> uploads_sent_{0};
  int in_flight_ = 0;              // guarded by mutex_
  std::int64_t busy_since_ns_ = 0;  // guarded by mutex_
  std::atomic<std::int64_t> busy_ns_{0};
};

}  // namespace gocachefs
