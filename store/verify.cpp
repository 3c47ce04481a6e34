#include "store/verify.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <limits>
#include <set>
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
  std::vector<Id> bad;
  for (const auto& object : indexed) {
    known.insert(object.output_id);
    std::optional<ObjectStamp> stamp;
    switch (check_file(objects, object.output_id, object.stamp.size, options.quick, &stamp)) {
      case FileState::kGood:
        if (*stamp != object.stamp) index.record_stamp(object.output_id, *stamp);
        break;
      case FileState::kMissing:
        ++report.missing_files;
        bad.push_back(object.output_id);
        break;
      case FileState::kWrongSize:
        ++report.wrong_size;
        bad.push_back(object.output_id);
        break;
      case FileState::kCorrupt:
        ++report.corrupt;
        bad.push_back(object.output_id);
        break;
    }
    ++report.objects_checked;
    report.bytes_checked += object.stamp.size;
    if (options.progress) options.progress(report.objects_checked, indexed.size(), report.bytes_checked, total_bytes);
  }
  // Damaged files go at once: nobody should read them.
  index.drop_objects(bad, kAny, /*even_queued=*/true);
  remove_trashed_files(index, objects, kAny);

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
