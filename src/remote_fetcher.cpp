#include "src/remote_fetcher.h"

#include <spdlog/spdlog.h>

#include "src/cache.h"
#include "store/free_space.h"
#include "store/remote/cas_encoding.h"
#include "store/sha256.h"

namespace gocachefs {

namespace {
// An action record is small; anything much larger is not one.
constexpr std::size_t kMaxRecordSize = kInlineObjectLimit * 2 + 4096;
// Records fetched ahead wait this many at most for their get (cmd/go asks
// within milliseconds; the rest are for actions it did not need).
constexpr std::size_t kMaxFetchedAhead = 1024;
// Fetches ahead at once: cmd/go runs a get per core at a time.
constexpr std::size_t kAheadThreads = 4;
}  // namespace

RemoteFetcher::RemoteFetcher(ObjectStore& objects, Index& index, Remote& remote, RemoteHealth& health,
                             RemoteTrust trust)
    : objects_(objects),
      index_(index),
      remote_(remote),
      health_(health),
      trust_(std::move(trust)),
      ahead_(kAheadThreads, kMaxFetchedAhead) {}

RemoteFetcher::~RemoteFetcher() { stopping_ = true; }

std::optional<ActionEntry> RemoteFetcher::fetch(const Id& action_id) {
  if (!health_.allow()) return std::nullopt;
  return action_flights_.run(action_id, [&] { return fetch_once(action_id); });
}

std::optional<ActionEntry> RemoteFetcher::fetch_once(const Id& action_id) {
  const auto found = fetch_record(action_id);
  if (!found) return std::nullopt;
  auto stamp = local_object(*found);
  if (!stamp) stamp = fetch_object(*found);
  if (!stamp) return std::nullopt;
  return record(action_id, *found, *stamp);
}

std::optional<ActionRecord> RemoteFetcher::fetch_record(const Id& action_id) {
  auto found = take_fetched_ahead(action_id);
  if (!found) {
    found = record_flights_.run(action_id, [&] { return download_record(action_id); });
    take_fetched_ahead(action_id);  // when the flight joined was a fetch ahead
  }
  // What compile actions store: a Go archive, whose "stdout" cmd/go reads next.
  if (found && is_go_archive(found->inline_bytes)) fetch_stdout_record_ahead(action_id);
  return found;
}

void RemoteFetcher::fetch_stdout_record_ahead(const Id& action_id) {
  const Id stdout_id = go_subkey(action_id, "stdout");
  ahead_.submit([this, stdout_id] {
    if (stopping_ || !health_.allow()) return;
    record_flights_.run(stdout_id, [&] {
      auto found = download_record(stdout_id);
      if (found) {
        ++records_fetched_ahead_;
        std::lock_guard lock(ahead_mutex_);
        if (fetched_ahead_.emplace(stdout_id, *found).second) fetched_ahead_order_.push_back(stdout_id);
        if (fetched_ahead_order_.size() > kMaxFetchedAhead) {
          fetched_ahead_.erase(fetched_ahead_order_.front());
          fetched_ahead_order_.pop_front();
        }
      }
      return found;
    });
  });
}

std::optional<ActionRecord> RemoteFetcher::take_fetched_ahead(const Id& action_id) {
  std::lock_guard lock(ahead_mutex_);
  const auto it = fetched_ahead_.find(action_id);
  if (it == fetched_ahead_.end()) return std::nullopt;
  ActionRecord found = std::move(it->second);
  fetched_ahead_.erase(it);  // its id stays in the order until it ages out: harmless
  ++records_used_ahead_;
  return found;
}

std::optional<ActionRecord> RemoteFetcher::download_record(const Id& action_id) {
  std::string record_bytes;
  const RemoteResult result = remote_.fetch("ac/" + to_hex(action_id), [&](const char* data, std::size_t size) {
    if (record_bytes.size() + size > kMaxRecordSize) return false;
    record_bytes.append(data, size);
    return true;
  });
  if (result.status == RemoteResult::kNotFound) {
    health_.succeeded();
    return std::nullopt;
  }
  if (!result.ok()) {
    health_.failed(result);
    return std::nullopt;
  }
  bytes_fetched_ += record_bytes.size();
  RecordProblem problem = RecordProblem::kNone;
  auto decoded = decode_action_record(record_bytes, action_id, trust_, &problem);
  if (problem == RecordProblem::kMalformed) {
    health_.failed(RemoteResult::failed("ac/" + to_hex(action_id) + " is not an action record"));
    return std::nullopt;
  }
  if (!decoded) {
    // The remote answered; what it holds is not to be trusted: a miss.
    health_.succeeded();
    records_rejected_.refuse(describe(problem), "remote record ac/" + to_hex(action_id) + " refused: " +
                                                    describe(problem) + "; answered as a miss");
    return std::nullopt;
  }
  health_.succeeded();
  return decoded;
}

std::optional<ObjectStamp> RemoteFetcher::fetch_object(const ActionRecord& record) {
  return object_flights_.run(record.output_id, [&] { return store_object(record); });
}

std::optional<ActionEntry> RemoteFetcher::record(const Id& action_id, const ActionRecord& record,
                                                 const ObjectStamp& stamp) {
  ActionEntry entry{record.output_id, record.size, record.put_time_ns, now_unix_ns()};
  entry.set_stamp(stamp);
  try {
    index_.record_put(action_id, entry);
  } catch (const std::exception& e) {
    spdlog::warn("recording fetched action {}: {}", to_hex(action_id), e.what());
    return std::nullopt;
  }
  return entry;
}

std::optional<ObjectStamp> RemoteFetcher::local_object(const ActionRecord& record) {
  std::optional<ObjectStamp> recorded;
  try {
    recorded = index_.object_stamp(record.output_id);
  } catch (const std::exception& e) {
    spdlog::warn("reading the index: {}", e.what());
  }
  // A file the index does not know (its index was replaced) is re-hashed:
  // cheaper than downloading it again.
  ObjectStamp current;
  switch (objects_.check(record.output_id, recorded.value_or(ObjectStamp{record.size, 0, 0}), &current)) {
    case ObjectStore::State::kSame:
    case ObjectStore::State::kVerified:
      return current;
    case ObjectStore::State::kCorrupt:
    case ObjectStore::State::kMissing:
      break;
  }
  return std::nullopt;
}

std::optional<ObjectStamp> RemoteFetcher::store_object(const ActionRecord& record) {
  const std::string key = "cas/" + to_hex(record.output_id);
  // A size from a pack or the mount, checked as records' are; then the disk.
  if (record.size > trust_.max_object_size) {
    objects_refused_.refuse("too large", key + " refused: " + std::to_string(record.size) +
                                             " bytes is over --max-object-size; answered as a miss");
    return std::nullopt;
  }
  if (!has_room_for(objects_.temp_dir(), record.size)) {
    objects_refused_.refuse("no room", key + " (" + std::to_string(record.size) + " bytes) not fetched: the store's disk " +
                                           "would keep less than " + std::to_string(kFetchReserveBytes >> 20) +
                                           " MiB free; answered as a miss");
    return std::nullopt;
  }
  try {
    auto writer = objects_.begin_write(record.output_id, record.size);
    if (record.inlines_whole_object()) {
      writer->append(record.inline_bytes.data(), record.inline_bytes.size());
    } else {
      std::uint64_t entry_bytes = 0;
      bool overran = false;
      // Cut off at the declared size: a zstd bomb gets no further.
      CasDecoder decoder([&](const char* data, std::size_t size) {
        if (writer->size() + size > record.size) {
          overran = true;
          return false;
        }
        writer->append(data, size);
        return true;
      });
      RemoteResult result = remote_.fetch(key, [&](const char* data, std::size_t size) {
        entry_bytes += size;
        return decoder.feed(data, size);
      });
      if (result.ok() && !decoder.finish()) result = RemoteResult::failed(key + " ends in the middle of a zstd frame");
      bytes_fetched_ += entry_bytes;
      if (overran) {
        objects_refused_.refuse("longer than declared", key + " refused: it decodes to more than the " +
                                                            std::to_string(record.size) +
                                                            " bytes its record declares; answered as a miss");
        return std::nullopt;
      }
      if (!result.ok()) {
        // A record whose object is missing is a broken remote entry, not a
        // sick remote: it is a miss and the build puts it again.
        if (result.status != RemoteResult::kNotFound) health_.failed(result);
        return std::nullopt;
      }
    }
    return objects_.commit(*writer, record.output_id, record.size);  // verifies size and SHA-256
  } catch (const std::system_error& e) {
    // Our disk (a temp file, a rename), not the remote: the breaker must not trip.
    health_.failed({RemoteResult::kLocalError, key + " could not be stored here: " + e.what()});
    return std::nullopt;
  } catch (const std::exception& e) {
    health_.failed(RemoteResult::failed(key + " rejected, not kept: " + e.what()));
    return std::nullopt;
  }
}

}  // namespace gocachefs
