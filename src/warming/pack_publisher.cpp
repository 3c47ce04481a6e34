#include "src/warming/pack_publisher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "src/cache.h"
#include "src/warming/pack_keys.h"
#include "store/pack.h"

namespace gocachefs {

namespace {

// A pointer names at most this many packs; the least used go beyond it.
constexpr std::size_t kMaxKeptPacks = 8;
// A pack the job has not used (yet: a later go command of the job may) is
// kept while a job of the key used it this recently.
constexpr std::int64_t kUnusedPackLifeNs = 3LL * 24 * 3600 * 1000 * 1000 * 1000;
// Last use is written to the pointer at most this often (a pointer that
// changes is a write per job).
constexpr std::int64_t kLastUseGranularityNs = 24LL * 3600 * 1000 * 1000 * 1000;
// New actions fewer than this (and than kSmallDeltaShare of the job) are not
// worth a pack of their own: they come per action.
constexpr std::size_t kSmallDelta = 32;
constexpr std::size_t kSmallDeltaShare = 50;  // 2%

// A pack whose bodies the job (reading through the lazy mount) did not read
// beyond their heads is packed anew with heads only for those, when they
// are at least this share of its used body bytes: a pack is read whole by
// every job, a rewrite costs one upload.
constexpr std::uint64_t kUnreadBodiesShare = 5;  // a fifth
constexpr std::uint64_t kMinBodyBytesToJudge = 1 << 20;

struct PackUse {
  PackRef ref;
  std::set<Id> members;
  std::set<Id> misses;  // members held as known misses
  std::size_t used = 0;
  std::set<Id> used_bodies;               // objects of used actions whose body the pack holds
  std::uint64_t body_bytes = 0, unread_body_bytes = 0;
  bool used_all_here = true;  // every object the job used of it is stored here whole
};

// Which of the pointer's packs stay. Those the job used at least half of,
// and those it did not use but a job used lately stay. A pack used only in
// part, or a fifth of whose bodies the job did not read through the lazy
// mount (`unread`), is dropped, and what was used of it packed anew, but only once the
// job has done about as much as the last one (`job_done`): before that, a
// later go command of the job may still use the rest.
// Whether the pack holds the entry as the job used it (a known miss the job
// then put is not held: it goes into the next pack).
bool holds(const PackUse& use, const JournalEntry& entry) {
  return use.members.contains(entry.action_id) && (entry.miss || !use.misses.contains(entry.action_id));
}

// On a store of packs only (`packs_only`), a pack is dropped only when the
// job holds whole every object it used of it: there is no cas/ to fetch the
// others from later.
std::vector<PackUse> packs_to_keep(Index& index, ObjectStore& objects, const std::optional<PackPointer>& current,
                                   const std::vector<JournalEntry>& entries, const std::set<Id>& unread,
                                   bool job_done, bool packs_only, std::int64_t now_ns) {
  std::vector<PackUse> uses;
  if (!current) return uses;
  // A pack whose index this store never read has no members here: it stays
  // as one the job did not use.
  for (const auto& ref : current->packs) {
    const auto members = index.pack_members(ref.id);
    const auto misses = index.pack_misses(ref.id);
    const auto with_body = index.pack_members(ref.id, /*with_body_only=*/true);
    uses.push_back({ref, {members.begin(), members.end()}, {misses.begin(), misses.end()}, 0,
                    {with_body.begin(), with_body.end()}});
  }
  for (const auto& entry : entries) {
    for (auto& use : uses) {
      if (!holds(use, entry)) continue;
      ++use.used;
      if (packs_only && !entry.miss && use.used_all_here) {
        const auto stamp = objects.stat(entry.output_id);
        use.used_all_here = stamp && stamp->size == entry.size;
      }
      // used_bodies holds actions until here; from now, objects counted once.
      if (use.used_bodies.erase(entry.action_id) > 0 && use.used_bodies.insert(entry.output_id).second) {
        use.body_bytes += entry.size;
        if (unread.contains(entry.output_id)) use.unread_body_bytes += entry.size;
      }
      break;
    }
  }
  for (const auto& use : uses) {
    spdlog::debug("packs: pack {}: the job used {} of its {} actions; {} of {} body bytes unread", to_hex(use.ref.id),
                  use.used, use.ref.actions, use.unread_body_bytes, use.body_bytes);
  }
  std::erase_if(uses, [&](const PackUse& use) {
    if (use.used == 0) return use.ref.last_used_ns < now_ns - kUnusedPackLifeNs;
    if (!job_done || !use.used_all_here) return false;
    const bool mostly_unread =
        use.body_bytes >= kMinBodyBytesToJudge && use.unread_body_bytes * kUnreadBodiesShare > use.body_bytes;
    return use.used * 2 < use.ref.actions || mostly_unread;
  });
  for (auto& use : uses) {
    if (use.used > 0 && use.ref.last_used_ns < now_ns - kLastUseGranularityNs) use.ref.last_used_ns = now_ns;
  }
  if (uses.size() > kMaxKeptPacks) {
    std::stable_sort(uses.begin(), uses.end(), [](const auto& a, const auto& b) {
      return a.used != b.used ? a.used > b.used : a.ref.last_used_ns > b.ref.last_used_ns;
    });
    uses.resize(kMaxKeptPacks);
  }
  return uses;
}

}  // namespace

PublishedPacks publish_packs(const std::string& key, Index& index, ObjectStore& objects, Remote& remote,
                             const SigningKeys* keys) {
  PublishedPacks published;
  try {
    const std::vector<JournalEntry> entries = index.journal(key);
    if (entries.empty()) return published;
    const std::string known_pointer = index.job_pointer(key);
    if (known_pointer == kPointerUnknown) {
      spdlog::warn("packs: the pointer of key \"{}\" could not be read this job; no pack is written", key);
      return published;
    }
    const auto current = decode_pack_pointer(known_pointer);
    const std::int64_t now_ns = now_unix_ns();
    std::vector<Id> outputs;
    for (const auto& entry : entries) outputs.push_back(entry.output_id);
    const bool packs_only = remote.holds_packs_only();
    const std::set<Id> unread = index.lazy_objects_unread(outputs);
    // About as much as the last job did. A job never repeats all of it: a
    // warm rerun of the sample module's build journals 71% of the entries
    // of the cold run that wrote the pointer (which also put what a warm
    // run never asks for), so two thirds is done.
    const bool job_done = !current || entries.size() * 3 >= current->job_actions * 2;
    const std::vector<PackUse> uses =
        packs_to_keep(index, objects, current, entries, unread, job_done, packs_only, now_ns);

    std::vector<PackInput> inputs;
    std::vector<Id> new_members;
    std::vector<bool> new_misses;
    for (const auto& entry : entries) {
      if (std::any_of(uses.begin(), uses.end(), [&](const auto& use) { return holds(use, entry); })) {
        continue;
      }
      if (entry.miss) {
        inputs.push_back({.action_id = entry.action_id, .miss = true});
        new_members.push_back(entry.action_id);
        new_misses.push_back(true);
        continue;
      }
      const auto stamp = objects.stat(entry.output_id);
      if (!stamp || stamp->size != entry.size) {
        ++published.skipped;
        continue;
      }
      // What the job did not read beyond its head travels as a head, or, on
      // a store of packs only (no cas/ to fetch the rest from), last and cold.
      const bool read = !unread.contains(entry.output_id);
      inputs.push_back({entry.action_id, entry.output_id, entry.size, entry.put_time_ns,
                        objects.path_of(entry.output_id), read || packs_only, packs_only && !read});
      new_members.push_back(entry.action_id);
      new_misses.push_back(false);
    }

    std::vector<PackRef> refs;
    for (const auto& use : uses) refs.push_back(use.ref);
    const bool kept_all = current && current->key == key && current->packs.size() == refs.size();
    if (kept_all && !packs_only && inputs.size() < kSmallDelta &&
        inputs.size() * kSmallDeltaShare < entries.size()) {
      inputs.clear();  // a few new actions: per action is cheaper than a pack and a pointer
    }
    if (!inputs.empty()) {
      TempFile file(objects.temp_dir(), "pack-");
      const WrittenPack pack = write_pack(inputs, file.fd(), file.path(), keys);
      const RemoteResult stored = remote.store_file("cas/" + to_hex(pack.id), file.path(), StoredEncoding{});
      if (!stored.ok()) {
        spdlog::warn("packs: uploading a pack of {} actions failed, the pointer is left as it was: {}", pack.actions,
                     stored.error);
        if (stored.status == RemoteResult::kRejected || stored.status == RemoteResult::kUnauthorized) {
          published.refused = stored.error;
        }
        return published;
      }
      index.record_pack({pack.id, pack.size, pack.actions, true});
      index.record_pack_members(pack.id, new_members, /*used=*/true, pack.body, new_misses);
      refs.push_back({pack.id, pack.size, pack.actions, now_ns});
      published.pack_bytes = pack.size;
      published.pack_actions = pack.actions;
      spdlog::info("packs: wrote pack {} ({} actions, {} objects, {} bytes) for key \"{}\"", to_hex(pack.id),
                   pack.actions, pack.objects, pack.size, key);
    }
    // Rewritten only when the job's size moved by a tenth: not a write per job.
    const bool size_moved = !current || entries.size() * 10 > current->job_actions * 11 ||
                            entries.size() * 10 < current->job_actions * 9;
    const std::uint64_t job_actions = job_done && size_moved ? entries.size() : current->job_actions;
    if (current && current->key == key && current->packs == refs && current->job_actions == job_actions) {
      return published;
    }
    const std::string pointer =
        encode_pack_pointer({.packs = refs, .key = key, .job_actions = job_actions, .written_ns = now_ns}, keys);
    const RemoteResult stored = remote.store_bytes(pointer_remote_key(key), pointer);
    if (!stored.ok()) {
      spdlog::warn("packs: writing the pointer of key \"{}\" failed: {}", key, stored.error);
      if (stored.status == RemoteResult::kRejected || stored.status == RemoteResult::kUnauthorized) {
        published.refused = stored.error;
      }
      return published;
    }
    index.set_job_pointer(key, pointer, now_ns);
    published.pointer_written = true;
    spdlog::info("packs: key \"{}\" now names {} packs", key, refs.size());
  } catch (const std::exception& e) {
    spdlog::warn("packs: writing this job's pack failed: {}", e.what());
  }
  return published;
}

}  // namespace gocachefs
