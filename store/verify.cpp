#include "store/verify.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <limits>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "store/eviction.h"

namespace gocachefs {

namespace {

// A file this new may be a put between its rename and its row: not an orphan yet.
constexpr std::chrono::seconds kOrphanGrace{60};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

enum class FileState { kGood, kMissing, kWrongSize, kCorrupt };

FileState check_file(const ObjectStore& objects, const Id& id, std::optional<std::uint64_t> size, bool quick,
                     std::optional<ObjectStamp>* stamp) {
  *stamp = objects.stat(id);
  if (!*stamp) return FileState::kMissing;
  if (size && (*stamp)->size != *size) return FileState::kWrongSize;
  if (quick) return FileState::kGood;
  const auto hash = hash_file(objects.path_of(id));
  if (!hash) return FileState::kMissing;
  return *hash == id ? FileState::kGood : FileState::kCorrupt;
}

}  // namespace

VerifyReport verify_store(Index& index, ObjectStore& objects, const VerifyOptions& options) {
  VerifyReport report;
  remove_trashed_files(index, objects, now_ns() - kUnlinkAfter.count());
  constexpr auto kAny = std::numeric_limits<std::int64_t>::max();

  // Actions that name an object without a row: its file may be good.
  std::vector<Id> unnamed;
  for (const Id& id : index.objects_missing_rows()) {
    std::optional<ObjectStamp> stamp;
    if (check_file(objects, id, std::nullopt, options.quick, &stamp) == FileState::kGood) {
      index.restore_object(id, *stamp, now_ns());
      ++report.rows_restored;
    } else {
      unnamed.push_back(id);
    }
  }
  index.drop_actions_naming(unnamed);
  report.actions_dropped = unnamed.size();
  // Objects whose file did not come back (a missing one is dropped only
  // from the index) are removed along with their actions.
  std::error_code ec;
  for (const Id& id : unnamed) std::filesystem::remove(objects.path_of(id), ec);

  const auto indexed = index.objects_by_last_use();
  std::uint64_t total_bytes = 0;
  for (const auto& object : indexed) total_bytes += object.stamp.size;
  std::set<Id> known;
  for (const auto& object : indexed) known.insert(object.output_id);
  // Hashing is the work: one thread per core (SHA-256 runs at ~750 MiB/s a
  // core on a warm page cache).
  std::mutex mutex;  // guards `report`, `bad` and the progress callback
  std::vector<Id> bad;
  std::atomic<std::size_t> next = 0;
  auto check_some = [&] {
    for (std::size_t i; (i = next++) < indexed.size();) {
      const IndexedObject& object = indexed[i];
      std::optional<ObjectStamp> stamp;
      const FileState state = check_file(objects, object.output_id, object.stamp.size, options.quick, &stamp);
      if (state == FileState::kGood && *stamp != object.stamp) index.record_stamp(object.output_id, *stamp);
      std::lock_guard lock(mutex);
      switch (state) {
        case FileState::kGood: break;
        case FileState::kMissing: ++report.missing_files; break;
        case FileState::kWrongSize: ++report.wrong_size; break;
        case FileState::kCorrupt: ++report.corrupt; break;
      }
      if (state != FileState::kGood) bad.push_back(object.output_id);
      ++report.objects_checked;
      report.bytes_checked += object.stamp.size;
      if (options.progress) options.progress(report.objects_checked, indexed.size(), report.bytes_checked, total_bytes);
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < std::max(1u, std::thread::hardware_concurrency()); ++t) threads.emplace_back(check_some);
  check_some();
  for (auto& thread : threads) thread.join();
  // Damaged files go at once: nobody should read them. Only those: the rest
  // of the trash holds files that clean kept for running go commands, and
  // those a running trim removes after its wait (store/eviction.h).
  std::vector<Id> dropped;
  for (const auto& object : index.drop_objects(bad, kAny, /*even_queued=*/true)) dropped.push_back(object.output_id);
  remove_trashed_files(index, objects, dropped);

  // Files the index does not know.
  const auto grace_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(kOrphanGrace).count();
  for (auto it = std::filesystem::recursive_directory_iterator(objects.root() / "objects", ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const auto id = id_from_hex(it->path().filename().string());
    if (id && (known.contains(*id) || index.has_object(*id, /*or_trashed=*/true))) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) continue;
    if (st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec > now_ns() - grace_ns) continue;
    if (std::filesystem::remove(it->path(), ec)) ++report.orphan_files;
  }
  return report;
}

}  // namespace gocachefs
