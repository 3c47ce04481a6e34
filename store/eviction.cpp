#include "store/eviction.h"

#include <unistd.h>

#include <filesystem>
#include <limits>
#include <thread>
#include <vector>

namespace gocachefs {

namespace {

// Rows are dropped this many per transaction, so that a go command waiting
// to write the index waits milliseconds, not the whole trim.
constexpr std::size_t kDropBatch = 500;

std::int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Waits out `unlink_after` for what was just dropped, then removes the files.
void remove_dropped_files(Index& index, const ObjectStore& objects, std::chrono::nanoseconds unlink_after) {
  std::this_thread::sleep_for(unlink_after);
  remove_trashed_files(index, objects, wall_clock_ns() - unlink_after.count() + 1);
}

}  // namespace

std::uint64_t remove_trashed_files(Index& index, const ObjectStore& objects, std::int64_t dropped_before_ns) {
  std::uint64_t removed = 0;
  for (const Id& id : index.take_trash(dropped_before_ns)) {
    if (unlink(objects.path_of(id).c_str()) == 0) ++removed;
  }
  return removed;
}

std::uint64_t remove_trashed_files(Index& index, const ObjectStore& objects, const std::vector<Id>& output_ids) {
  std::uint64_t removed = 0;
  for (const Id& id : index.take_trash(output_ids)) {
    if (unlink(objects.path_of(id).c_str()) == 0) ++removed;
  }
  return removed;
}

EvictionReport trim_store(Index& index, ObjectStore& objects, const TrimPolicy& policy, std::int64_t now_ns) {
  // What an earlier trim or clean killed halfway left behind.
  remove_trashed_files(index, objects, wall_clock_ns() - policy.unlink_after.count());
  objects.remove_abandoned_temp_files();

  const std::int64_t too_old_ns = now_ns - policy.max_age.count();
  const std::int64_t recent_ns = now_ns - keep_window(policy.keep_recent).count();
  const auto indexed = index.objects_by_last_use();  // least recently used first
  std::uint64_t total = 0;
  for (const auto& object : indexed) total += object.stamp.size;

  EvictionReport report;
  std::uint64_t left = total;  // bytes the store holds once every chosen object has gone
  std::vector<Id> chosen;
  auto drop_chosen = [&] {
    for (const auto& object : index.drop_objects(chosen, recent_ns)) {
      ++report.objects_removed;
      report.bytes_freed += object.stamp.size;
    }
    chosen.clear();
  };
  for (const auto& object : indexed) {
    if (object.last_used_ns >= recent_ns) break;  // the rest are newer still
    const bool old = object.last_used_ns < too_old_ns;
    const bool over_cap = policy.max_size > 0 && left > policy.max_size;
    if (!old && !over_cap) break;
    chosen.push_back(object.output_id);
    left -= object.stamp.size;
    if (chosen.size() == kDropBatch) drop_chosen();
  }
  drop_chosen();
  if (report.objects_removed > 0) remove_dropped_files(index, objects, policy.unlink_after);
  report.objects_kept = indexed.size() - report.objects_removed;
  report.bytes_kept = total - report.bytes_freed;
  return report;
}

EvictionReport clean_store(Index& index, ObjectStore& objects, bool in_use, std::int64_t now_ns) {
  EvictionReport report;
  const auto before = index.totals();
  const std::int64_t keep_since_ns =
      in_use ? now_ns - keep_window(kKeepRecent).count() : std::numeric_limits<std::int64_t>::max();
  for (const auto& object : index.objects_by_last_use()) {
    if (object.last_used_ns < keep_since_ns) continue;
    ++report.files_deferred;
    report.bytes_deferred += object.stamp.size;
  }
  index.drop_everything(keep_since_ns);
  // With nobody running, nobody can record a use: no need to wait.
  remove_dropped_files(index, objects, in_use ? kUnlinkAfter : std::chrono::nanoseconds(0));
  // Files the index never knew (left by a crash, or by an index that was
  // replaced) go too, unless a put or a use has given them a row since, or
  // they wait in the trash.
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(objects.root() / "objects", ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const auto id = id_from_hex(it->path().filename().string());
    if (id && index.has_object(*id, /*or_trashed=*/true)) continue;
    std::filesystem::remove(it->path(), ec);
  }
  objects.remove_abandoned_temp_files();
  report.objects_removed = before.objects;
  report.bytes_freed = before.object_bytes;
  const auto after = index.totals();
  report.objects_kept = after.objects;
  report.bytes_kept = after.object_bytes;
  return report;
}

}  // namespace gocachefs
