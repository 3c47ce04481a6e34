#include "src/warming/pack_replay.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "src/cache.h"
#include "store/free_space.h"
#include "store/remote/cas_encoding.h"

namespace gocachefs {

namespace {

// How long a get waits for the pointers and indexes still on their way (a
// few round trips when all is well; the remote's own timeouts otherwise).
constexpr auto kIndexWait = std::chrono::seconds(10);
// A get waits for the stream when its object is at most this far down it
// (decoded bytes: a few hundred milliseconds of a 100 Mbit/s link), or when
// the stream's pace brings it within kWaitSeconds, and fetches it on its own
// otherwise. The stream fills the link: what comes apart comes twice and
// holds up every other reader, so only what is seconds away is worth it.
constexpr std::uint64_t kWaitWindow = 16 << 20;
constexpr double kWaitSeconds = 4;
// A stream that brings nothing for this long is not waited for.
constexpr auto kStallWait = std::chrono::seconds(10);
// A patient wait (Wait::kUntilItComes: a get whose object only a pack
// holds) lasts at most this long: then it is a miss, not a hang.
constexpr auto kPatientWait = std::chrono::seconds(5);
// After this many lookups, packs that covered under a quarter of them are
// for another job: their streams stop.
constexpr std::uint64_t kJudgeAfterLookups = 64;
// A pack whose bodies are nearly all stored here already (a warm
// workstation) is read up to its bodies only; the few missing come apart.
constexpr std::size_t kHeldShare = 10;  // nine tenths

}  // namespace

PackReplay::PackReplay(ObjectStore& objects, Index& index, Remote& remote, RemoteHealth& health, Mode mode,
                       RemoteTrust trust, PackReplayLimits limits)
    : objects_(objects),
      index_(index),
      remote_(remote),
      health_(health),
      mode_(mode),
      trust_(std::move(trust)),
      limits_(limits) {}

PackReplay::~PackReplay() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads = std::move(pointer_threads_);
  }
  changed_.notify_all();
  for (auto& t : threads) t.join();
  // No pointer thread adds streams any more.
  for (auto& stream : streams_) {
    if (stream->thread.joinable()) stream->thread.join();
  }
}

void PackReplay::start(const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  ++pointers_loading_;
  load_deadline_ = std::chrono::steady_clock::now() + kIndexWait;
  pointer_threads_.emplace_back([this, keys] { read_pointers(keys); });
}

void PackReplay::read_pointers(std::vector<std::string> keys) {
  std::optional<PackPointer> pointer;
  for (const auto& key : keys) {
    if (stopping_ || !health_.allow()) break;
    std::string bytes;
    const RemoteResult result = remote_.fetch(pointer_remote_key(key), [&](const char* data, std::size_t size) {
      bytes.append(data, size);
      return bytes.size() <= kMaxPointerSize;
    });
    {
      std::lock_guard lock(mutex_);
      counters_.pack_bytes += bytes.size();
    }
    if (result.status == RemoteResult::kNotFound) continue;
    if (!result.ok()) {
      health_.failed(result);
      // This job must not write a pointer that forgets the packs it could not see.
      try {
        if (index_.job_pointer(keys.front()).empty()) {
          index_.set_job_pointer(keys.front(), kPointerUnknown, now_unix_ns());
        }
      } catch (const std::exception& e) {
        spdlog::warn("packs: recording the pointer: {}", e.what());
      }
      break;
    }
    SignatureCheck check = SignatureCheck::kValid;
    pointer = decode_pack_pointer(bytes, trust_.keys.get(), &check);
    if (!pointer && check != SignatureCheck::kValid) {
      packs_rejected_.refuse(std::string("pointer ") + describe(check),
                             std::string("packs: the pointer of key \"") + key + "\" is " + describe(check) +
                                 "; ignored, its actions come per action");
      continue;
    }
    if (!pointer) {
      spdlog::warn("packs: the pointer of key \"{}\" is not a pack pointer; ignored", key);
      continue;
    }
    // It must be this key's, signed or not: a pointer copied to another
    // key's name (by anyone who may write, or a proxy serving the wrong
    // entry) would give this job another job's actions. Every pointer names
    // its key (pack_keys.h).
    if (pointer->key != key) {
      packs_rejected_.refuse("pointer of another key", std::string("packs: the pointer stored for key \"") + key +
                                                           "\" is for key \"" + pointer->key +
                                                           "\"; ignored, its actions come per action");
      pointer.reset();
      continue;
    }
    spdlog::info("packs: key \"{}\" names {} packs", key, pointer->packs.size());
    try {
      index_.set_job_pointer(keys.front(), bytes, now_unix_ns());
    } catch (const std::exception& e) {
      spdlog::warn("packs: recording the pointer: {}", e.what());
    }
    break;
  }
  std::lock_guard lock(mutex_);
  if (pointer) {
    for (const auto& ref : pointer->packs) {
      if (stopping_ || !packs_started_.insert(ref.id).second) continue;
      std::optional<KnownPack> known;
      try {
        known = index_.known_pack(ref.id);
      } catch (const std::exception& e) {
        spdlog::warn("packs: reading the index: {}", e.what());
      }
      const bool held = known && known->complete;
      if (held && mode_ == Mode::kEager) continue;  // its objects and actions are stored here
      auto stream = std::make_unique<Stream>();
      stream->ref = ref;
      stream->heads_only = held;
      stream->started = std::chrono::steady_clock::now();
      streams_.push_back(std::move(stream));
      const std::size_t number = streams_.size() - 1;
      streams_.back()->thread = std::thread([this, number] { stream_pack(number); });
    }
  }
  --pointers_loading_;
  changed_.notify_all();
}

bool PackReplay::loading() const {
  if (pointers_loading_ > 0) return true;
  for (const auto& stream : streams_) {
    if (!stream->index_known && !stream->done) return true;
  }
  return false;
}

void PackReplay::stream_pack(std::size_t number) {
  PackRef ref;
  {
    std::lock_guard lock(mutex_);
    ref = streams_[number]->ref;
  }
  const std::string key = "cas/" + to_hex(ref.id);
  PackIndex index;
  std::vector<std::uint64_t> offsets;
  std::unique_ptr<ObjectWriter> writer;  // the body object being received, when it is wanted
  std::optional<std::uint32_t> receiving;  // the body object whose bytes come now
  bool broken = false;                   // an object failed: the pack is not complete here
  bool reached_cold = false;             // a lazy stream stops at the cold bodies
  bool too_large = false;                // over the limits: nothing of it is used, the stream stops
  auto advance = [&](std::size_t bytes) {
    std::lock_guard lock(mutex_);
    streams_[number]->position += bytes;
    changed_.notify_all();
  };
  PackReader reader({
      .index =
          [&](const PackIndex& read) {
            if (!take_room_for(number, read)) {
              too_large = true;
              return;
            }
            index = read;
            add_index(number, index, offsets);
          },
      .front =
          [&](std::uint32_t i, std::string bytes) {
            if (too_large) return;  // the reader goes on to the end of the bytes it was fed
            const PackObject& object = index.objects[i];
            advance(bytes.size());
            if (!object.has_head()) {
              if (!store_whole(number, object, bytes)) broken = true;
              return;
            }
            std::lock_guard lock(mutex_);
            auto it = objects_by_id_.find(object.output_id);
            if (it != objects_by_id_.end() && it->second.head.empty()) it->second.head = std::move(bytes);
          },
      .body_data =
          [&](std::uint32_t i, const char* data, std::size_t size) {
            if (too_large) return;
            const PackObject& object = index.objects[i];
            if (object.cold && mode_ == Mode::kLazy) {
              reached_cold = true;
              return;
            }
            if (receiving != i) {
              receiving = i;
              bool wanted;
              {
                std::lock_guard lock(mutex_);
                const auto it = objects_by_id_.find(object.output_id);
                wanted = it != objects_by_id_.end() && it->second.pack == number &&
                         it->second.state == Object::State::kPending;
              }
              if (wanted && !has_room_for(objects_.temp_dir(), object.size)) {
                objects_refused_.refuse("no room", "packs: object " + to_hex(object.output_id) + " (" +
                                                       std::to_string(object.size) +
                                                       " bytes) not stored: the store's disk would keep less than " +
                                                       std::to_string(kFetchReserveBytes >> 20) + " MiB free");
                wanted = false;
              }
              if (wanted) {
                try {
                  writer = objects_.begin_write(object.output_id, object.size);
                } catch (const std::exception& e) {
                  spdlog::warn("packs: storing object {}: {}", to_hex(object.output_id), e.what());
                }
              }
            }
            try {
              if (writer) writer->append(data, size);
            } catch (const std::exception& e) {  // the local disk: the rest of the object is skipped
              spdlog::error("packs: storing object {}: {}", to_hex(object.output_id), e.what());
              writer.reset();
              broken = true;
              failed(object.output_id);
            }
            advance(size);
          },
      .body_end =
          [&](std::uint32_t i) {
            if (too_large) return;
            const PackObject& object = index.objects[i];
            receiving.reset();
            if (!writer) return;
            try {
              stored(object.output_id, objects_.commit(*writer, object.output_id, object.size));
            } catch (const std::exception& e) {
              broken = true;
              spdlog::error("packs: object {} in pack {} rejected, not kept: {}", to_hex(object.output_id),
                            to_hex(ref.id), e.what());
              failed(object.output_id);
            }
            writer.reset();
          },
      .frames =
          [&](const PackFrames& frames) {
            std::lock_guard lock(mutex_);
            streams_[number]->frames = frames;
          },
  }, trust_);
  // Like any cas/ entry, a pack may come zstd-compressed (bazel-remote).
  CasDecoder decoder([&](const char* data, std::size_t size) { return reader.feed(data, size); });
  auto heads_only = [&] {
    std::lock_guard lock(mutex_);
    return streams_[number]->heads_only;
  };
  RemoteResult result = remote_.fetch(key, [&](const char* data, std::size_t size) {
    if (stopping_ || abandoned_ || reached_cold || too_large || (reader.in_body_section() && heads_only())) {
      return false;
    }
    {
      std::lock_guard lock(mutex_);
      counters_.pack_bytes += size;
    }
    return decoder.feed(data, size);
  });
  if (result.ok() && !decoder.finish()) result = RemoteResult::failed(key + " ends in the middle of a zstd frame");
  // A pack not replayed is not held here, however much of it came.
  const bool complete = result.ok() && reader.complete() && !broken && !too_large;
  if (too_large) {
    // take_room_for said so.
  } else if (heads_only() && reader.error().empty()) {
    spdlog::info("packs: the bodies of pack {} are (nearly all) stored here; read up to them", to_hex(ref.id));
  } else if (reached_cold && reader.error().empty()) {
    spdlog::info("packs: pack {} read up to its cold bodies (read by range when a tool wants one)", to_hex(ref.id));
  } else if (abandoned_) {
    spdlog::info("packs: pack {} covers too little of this job; no more of it is read", to_hex(ref.id));
  } else if (reader.untrusted()) {
    packs_rejected_.refuse(reader.error(), "packs: pack " + to_hex(ref.id) + " ignored: " + reader.error() +
                                               "; its actions come per action");
  } else if (!reader.error().empty()) {
    spdlog::error("packs: pack {} is damaged ({}); what it did not deliver is fetched per action", to_hex(ref.id),
                  reader.error());
  } else if (result.status == RemoteResult::kNotFound) {
    spdlog::warn("packs: pack {} is gone from the remote", to_hex(ref.id));
  } else if (!result.ok() && !stopping_) {
    spdlog::warn("packs: reading pack {}: {}", to_hex(ref.id), result.error);
  } else if (!reader.complete() && !stopping_) {
    spdlog::error("packs: pack {} ended early; what it did not deliver is fetched per action", to_hex(ref.id));
  }
  if (complete) {
    try {
      index_.record_pack({ref.id, ref.size, index.actions.size(), true});
    } catch (const std::exception& e) {
      spdlog::warn("packs: recording pack {}: {}", to_hex(ref.id), e.what());
    }
    spdlog::info("packs: pack {} read whole ({} actions, {} bytes)", to_hex(ref.id), index.actions.size(), ref.size);
  }
  std::lock_guard lock(mutex_);
  // What the stream should have brought and did not; heads only stay answerable.
  for (auto& [id, object] : objects_by_id_) {
    if (object.pack == number && object.in_stream && object.state == Object::State::kPending) {
      object.state = Object::State::kFailed;
    }
  }
  streams_[number]->done = true;
  changed_.notify_all();
}

bool PackReplay::take_room_for(std::size_t number, const PackIndex& index) {
  const std::size_t entries = index.objects.size() + index.actions.size();
  std::uint64_t head_bytes = 0;
  for (const auto& object : index.objects) head_bytes += object.has_head() ? object.front_size : 0;
  const auto limit = [](std::size_t entries, std::uint64_t head_bytes) {
    return std::to_string(entries) + " entries and " + std::to_string(head_bytes >> 10) + " KiB of heads";
  };
  std::string over;
  Id pack_id;
  {
    std::lock_guard lock(mutex_);
    pack_id = streams_[number]->ref.id;
    if (entries > limits_.entries_per_pack || head_bytes > limits_.head_bytes_per_pack) {
      over = "over what one pack may hold (" + limit(limits_.entries_per_pack, limits_.head_bytes_per_pack) + ")";
    } else if (entries > limits_.entries - entries_taken_ || head_bytes > limits_.head_bytes - head_bytes_taken_) {
      over = "over what is left of what a replay may hold (" + limit(limits_.entries, limits_.head_bytes) +
             " in all its packs)";
    } else {
      entries_taken_ += entries;
      head_bytes_taken_ += head_bytes;
      return true;
    }
    // Answered at once: lookups need not wait for it.
    streams_[number]->index_known = true;
    changed_.notify_all();
  }
  packs_rejected_.refuse("pack over the memory limits",
                         "packs: pack " + to_hex(pack_id) + " not replayed: its index declares " +
                             std::to_string(entries) + " actions and objects and " + std::to_string(head_bytes >> 10) +
                             " KiB of heads, " + over + "; its actions come per action");
  return false;
}

void PackReplay::add_index(std::size_t number, const PackIndex& index, std::vector<std::uint64_t>& offsets) {
  // Where each object's bytes lie in the decoded stream: fronts, then bodies.
  offsets.assign(index.objects.size(), 0);
  std::uint64_t fronts = 0;
  for (std::size_t i = 0; i < index.objects.size(); ++i) {
    offsets[i] = fronts;
    fronts += index.objects[i].front_size;
  }
  const std::vector<std::uint64_t> in_body = body_offsets(index);
  for (std::size_t i = 0; i < index.objects.size(); ++i) {
    if (index.objects[i].in_body()) offsets[i] = fronts + in_body[i];
  }
  // Objects stored here already are not written again; their actions are
  // recorded at once.
  std::vector<std::optional<ObjectStamp>> local(index.objects.size());
  for (std::size_t i = 0; i < index.objects.size(); ++i) {
    const PackObject& object = index.objects[i];
    try {
      const auto recorded = index_.object_stamp(object.output_id);
      ObjectStamp current;
      const auto state = objects_.check(object.output_id, recorded.value_or(ObjectStamp{object.size, 0, 0}), &current);
      if (state == ObjectStore::State::kSame || state == ObjectStore::State::kVerified) local[i] = current;
    } catch (const std::exception& e) {
      spdlog::warn("packs: reading the index: {}", e.what());
    }
  }
  std::vector<Id> members;
  std::vector<bool> body, miss;
  for (const auto& action : index.actions) {
    members.push_back(action.action_id);
    // Cold bodies are not counted as read first (the publisher's rewrite rule).
    body.push_back(action.object != kKnownMiss && index.objects[action.object].in_body() &&
                   !index.objects[action.object].cold);
    miss.push_back(action.object == kKnownMiss);
  }
  Id pack_id;
  {
    std::lock_guard lock(mutex_);
    pack_id = streams_[number]->ref.id;
  }
  std::uint64_t warmed = 0;
  try {
    warmed = index_.record_pack_members(pack_id, members, /*used=*/false, body, miss);
  } catch (const std::exception& e) {
    spdlog::warn("packs: recording pack members: {}", e.what());
  }
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < index.objects.size(); ++i) {
      const PackObject& object = index.objects[i];
      Object entry{object.output_id, object.size, offsets[i], number};
      entry.in_stream = !object.has_head() || (object.in_body() && !(object.cold && mode_ == Mode::kLazy));
      entry.large = object.has_head();
      entry.in_body = object.in_body();
      entry.body_offset = in_body[i];
      objects_by_id_.emplace(object.output_id, std::move(entry));
    }
    for (const auto& action : index.actions) {
      if (action.object == kKnownMiss) {
        if (!actions_.contains(action.action_id)) known_misses_.insert(action.action_id);
        continue;
      }
      const Id& output_id = index.objects[action.object].output_id;
      if (actions_.emplace(action.action_id, Action{output_id, action.put_time_ns}).second) {
        actions_of_object_[output_id].push_back(action.action_id);
      }
    }
    counters_.actions_warmed += warmed;  // once per store, however many processes read the pack
  }
  for (std::uint32_t i = 0; i < index.objects.size(); ++i) {
    const Id& output_id = index.objects[i].output_id;
    if (local[i]) {
      stored(output_id, *local[i]);
      continue;
    }
    // Stored from an earlier pack: this pack's actions of it are recorded now.
    std::optional<ObjectStamp> earlier;
    {
      std::lock_guard lock(mutex_);
      const Object& object = objects_by_id_.at(output_id);
      if (object.state == Object::State::kStored) earlier = object.stamp;
    }
    if (earlier) {
      std::vector<Id> mine;
      for (const auto& action : index.actions) {
        if (action.object == i) mine.push_back(action.action_id);
      }
      record_actions(output_id, *earlier, mine);
    }
  }
  std::size_t bodies = 0, held = 0;
  for (std::size_t i = 0; i < index.objects.size(); ++i) {
    if (!index.objects[i].in_body()) continue;
    ++bodies;
    held += local[i].has_value();
  }
  std::lock_guard lock(mutex_);
  // The few bodies not held come apart from cas/, where there is a cas/.
  const bool enough = remote_.holds_packs_only() ? held == bodies : held * kHeldShare >= bodies * (kHeldShare - 1);
  if (bodies > 0 && enough) streams_[number]->heads_only = true;
  streams_[number]->index_known = true;
  changed_.notify_all();
}

bool PackReplay::store_whole(std::size_t number, const PackObject& object, std::string_view bytes) {
  {
    std::lock_guard lock(mutex_);
    const auto it = objects_by_id_.find(object.output_id);
    if (it == objects_by_id_.end() || it->second.pack != number || it->second.state != Object::State::kPending) {
      return true;
    }
  }
  if (!has_room_for(objects_.temp_dir(), object.size)) {
    objects_refused_.refuse("no room", "packs: object " + to_hex(object.output_id) +
                                           " not stored: the store's disk would keep less than " +
                                           std::to_string(kFetchReserveBytes >> 20) + " MiB free");
    failed(object.output_id);
    return true;  // not the pack's fault
  }
  try {
    auto writer = objects_.begin_write(object.output_id, object.size);
    writer->append(bytes.data(), bytes.size());
    stored(object.output_id, objects_.commit(*writer, object.output_id, object.size));
    return true;
  } catch (const std::exception& e) {
    spdlog::error("packs: object {} rejected, not kept: {}", to_hex(object.output_id), e.what());
    failed(object.output_id);
    return false;
  }
}

void PackReplay::record_actions(const Id& output_id, const ObjectStamp& stamp, const std::vector<Id>& only) {
  std::vector<std::pair<Id, std::int64_t>> actions;
  {
    std::lock_guard lock(mutex_);
    if (mode_ == Mode::kLazy && objects_by_id_.at(output_id).large) return;  // answered in the mount
    for (const Id& action_id : only.empty() ? actions_of_object_[output_id] : only) {
      const Action& action = actions_.at(action_id);
      // An action that two packs map to different objects keeps the first.
      if (action.output_id == output_id) actions.emplace_back(action_id, action.put_time_ns);
    }
  }
  for (const auto& [action_id, put_time_ns] : actions) {
    ActionEntry entry{output_id, stamp.size, put_time_ns, now_unix_ns()};
    entry.set_stamp(stamp);
    try {
      index_.record_put(action_id, entry);
    } catch (const std::exception& e) {
      spdlog::warn("packs: recording action {}: {}", to_hex(action_id), e.what());
    }
  }
}

void PackReplay::stored(const Id& output_id, const ObjectStamp& stamp) {
  // Its actions first: once a waiter is told, its get must find them.
  record_actions(output_id, stamp);
  std::lock_guard lock(mutex_);
  auto& object = objects_by_id_.at(output_id);
  object.state = Object::State::kStored;
  object.stamp = stamp;
  ++counters_.objects_stored;
  changed_.notify_all();
}

void PackReplay::failed(const Id& output_id) {
  std::lock_guard lock(mutex_);
  objects_by_id_.at(output_id).state = Object::State::kFailed;
  changed_.notify_all();
}

std::optional<PackCovered> PackReplay::lookup(const Id& action_id) {
  std::unique_lock lock(mutex_);
  // One deadline per start: a slow remote does not cost every get the wait.
  changed_.wait_until(lock, load_deadline_, [this] { return !loading() || stopping_; });
  // Judged once, on the first kJudgeAfterLookups gets.
  if (++lookups_ == kJudgeAfterLookups + 1 && covered_lookups_ * 4 < kJudgeAfterLookups && !streams_.empty()) {
    abandoned_ = true;
    changed_.notify_all();
  }
  const auto it = actions_.find(action_id);
  if (it == actions_.end() && known_misses_.contains(action_id)) {
    ++covered_lookups_;
    return PackCovered{.miss = true};
  }
  if (it == actions_.end()) return std::nullopt;
  ++covered_lookups_;
  const Object& object = objects_by_id_.at(it->second.output_id);
  if (object.state == Object::State::kFailed) return std::nullopt;
  return PackCovered{object.output_id, object.size, it->second.put_time_ns, object.head,
                     object.state == Object::State::kStored};
}

std::optional<ObjectStamp> PackReplay::wait_for(const Id& output_id, Wait wait) {
  std::unique_lock lock(mutex_);
  const auto it = objects_by_id_.find(output_id);
  if (it == objects_by_id_.end()) return std::nullopt;
  const Object& object = it->second;
  const Stream& stream = *streams_[object.pack];
  std::uint64_t last_position = stream.position;
  const auto since = std::chrono::steady_clock::now();
  auto last_progress = since;
  for (;;) {
    if (object.state == Object::State::kStored) return object.stamp;
    if (!coming(object)) return std::nullopt;  // failed, only its head travelled, or the stream ended
    const auto waited = std::chrono::steady_clock::now() - since;
    if (wait == Wait::kUntilItComes && waited > kPatientWait) return std::nullopt;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - stream.started).count();
    const double pace = seconds > 0.05 ? static_cast<double>(stream.position) / seconds : 0;  // decoded bytes/s
    const std::uint64_t distance = object.stream_offset > stream.position ? object.stream_offset - stream.position : 0;
    if (wait == Wait::kIfSoon && distance > kWaitWindow && static_cast<double>(distance) > pace * kWaitSeconds) {
      ++counters_.objects_fetched_apart;
      return std::nullopt;
    }
    if (stream.position != last_position) {
      last_position = stream.position;
      last_progress = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_progress > kStallWait) {
      return std::nullopt;
    }
    changed_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

bool PackReplay::arriving(const Id& output_id) const {
  std::lock_guard lock(mutex_);
  const auto it = objects_by_id_.find(output_id);
  return it != objects_by_id_.end() && coming(it->second);
}

bool PackReplay::coming(const Object& object) const {
  return object.state == Object::State::kPending && object.in_stream && !streams_[object.pack]->done && !abandoned_ &&
         !stopping_;
}

std::optional<ObjectStamp> PackReplay::fetch_from_pack(const Id& output_id) {
  // The frames that hold the object, and every object they hold whole that
  // is not stored yet (its neighbours come in the same bytes: the next read
  // of one of them costs no request).
  struct Wanted {
    Id output_id{};
    std::uint64_t body_offset = 0, size = 0;
    std::unique_ptr<ObjectWriter> writer;
  };
  std::vector<Wanted> wanted;
  PackSlice slice;
  Id pack_id;
  {
    std::lock_guard lock(mutex_);
    const auto it = objects_by_id_.find(output_id);
    if (it == objects_by_id_.end() || !it->second.in_body) return std::nullopt;
    const Object& object = it->second;
    if (object.state == Object::State::kStored) return object.stamp;
    const Stream& stream = *streams_[object.pack];
    const auto found = stream.frames ? body_slice(*stream.frames, object.body_offset, object.size) : std::nullopt;
    if (!found) return std::nullopt;  // a pack of version 1, or frames not read yet
    slice = *found;
    pack_id = stream.ref.id;
    for (const auto& [id, other] : objects_by_id_) {
      if (other.pack == object.pack && other.in_body && other.state != Object::State::kStored &&
          other.body_offset >= slice.body_begin && other.body_offset + other.size <= slice.body_end &&
          (id == output_id || other.state == Object::State::kPending)) {
        wanted.push_back({id, other.body_offset, other.size, nullptr});
      }
    }
  }
  std::sort(wanted.begin(), wanted.end(), [](const Wanted& a, const Wanted& b) { return a.body_offset < b.body_offset; });
  const std::string key = "cas/" + to_hex(pack_id);
  std::optional<ObjectStamp> result_stamp;
  try {
    for (auto& w : wanted) {
      if (!has_room_for(objects_.temp_dir(), w.size)) {
        if (w.output_id != output_id) continue;  // a neighbour is only a bonus
        objects_refused_.refuse("no room", "packs: object " + to_hex(output_id) + " (" + std::to_string(w.size) +
                                               " bytes) not read from its pack: the store's disk would keep less "
                                               "than " + std::to_string(kFetchReserveBytes >> 20) + " MiB free");
        return std::nullopt;
      }
      w.writer = objects_.begin_write(w.output_id, w.size);
    }
    std::size_t next = 0;  // wanted are in body order, and so are the decoded bytes
    PackSliceReader reader(slice, [&](std::uint64_t at, const char* data, std::size_t n) {
      for (std::size_t i = next; i < wanted.size() && wanted[i].body_offset < at + n; ++i) {
        Wanted& w = wanted[i];
        const std::uint64_t from = std::max(at, w.body_offset), to = std::min(at + n, w.body_offset + w.size);
        if (from < to && w.writer) w.writer->append(data + (from - at), to - from);
        if (to == w.body_offset + w.size && i == next) ++next;
      }
    });
    const RemoteResult result = remote_.fetch_range(key, {slice.offset, slice.length}, [&](const char* data, std::size_t n) {
      {
        std::lock_guard lock(mutex_);
        counters_.pack_bytes += n;
      }
      return reader.feed(data, n);
    });
    if (!result.ok()) {
      if (result.status != RemoteResult::kLocalError) health_.failed(result);
      spdlog::warn("packs: reading object {} from pack {} by range: {}", to_hex(output_id), to_hex(pack_id),
                   !reader.error().empty() ? reader.error() : result.error);
      return std::nullopt;
    }
    for (auto& w : wanted) {
      if (!w.writer) continue;
      try {
        const ObjectStamp stamp = objects_.commit(*w.writer, w.output_id, w.size);  // verifies size and SHA-256
        {
          std::lock_guard lock(mutex_);
          ++counters_.objects_fetched_apart;
        }
        stored(w.output_id, stamp);
        if (w.output_id == output_id) result_stamp = stamp;
      } catch (const std::exception& e) {
        spdlog::error("packs: object {} read from pack {} by range rejected, not kept: {}", to_hex(w.output_id),
                      to_hex(pack_id), e.what());
      }
    }
  } catch (const std::exception& e) {  // the local disk
    spdlog::error("packs: storing objects read from pack {} by range: {}", to_hex(pack_id), e.what());
  }
  return result_stamp;
}

void PackReplay::finish(std::chrono::milliseconds max_wait) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, max_wait, [this] {
    if (pointers_loading_ > 0) return false;
    for (const auto& stream : streams_) {
      if (!stream->done) return false;
    }
    return true;
  });
}

PackReplayCounters PackReplay::counters() const {
  std::lock_guard lock(mutex_);
  PackReplayCounters counters = counters_;
  counters.packs_rejected = packs_rejected_.count();
  counters.objects_refused = objects_refused_.count();
  return counters;
}

}  // namespace gocachefs
