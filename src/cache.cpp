#include "src/cache.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "src/remote_fetcher.h"
#include "src/remote_health.h"
#include "src/uploader.h"

namespace gocachefs {

namespace {
// Uses are written in batches so a get costs no write transaction.
constexpr std::size_t kUsesPerFlush = 4096;
}  // namespace

std::int64_t now_unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Cache::Cache(ObjectStore& objects, Index& index, Remote* remote, RemoteSettings settings)
    : objects_(objects), index_(index), remote_(remote), settings_(settings) {
  if (!remote_) return;
  health_ = std::make_unique<RemoteHealth>(remote_->describe());
  fetcher_ = std::make_unique<RemoteFetcher>(objects_, index_, *remote_, *health_);
  if (!settings_.read_only) {
    uploader_ = std::make_unique<Uploader>(objects_, index_, *remote_, *health_, settings_.upload_threads);
  }
}

Cache::~Cache() = default;

CacheHit Cache::hit_for(const ActionEntry& entry) {
  ++hits_;
  if (now_unix_ns() - entry.last_used_ns >= kLastUseGranularityNs) note_use(entry.output_id);
  return CacheHit{entry.output_id, entry.size, entry.put_time_ns, objects_.path_of(entry.output_id)};
}

std::optional<CacheHit> Cache::get(const Id& action_id) {
  if (auto hit = get_local(action_id)) return hit;
  return remote_ ? get_remote(action_id) : std::nullopt;
}

std::optional<CacheHit> Cache::get_remote(const Id& action_id) {
  const auto entry = fetcher_->fetch(action_id);
  if (!entry) {
    ++misses_;
    return std::nullopt;
  }
  ++remote_hits_;
  return hit_for(*entry);
}

std::optional<CacheHit> Cache::get_local(const Id& action_id) {
  std::optional<ActionEntry> entry;
  try {
    entry = index_.lookup(action_id);
  } catch (const std::exception& e) {
    spdlog::error("get {}: index lookup failed, answering a miss: {}", to_hex(action_id), e.what());
  }
  if (entry && !objects_.has(entry->output_id, entry->size)) {
    spdlog::warn("get {}: object {} is missing or truncated", to_hex(action_id), to_hex(entry->output_id));
    entry.reset();
  }
  if (!entry) {
    if (!remote_) ++misses_;  // with a remote, get_remote() decides
    return std::nullopt;
  }
  return hit_for(*entry);
}

std::unique_ptr<PendingPut> Cache::begin_put(const Id& action_id, const Id& output_id, std::uint64_t size) {
  auto put = std::make_unique<PendingPut>();
  put->action_id = action_id;
  put->output_id = output_id;
  put->size = size;
  put->writer = objects_.begin_write(output_id, size);
  return put;
}

std::string Cache::finish_put(PendingPut& put) {
  std::string path = objects_.commit(*put.writer, put.output_id, put.size);
  index_.record_put(put.action_id, ActionEntry{put.output_id, put.size, now_unix_ns()}, uploader_ != nullptr);
  ++puts_;
  put_bytes_ += static_cast<std::int64_t>(put.size);
  if (uploader_) uploader_->wake();
  return path;
}

void Cache::finish_uploads() {
  if (!uploader_) return;
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t left = uploader_->drain(settings_.upload_wait);
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
  std::vector<Id> batch;
  {
    std::lock_guard lock(uses_mutex_);
    batch.swap(uses_);
  }
  try {
    index_.record_uses(batch, now_unix_ns());
    std::map<std::string, std::int64_t> deltas = {{"get_hits", hits_.exchange(0)},
                                                  {"get_misses", misses_.exchange(0)},
                                                  {"puts", puts_.exchange(0)},
                                                  {"put_bytes", put_bytes_.exchange(0)},
                                                  {"remote_hits", remote_hits_.exchange(0)}};
    // The remote's byte counts are running totals: add what is new.
    auto add_new = [&](const char* name, std::uint64_t total, std::uint64_t& flushed) {
      deltas[name] = static_cast<std::int64_t>(total - flushed);
      flushed = total;
    };
    if (fetcher_) add_new("remote_fetch_bytes", fetcher_->bytes_fetched(), flushed_fetch_bytes_);
    if (uploader_) {
      add_new("remote_upload_bytes", uploader_->bytes_sent(), flushed_upload_bytes_);
      add_new("remote_uploads", uploader_->uploads_sent(), flushed_uploads_);
      add_new("remote_upload_object_bytes", uploader_->object_bytes_sent(), flushed_upload_object_bytes_);
    }
    index_.add_to_counters(deltas);
  } catch (const std::exception& e) {
    spdlog::warn("flushing uses and counters to the index failed: {}", e.what());
  }
}

}  // namespace gocachefs
