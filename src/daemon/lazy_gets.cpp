#include "src/daemon/lazy_gets.h"

#include <spdlog/spdlog.h>

#include <random>
#include <thread>

namespace gocachefs {

namespace {

// A fetch that fails is tried again this many times, after a jittered pause
// that doubles from kRetryPause: about 6 s in all, short enough that a
// compiler waiting on the read does not look hung.
constexpr int kFetchAttempts = 4;
constexpr auto kRetryPause = std::chrono::milliseconds(400);

std::chrono::milliseconds jittered(std::chrono::milliseconds pause) {
  thread_local std::mt19937 random{std::random_device{}()};
  return std::chrono::milliseconds(std::uniform_int_distribution<long>(pause.count() / 2, pause.count())(random));
}

}  // namespace

LazyGets::LazyGets(ObjectStore& objects, Remote& remote, RemoteHealth& health, RemoteFetcher& fetcher,
                   std::filesystem::path mount_dir)
    : objects_(objects), remote_(remote), health_(health), fetcher_(fetcher), mount_dir_(std::move(mount_dir)) {}

std::optional<LazyHit> LazyGets::get(const Id& action_id) {
  // While the remote is failing, nothing remote-only is answered: its bytes
  // could not be fetched.
  // would_allow(): answering from what is known sends nothing, so it must
  // not take the half-open breaker's one probe (the fetches below do).
  if (!health_.would_allow() || !fs_) return std::nullopt;
  {
    std::lock_guard lock(mutex_);
    if (auto it = remote_only_.find(action_id); it != remote_only_.end()) {
      if (fs_->failed(it->second.output_id)) {
        remote_only_.erase(it);  // a miss now: the build rebuilds it
        return std::nullopt;
      }
      const ActionRecord& record = it->second;
      return LazyHit{{record.output_id, record.size, record.put_time_ns}, mount_dir_ / to_hex(record.output_id), true};
    }
  }
  if (const auto covered = replay_ ? replay_->lookup(action_id) : std::nullopt) {
    if (covered->miss) return std::nullopt;  // the job the pack recorded found it nowhere
    if (auto hit = hit_from_pack(action_id, *covered)) return hit;
  }
  if (remote_.holds_packs_only()) return std::nullopt;  // what no pack holds is not there
  const auto record = fetcher_.fetch_record(action_id);
  if (!record) return std::nullopt;
  ActionEntry entry{record->output_id, record->size, record->put_time_ns};
  auto stamp = fetcher_.local_object(*record);
  if (!stamp && record->inlines_whole_object()) stamp = fetcher_.fetch_object(*record);
  if (!stamp) {
    if (fs_->failed(record->output_id)) return std::nullopt;
    // Known to exist on the remote now: a record proves nothing of cas/.
    const RemoteResult exists = remote_.exists("cas/" + to_hex(record->output_id));
    if (!exists.ok()) {
      if (exists.status != RemoteResult::kNotFound) health_.failed(exists);
      return std::nullopt;
    }
    if (entry_as_written(*record, exists.length)) return answer_from_mount(action_id, *record);
    // Once answered from the mount, a bad entry can only fail the build that
    // reads it; fetched now, it is checked first and at worst a miss.
    spdlog::debug("lazy: {} is fetched before it is answered: its cas/ entry is {} bytes, its record says {}",
                  to_hex(record->output_id), exists.length ? std::to_string(*exists.length) : "of unknown length",
                  record->stored_size ? std::to_string(record->stored_size) : "nothing");
    stamp = fetcher_.fetch_object(*record);
    if (!stamp) return std::nullopt;
  }
  if (!fetcher_.record(action_id, *record, *stamp)) return std::nullopt;
  return LazyHit{entry, objects_.path_of(record->output_id), false};
}

bool LazyGets::entry_as_written(const ActionRecord& record, std::optional<std::uint64_t> length) {
  // bazel-remote tells the decoded length of an entry it keeps compressed.
  return record.stored_size != 0 && length && (*length == record.stored_size || *length == record.size);
}

std::optional<LazyHit> LazyGets::answer_from_mount(const Id& action_id, const ActionRecord& record) {
  if (!fs_->add(LazyObject{record.output_id, record.size, record.inline_bytes})) return std::nullopt;
  std::lock_guard lock(mutex_);
  remote_only_.emplace(action_id, record);
  served_.push_back(record.output_id);
  return LazyHit{{record.output_id, record.size, record.put_time_ns}, mount_dir_ / to_hex(record.output_id), true};
}

std::optional<LazyHit> LazyGets::hit_from_pack(const Id& action_id, const PackCovered& covered) {
  if (fs_->failed(covered.output_id)) return std::nullopt;
  const ActionEntry entry{covered.output_id, covered.size, covered.put_time_ns};
  // A large object whose head has come: answered in the mount, stored or
  // not, so that its reads are seen (a pack written after this job carries
  // the head alone of an object nobody read beyond it).
  if (!covered.head.empty()) {
    return answer_from_mount(action_id, {covered.output_id, covered.size, covered.put_time_ns, covered.head});
  }
  // Stored (its action with it), or small and about to be.
  const auto wait = remote_.holds_packs_only() ? PackReplay::Wait::kUntilItComes : PackReplay::Wait::kIfSoon;
  if (covered.stored || replay_->wait_for(covered.output_id, wait)) {
    return LazyHit{entry, objects_.path_of(covered.output_id), false};
  }
  return std::nullopt;
}

bool LazyGets::arriving(const Id& output_id) { return replay_ && replay_->arriving(output_id); }

FetchResult LazyGets::fetch_whole(const Id& output_id, std::uint64_t size) {
  const ActionRecord wanted{output_id, size, 0, ""};
  auto pause = kRetryPause;
  {
    std::lock_guard lock(mutex_);
    reads_.push_back(output_id);
  }
  // From the pack streaming in, when it comes soon (a read ahead leaves such
  // objects to the stream: see arriving).
  std::optional<ObjectStamp> stamp = replay_ ? replay_->wait_for(output_id) : std::nullopt;
  // Else on its own: from cas/, or from its pack by range where a store
  // holds packs only. A remote known to be down (its breaker open) is not
  // tried again.
  const bool only_in_packs = remote_.holds_packs_only();
  for (int attempt = 1; attempt <= kFetchAttempts && !stamp && health_.allow(); ++attempt) {
    stamp = fetcher_.local_object(wanted);
    if (!stamp) stamp = only_in_packs ? (replay_ ? replay_->fetch_from_pack(output_id) : std::nullopt)
                                      : fetcher_.fetch_object(wanted);
    if (!stamp && attempt < kFetchAttempts) {
      std::this_thread::sleep_for(jittered(pause));
      pause *= 2;
    }
  }
  if (!stamp) {
    // Said on the go command's terminal (the tool's own error, as "malformed
    // archive", does not say why), and the action is a miss from now on.
    const std::string error = "object " + to_hex(output_id) + " could not be fetched from " + remote_.describe() +
                              " after its action was answered from the lazy mount; the tool that reads it fails "
                              "in this build, and the next go command rebuilds it";
    std::lock_guard lock(mutex_);
    failures_.push_back(error);
    return {"", error};
  }
  // Its actions are local from now on: the next get answers the store path.
  std::lock_guard lock(mutex_);
  for (auto it = remote_only_.begin(); it != remote_only_.end();) {
    if (it->second.output_id == output_id) {
      fetcher_.record(it->first, it->second, *stamp);
      it = remote_only_.erase(it);
    } else {
      ++it;
    }
  }
  return {objects_.path_of(output_id), ""};
}

LazyGets::Seen LazyGets::take_seen() {
  std::lock_guard lock(mutex_);
  return {std::exchange(served_, {}), std::exchange(reads_, {})};
}

std::vector<std::string> LazyGets::take_failures() {
  std::lock_guard lock(mutex_);
  return std::exchange(failures_, {});
}

}  // namespace gocachefs
