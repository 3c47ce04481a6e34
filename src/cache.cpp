#include "src/cache.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "src/remote_fetcher.h"
#include "src/remote_health.h"
#include "src/uploader.h"
#include "src/warming/pack_publisher.h"
#include "src/warming/pack_replay.h"

namespace gocachefs {

namespace {
// Uses are written in batches so a get costs no write transaction.
constexpr std::size_t kUsesPerFlush = 4096;
// Counters and uses reach the index at least this often: a process that is
// killed loses at most this much of them.
constexpr auto kFlushInterval = std::chrono::seconds(2);
// Go commands of one job follow each other closely; a pause this long
// starts a new job (and a new journal) for the pack key.
constexpr std::int64_t kJobGapNs = 3600LL * 1000 * 1000 * 1000;
// Whether `marker` says nothing was told in this job yet (a job's go
// commands follow each other closely: kJobGapNs); marks it told.
bool first_telling_this_job(const std::filesystem::path& marker) {
  std::error_code ec;
  const auto now = std::filesystem::file_time_type::clock::now();
  const auto told = std::filesystem::last_write_time(marker, ec);
  if (!ec && now - told < std::chrono::nanoseconds(kJobGapNs)) return false;
  std::ofstream{marker};
  std::filesystem::last_write_time(marker, now, ec);
  return true;
}

}  // namespace

std::int64_t now_unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Cache::Cache(ObjectStore& objects, Index& index, Remote* remote, RemoteSettings settings, const ReadOnlyStore* base)
    : objects_(objects), index_(index), remote_(remote), settings_(settings), base_(base) {
  if (remote_) {
    health_ = std::make_unique<RemoteHealth>(remote_->describe());
    fetcher_ = std::make_unique<RemoteFetcher>(objects_, index_, *remote_, *health_, settings_.trust);
    // A store of packs only takes this job's pack at close, no object.
    if (!settings_.read_only && !remote_->holds_packs_only()) {
      uploader_ = std::make_unique<Uploader>(objects_, index_, *remote_, *health_, settings_.upload_threads,
                                             settings_.trust.keys);
    }
  }
  flusher_ = std::thread([this] { flush_periodically(); });
}

Cache::~Cache() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_changed_.notify_all();
  flusher_.join();  // it reads the replay's counters
  replay_.reset();  // its streams write into the store and the index
}

void Cache::flush_periodically() {
  std::unique_lock lock(stop_mutex_);
  while (!stop_changed_.wait_for(lock, kFlushInterval, [this] { return stopping_; })) {
    lock.unlock();
    flush();
    lock.lock();
  }
}

CacheHit Cache::hit_for(const ActionEntry& entry) {
  ++hits_;
  if (now_unix_ns() - entry.last_used_ns >= kLastUseGranularityNs) note_use(entry.output_id);
  return CacheHit{entry.output_id, entry.size, entry.put_time_ns, objects_.path_of(entry.output_id)};
}

std::optional<CacheHit> Cache::get(const Id& action_id) {
  if (auto hit = get_local(action_id)) return hit;
  return remote_ ? get_remote(action_id) : std::nullopt;
}

void Cache::use_packs(const PackSettings& settings, Remote& bulk) {
  packs_ = settings;
  bulk_remote_ = &bulk;
  if (!remote_ || !packs_.replay) return;
  // Here unless the daemon does it (started here after all if it cannot be had).
  replay_ = std::make_unique<PackReplay>(objects_, index_, bulk, *health_, PackReplay::Mode::kEager, settings_.trust);
  if (lazy_) {
    lazy_->warm(pack_keys());
  } else {
    replay_here();
  }
}

std::vector<std::string> Cache::pack_keys() const {
  std::vector<std::string> keys = {packs_.key};
  keys.insert(keys.end(), packs_.fallbacks.begin(), packs_.fallbacks.end());
  return keys;
}

void Cache::replay_here() {
  if (replay_) std::call_once(replay_started_, [this] { replay_->start(pack_keys()); });
}

void Cache::journal(const Id& action_id, const std::optional<CacheHit>& hit) {
  if (packs_.key.empty()) return;
  std::lock_guard lock(journal_mutex_);
  if (hit) {
    journal_.push_back({action_id, hit->output_id, hit->size, hit->put_time_ns});
  } else {
    journal_.push_back({.action_id = action_id, .miss = true});
  }
}

std::optional<CacheHit> Cache::get_remote(const Id& action_id) {
  const auto hit = lookup_remote(action_id);
  if (hit) {
    ++remote_hits_;
  } else {
    ++misses_;
  }
  journal(action_id, hit);
  return hit;
}

std::optional<CacheHit> Cache::lookup_remote(const Id& action_id) {
  if (lazy_) {
    CacheHit hit;
    switch (lazy_->get(action_id, hit)) {
      case LazyRemote::Outcome::kHit:
        ++hits_;
        return hit;
      case LazyRemote::Outcome::kMiss:
        return std::nullopt;
      case LazyRemote::Outcome::kUnavailable:
        replay_here();  // no daemon (no FUSE here): the packs are replayed here
        break;
    }
  }
  if (const auto covered = replay_ ? replay_->lookup(action_id) : std::nullopt) {
    if (covered->miss) return std::nullopt;  // the job the pack recorded found it nowhere
    if (auto hit = hit_from_pack(action_id, *covered)) return hit;
  }
  if (remote_->holds_packs_only()) return std::nullopt;  // what no pack holds is not there
  const auto entry = fetcher_->fetch(action_id);
  return entry ? std::optional<CacheHit>(hit_for(*entry)) : std::nullopt;
}

std::optional<CacheHit> Cache::hit_from_pack(const Id& action_id, const PackCovered& covered) {
  if (covered.stored || replay_->wait_for(covered.output_id)) {
    // Stored with its actions: an ordinary local hit now.
    return lookup_in(objects_, index_, action_id, true);
  }
  if (remote_->holds_packs_only()) {
    // Far down the stream: by range from its pack (stored with its actions),
    // else when the stream brings it.
    if (replay_->fetch_from_pack(covered.output_id) ||
        replay_->wait_for(covered.output_id, PackReplay::Wait::kUntilItComes)) {
      return lookup_in(objects_, index_, action_id, true);
    }
    return std::nullopt;
  }
  // Far down the stream, or only its head in the pack: its object from cas/,
  // one round trip (the pack said which object; the fetch verifies it).
  const ActionRecord record{covered.output_id, covered.size, covered.put_time_ns, ""};
  auto stamp = fetcher_->local_object(record);
  if (!stamp) stamp = fetcher_->fetch_object(record);
  const auto entry = stamp ? fetcher_->record(action_id, record, *stamp) : std::nullopt;
  return entry ? std::optional<CacheHit>(hit_for(*entry)) : std::nullopt;
}

std::optional<CacheHit> Cache::get_local(const Id& action_id) {
  if (auto hit = lookup_in(objects_, index_, action_id, true)) return hit;
  if (base_) {
    if (auto hit = lookup_in(base_->objects, base_->index, action_id, false)) return hit;
  }
  if (!remote_) ++misses_;  // with a remote, get_remote() decides
  return std::nullopt;
}

std::optional<CacheHit> Cache::lookup_in(ObjectStore& objects, Index& index, const Id& action_id, bool writable) {
  std::optional<ActionEntry> entry;
  try {
    entry = index.lookup(action_id);
  } catch (const std::exception& e) {
    spdlog::error("get {}: index lookup failed, answering a miss: {}", to_hex(action_id), e.what());
  }
  if (!entry) return std::nullopt;
  if (!writable) {
    // Re-hashed earlier in this session: its current stamp is trusted.
    std::lock_guard lock(base_verified_mutex_);
    if (base_verified_.contains(entry->output_id)) {
      if (const auto stamp = objects.stat(entry->output_id)) entry->set_stamp(*stamp);
    }
  }
  ObjectStamp current;
  switch (objects.check(entry->output_id, entry->stamp(), &current)) {
    case ObjectStore::State::kSame:
      break;
    case ObjectStore::State::kVerified:
      // Touched (copied, restored, ...) but intact: trust its new stamp.
      spdlog::debug("get {}: object {} changed on disk since it was written; re-hashed, intact", to_hex(action_id),
                    to_hex(entry->output_id));
      if (writable) {
        try {
          index.record_stamp(entry->output_id, current);
        } catch (const std::exception& e) {
          spdlog::warn("recording the stamp of object {}: {}", to_hex(entry->output_id), e.what());
        }
      } else {
        std::lock_guard lock(base_verified_mutex_);
        base_verified_.insert(entry->output_id);
      }
      break;
    case ObjectStore::State::kCorrupt:
      ++corrupt_objects_;
      spdlog::error("get {}: object {} no longer hashes to its name; removed, answering a miss", to_hex(action_id),
                    to_hex(entry->output_id));
      return std::nullopt;
    case ObjectStore::State::kMissing:
      spdlog::warn("get {}: object {} is missing or truncated", to_hex(action_id), to_hex(entry->output_id));
      return std::nullopt;
  }
  CacheHit hit;
  if (!writable) {
    ++hits_;  // the base's index records no uses
    hit = CacheHit{entry->output_id, entry->size, entry->put_time_ns, objects.path_of(entry->output_id)};
  } else {
    hit = hit_for(*entry);
  }
  journal(action_id, hit);
  return hit;
}

std::unique_ptr<PendingPut> Cache::begin_put(const Id& action_id, const Id& output_id, std::uint64_t size) {
  auto put = std::make_unique<PendingPut>();
  put->action_id = action_id;
  put->output_id = output_id;
  put->size = size;
  std::optional<ObjectStamp> recorded;
  try {
    recorded = index_.object_stamp(output_id);
  } catch (const std::exception& e) {
    spdlog::warn("put: reading the index: {}", e.what());  // the object is then written anew
  }
  put->writer = objects_.begin_write(output_id, size, recorded);
  return put;
}

std::string Cache::finish_put(PendingPut& put) {
  ActionEntry entry{put.output_id, put.size, now_unix_ns()};
  entry.set_stamp(objects_.commit(*put.writer, put.output_id, put.size));
  index_.record_put(put.action_id, entry, uploader_ != nullptr);
  ++puts_;
  put_bytes_ += static_cast<std::int64_t>(put.size);
  journal(put.action_id, CacheHit{entry.output_id, entry.size, entry.put_time_ns, ""});
  if (uploader_) {
    {
      std::lock_guard lock(own_uploads_mutex_);
      own_uploads_.push_back(put.action_id);
    }
    uploader_->wake();
    if (lazy_) lazy_->uploads_queued();
  }
  return objects_.path_of(put.output_id);
}

void Cache::finish_uploads() {
  if (!uploader_) return;
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::vector<Id>> only;
  if (lazy_ && lazy_->sends_backlog()) {
    std::lock_guard lock(own_uploads_mutex_);
    only = own_uploads_;
  }
  const std::uint64_t left = uploader_->drain(only, settings_.upload_wait);
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  if (left > 0) {
    spdlog::warn("close: {} uploads still queued after {} ms; a later gocachefs will send them", left, waited.count());
  } else {
    spdlog::info("close: waited {} ms for uploads", waited.count());
  }
  const double seconds = std::chrono::duration<double>(uploader_->busy_time()).count();
  spdlog::info("uploads: {} actions, {} bytes sent for {} bytes of objects, busy {:.3f} s", uploader_->uploads_sent(),
               uploader_->bytes_sent(), uploader_->object_bytes_sent(), seconds);
}

void Cache::finish_warming() {
  if (replay_) replay_->finish(settings_.upload_wait);
  if (!packs_.write || !bulk_remote_) return;
  flush();  // the journal, in full
  if (lazy_) lazy_->flush();  // and what the mount saw of this job's reads
  const auto published = publish_packs(packs_.key, index_, objects_, *bulk_remote_, settings_.trust.keys.get());
  pack_bytes_written_ += static_cast<std::int64_t>(published.pack_bytes);
  // The build is fine; the user learns, once a job, why the next job starts colder.
  if (!published.refused.empty() && first_telling_this_job(objects_.root() / "pack-refused.told")) {
    std::fprintf(stderr, "gocachefs: %s did not take this job's pack (%s); the build is not affected\n",
                 bulk_remote_->describe().c_str(), published.refused.c_str());
  }
  if (published.skipped > 0) {
    spdlog::info("packs: {} actions left out of the pack: their objects were never read whole here", published.skipped);
  }
}

void Cache::note_use(const Id& output_id) {
  std::vector<Id> batch;
  {
    std::lock_guard lock(uses_mutex_);
    uses_.push_back(output_id);
    if (uses_.size() < kUsesPerFlush) return;
    batch.swap(uses_);
  }
  try {
    index_.record_uses(batch, now_unix_ns());
  } catch (const std::exception& e) {
    spdlog::warn("recording object uses failed: {}", e.what());
  }
}

void Cache::flush() {
  std::lock_guard flushing(flush_mutex_);
  std::vector<Id> batch;
  {
    std::lock_guard lock(uses_mutex_);
    batch.swap(uses_);
  }
  std::vector<JournalEntry> journaled;
  std::uint64_t deltas_from_journal = 0;  // pack members used for the first time
  {
    std::lock_guard lock(journal_mutex_);
    journaled.swap(journal_);
  }
  try {
    if (!journaled.empty()) {
      deltas_from_journal = index_.journal_uses(packs_.key, journaled, now_unix_ns(), kJobGapNs);
    }
    index_.record_uses(batch, now_unix_ns());
    std::map<std::string, std::int64_t> deltas = {{"get_hits", hits_.exchange(0)},
                                                  {"get_misses", misses_.exchange(0)},
                                                  {"puts", puts_.exchange(0)},
                                                  {"put_bytes", put_bytes_.exchange(0)},
                                                  {"remote_hits", remote_hits_.exchange(0)},
                                                  {"corrupt_objects", corrupt_objects_.exchange(0)},
                                                  {"request_errors", request_errors_.exchange(0)}};
    // The remote's byte counts are running totals: add what is new.
    auto add_new = [&](const char* name, std::uint64_t total, std::uint64_t& flushed) {
      deltas[name] = static_cast<std::int64_t>(total - flushed);
      flushed = total;
    };
    if (fetcher_) {
      add_new("remote_fetch_bytes", fetcher_->bytes_fetched(), flushed_fetch_bytes_);
      add_new("remote_records_ahead", fetcher_->records_fetched_ahead(), flushed_records_ahead_);
      add_new("remote_records_ahead_used", fetcher_->records_used_ahead(), flushed_records_used_);
      add_new("remote_records_rejected", fetcher_->records_rejected(), flushed_records_rejected_);
      add_new("remote_objects_refused", fetcher_->objects_refused(), flushed_objects_refused_);
    }
    if (replay_) {
      const PackReplayCounters now = replay_->counters();
      add_new("pack_actions_warmed", now.actions_warmed, flushed_replay_.actions_warmed);
      add_new("pack_bytes_fetched", now.pack_bytes, flushed_replay_.pack_bytes);
      add_new("pack_objects_stored", now.objects_stored, flushed_replay_.objects_stored);
      add_new("pack_objects_fetched_apart", now.objects_fetched_apart, flushed_replay_.objects_fetched_apart);
      add_new("remote_packs_rejected", now.packs_rejected, flushed_replay_.packs_rejected);
      deltas["remote_objects_refused"] += static_cast<std::int64_t>(now.objects_refused - flushed_replay_.objects_refused);
      flushed_replay_.objects_refused = now.objects_refused;
    }
    deltas["pack_bytes_written"] = pack_bytes_written_.exchange(0);
    deltas["pack_actions_used"] = static_cast<std::int64_t>(deltas_from_journal);
    if (uploader_) {
      add_new("remote_upload_bytes", uploader_->bytes_sent(), flushed_upload_bytes_);
      add_new("remote_uploads", uploader_->uploads_sent(), flushed_uploads_);
      add_new("remote_upload_object_bytes", uploader_->object_bytes_sent(), flushed_upload_object_bytes_);
    }
    for (MeasuredRemote* remote : measured_) {
      if (!remote) continue;
      for (const auto& [name, delta] : remote->take_counter_deltas()) deltas[name] += delta;
    }
    index_.add_to_counters(deltas);
  } catch (const std::exception& e) {
    spdlog::warn("flushing uses and counters to the index failed: {}", e.what());
  }
}

}  // namespace gocachefs
