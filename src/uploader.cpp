#include "src/uploader.h"

#include <fcntl.h>
#include <unistd.h>

#include <random>

#include <spdlog/spdlog.h>

#include "src/cache.h"
#include "store/action_record.h"
#include "store/remote/cas_encoding.h"

namespace gocachefs {

namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;

// Long enough for a large object on a slow link; an upload a killed process
// held is taken over after this.
constexpr auto kLease = std::chrono::minutes(2);
// Queued uploads of other processes (or from before a crash) are looked for
// this often even when nothing wakes us.
constexpr auto kIdlePoll = std::chrono::seconds(2);
constexpr int kClaimBatch = 4;
// An upload that failed this many times is dropped (logged): an object that
// can never be sent must not be retried by every later go command.
constexpr int kMaxUploadAttempts = 10;

std::string read_prefix(const std::string& path, std::size_t n) {
  std::string bytes(n, '\0');
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = read(fd, bytes.data() + got, n - got);
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  close(fd);
  bytes.resize(got);
  return bytes;
}

}  // namespace

Uploader::Uploader(ObjectStore& objects, Index& index, Remote& remote, RemoteHealth& health, int threads,
                   std::shared_ptr<const SigningKeys> signing_keys)
    : objects_(objects), index_(index), remote_(remote), health_(health), signing_keys_(std::move(signing_keys)) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

Uploader::~Uploader() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& t : threads_) t.join();
}

void Uploader::wake() { work_ready_.notify_one(); }

std::uint64_t Uploader::drain(const std::optional<std::vector<Id>>& only, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  {
    std::lock_guard lock(mutex_);
    draining_ = true;  // retries become due at once
  }
  work_ready_.notify_all();
  std::vector<Id> waiting = only.value_or(std::vector<Id>{});
  std::uint64_t pending = 0;
  for (;;) {
    try {
      if (only) {
        waiting = index_.still_queued(waiting);
        pending = waiting.size();
      } else {
        pending = index_.pending_uploads();
      }
    } catch (const std::exception& e) {
      spdlog::warn("looking for pending uploads: {}", e.what());
      break;
    }
    std::unique_lock lock(mutex_);
    // Done when nothing is queued and no thread is still finishing a batch
    // (a listed action leaves the queue only once sent).
    const bool done = pending == 0 && (only || in_flight_ == 0);
    if (done || health_.cooling_down() || std::chrono::steady_clock::now() >= deadline) break;
    progress_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
  }
  std::lock_guard lock(mutex_);
  draining_ = false;
  return pending;
}

std::chrono::nanoseconds Uploader::backoff(int attempts) {
  thread_local std::mt19937 random{std::random_device{}()};
  const double base_seconds = std::min(300.0, 0.5 * (1 << std::min(attempts, 10)));
  return duration_cast<nanoseconds>(std::chrono::duration<double>(
      base_seconds * std::uniform_real_distribution<double>(0.5, 1.5)(random)));
}

void Uploader::work() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Waits out the breaker without taking its probe: an upload takes it
    // only when it is about to send.
    if (!health_.would_allow()) {
      work_ready_.wait_for(lock, std::chrono::seconds(1));
      continue;
    }
    const bool draining = draining_;
    lock.unlock();
    std::vector<Id> batch;
    const std::int64_t now = now_unix_ns();
    try {
      // While draining, retries waiting out a backoff are due at once.
      const std::int64_t due = draining ? now + duration_cast<nanoseconds>(std::chrono::minutes(10)).count() : now;
      batch = index_.claim_uploads(now, due, now + duration_cast<nanoseconds>(kLease).count(), kClaimBatch);
    } catch (const std::exception& e) {
      spdlog::warn("claiming uploads: {}", e.what());
    }
    if (!batch.empty()) {
      std::lock_guard busy(mutex_);
      if (in_flight_++ == 0) busy_since_ns_ = now_unix_ns();
    }
    for (const Id& action_id : batch) {
      settle(action_id, attempt(action_id));
      progress_.notify_all();
    }
    lock.lock();
    if (!batch.empty() && --in_flight_ == 0) {
      busy_ns_ += now_unix_ns() - busy_since_ns_;
      progress_.notify_all();
    }
    if (batch.empty() && !stopping_) work_ready_.wait_for(lock, kIdlePoll);
  }
}

std::optional<RemoteResult> Uploader::attempt(const Id& action_id) {
  // Held back by the breaker (cooling down, or another request probes):
  // back to the queue, no attempt counted.
  if (!health_.allow()) return std::nullopt;
  try {
    return upload(action_id);
  } catch (const std::exception& e) {  // an unreadable object, a full temp dir, the index
    return RemoteResult{RemoteResult::kLocalError, e.what()};
  }
}

void Uploader::settle(const Id& action_id, const std::optional<RemoteResult>& result) {
  const std::string action = to_hex(action_id);
  try {
    if (!result) {
      index_.release_upload(action_id);
    } else if (result->ok()) {
      index_.finish_upload(action_id);
    } else if (result->status == RemoteResult::kRejected) {
      health_.succeeded();  // it answered: the remote works, this upload never will
      health_.dropped_upload(action, *result, /*tell_user=*/true);
      index_.finish_upload(action_id);
    } else {
      health_.failed(*result);
      const int attempts = index_.upload_attempts(action_id);
      if (attempts + 1 >= kMaxUploadAttempts) {
        health_.dropped_upload(action, RemoteResult::failed("failed " + std::to_string(attempts + 1) +
                                                            " times, the last: " + result->error),
                               /*tell_user=*/false);
        index_.finish_upload(action_id);
      } else {
        // Never keeps its lease: a failed or thrown attempt is retried.
        index_.retry_upload_at(action_id, now_unix_ns() + backoff(attempts).count());
      }
    }
  } catch (const std::exception& e) {  // the index failed: the lease runs out, and the upload is retried then
    spdlog::warn("upload of {}: updating the queue: {}", action, e.what());
  }
}

RemoteResult Uploader::upload(const Id& action_id) {
  const auto entry = index_.lookup(action_id);
  if (!entry) return {};  // replaced or forgotten: nothing to send
  const std::string path = objects_.path_of(entry->output_id);
  // Never send a team a file that changed since it was written unless it
  // still hashes to its name.
  ObjectStamp current;
  const auto state = objects_.check(entry->output_id, entry->stamp(), &current);
  if (state == ObjectStore::State::kMissing || state == ObjectStore::State::kCorrupt) {
    spdlog::warn("upload of {}: object {} is gone or damaged, skipped", to_hex(action_id), to_hex(entry->output_id));
    return {};
  }
  // The most any record carries of an object this size (an archive's may be
  // less): large objects' 16 KiB heads, not 256 KiB of them.
  std::string head = read_prefix(path, inline_size_for(entry->size, /*first_bytes=*/""));
  const std::uint64_t inline_size = inline_size_for(entry->size, head);
  if (head.size() < inline_size) return {};  // shorter than recorded: changed under us
  head.resize(inline_size);
  ActionRecord record{entry->output_id, entry->size, entry->put_time_ns, std::move(head)};
  if (!record.inlines_whole_object()) {
    const CasUpload object(path, entry->size, objects_.temp_dir());
    const RemoteResult sent = remote_.store_file("cas/" + to_hex(entry->output_id), object.file(), object.encoding());
    if (!sent.ok()) return sent;
    bytes_sent_ += object.stored_size();
    record.stored_size = object.stored_size();
  }
  const std::string encoded = encode_action_record(action_id, record, signing_keys_.get());
  const RemoteResult sent = remote_.store_bytes("ac/" + to_hex(action_id), encoded);
  if (!sent.ok()) return sent;
  health_.succeeded();
  bytes_sent_ += encoded.size();
  object_bytes_sent_ += entry->size;  // inside the record or in cas/
  ++uploads_sent_;
  return {};
}

}  // namespace gocachefs
