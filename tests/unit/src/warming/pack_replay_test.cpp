#include "src/warming/pack_replay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <random>

#include "src/cache.h"
#include "src/warming/pack_publisher.h"
#include "store/action_record.h"
#include "store/sha256.h"
#include "tests/support/crafted_pack.h"
#include "tests/support/forwarding_remote.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_bytes.h"

namespace gocachefs {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

using testing::random_bytes;
using testing::text_bytes;

constexpr std::int64_t kSecond = 1000LL * 1000 * 1000;
constexpr std::int64_t kGap = 3600 * kSecond;
constexpr std::int64_t kPutTime = 1690000000000000000;
const std::string kKey = "auto example.com/m linux/amd64 go1.24.1";

// One store: a machine, or a CI job's fresh runner.
struct Machine {
  TempDir dir;
  ObjectStore objects{dir.path()};
  Index index{dir / "index.sqlite"};
  RemoteHealth health{"test remote"};
};

struct Action {
  std::string name;
  std::string object;
  Id id() const { return Sha256::of(name); }
  Id output_id() const { return Sha256::of(object); }
};

class PackReplayTest : public ::testing::Test {
 protected:
  // What the first job used, in order: every kind of object a pack holds.
  std::vector<Action> first_job() {
    const std::string tiny = "tiny object";
    return {{"tiny", tiny},
            {"empty", ""},
            {"text", text_bytes(50 * 1024)},
            {"archive", text_bytes(kInlineArchiveLimit + 30000, "!<arch>\n")},
            {"random", random_bytes(3 * 512 * 1024, 1)},
            {"large text", text_bytes(kInlineObjectLimit + 50000, "large\n")},
            {"tiny again", tiny}};
  }

  // `n` actions of small objects of their own.
  static std::vector<Action> new_actions(int n) {
    std::vector<Action> actions;
    for (int i = 0; i < n; ++i) actions.push_back({"new " + std::to_string(i), text_bytes(1000 + i, "new\n")});
    return actions;
  }
  // Stores the actions' objects and records them on `m`, as puts or hits would.
  void store(Machine& m, const std::vector<Action>& actions) {
    for (const auto& a : actions) {
      auto writer = m.objects.begin_write(a.output_id(), a.object.size());
      writer->append(a.object.data(), a.object.size());
      ActionEntry entry{a.output_id(), a.object.size(), kPutTime};
      entry.set_stamp(m.objects.commit(*writer, a.output_id(), a.object.size()));
      m.index.record_put(a.id(), entry);
    }
  }
  // A job of `m` uses the actions (what Cache::flush journals).
  void use(Machine& m, const std::vector<Action>& actions, std::int64_t now_ns) {
    std::vector<JournalEntry> entries;
    for (const auto& a : actions) entries.push_back({a.id(), a.output_id(), a.object.size(), kPutTime});
    m.index.journal_uses(kKey, entries, now_ns, kGap);
  }
  // A first machine that runs a job using `actions`, then publishes its packs.
  PublishedPacks publish(Machine& m, const std::vector<Action>& actions, std::int64_t now_ns = now_unix_ns()) {
    store(m, actions);
    use(m, actions, now_ns);
    return publish_packs(kKey, m.index, m.objects, *remote);
  }

  std::optional<PackPointer> pointer(const std::string& key = kKey) {
    const auto path = std::filesystem::path(remote_dir.path()) / pointer_remote_key(key);
    if (!std::filesystem::exists(path)) return std::nullopt;
    return decode_pack_pointer(read_file(path));
  }
  std::string pack_file(const Id& id) { return remote_dir / ("cas/" + to_hex(id)); }
  std::size_t packs_on_remote() {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(remote_dir / "cas", ec)) n += entry.is_regular_file();
    return n;
  }

  // Whether the pack of a first job stays in the pointer when a later job of
  // the same size uses none of it, and a job of the key last used it `age` ago.
  bool unused_pack_stays(std::int64_t age) {
    Machine first;
    const auto actions = first_job();
    EXPECT_TRUE(publish(first, actions).pointer_written);
    PackPointer aged = *pointer();
    const PackRef old = aged.packs.at(0);
    aged.packs[0].last_used_ns = now_unix_ns() - age;
    first.index.set_job_pointer(kKey, encode_pack_pointer(aged), now_unix_ns());

    const std::vector<Action> added = new_actions(8);  // none of the pack's
    const PublishedPacks published = publish(first, added, now_unix_ns() + 2 * kGap);
    EXPECT_TRUE(published.pointer_written);
    EXPECT_EQ(published.pack_actions, added.size());
    const auto now = pointer();
    EXPECT_TRUE(now);
    if (!now) return false;
    EXPECT_EQ(now->packs.back().actions, added.size());
    return std::any_of(now->packs.begin(), now->packs.end(), [&](const PackRef& p) { return p.id == old.id; });
  }

  // Replays `keys` on `m` and gets every action as Cache::get_from_packs does.
  void expect_replayed(Machine& m, const std::vector<Action>& actions, const std::vector<std::string>& keys = {kKey}) {
    PackReplay replay(m.objects, m.index, *remote, m.health);
    replay.start(keys);
    for (const auto& a : actions) {
      SCOPED_TRACE("action " + a.name);
      const auto covered = replay.lookup(a.id());
      ASSERT_TRUE(covered);
      EXPECT_EQ(covered->output_id, a.output_id());
      EXPECT_EQ(covered->size, a.object.size());
      EXPECT_EQ(covered->put_time_ns, kPutTime);
      if (!covered->head.empty()) {
        EXPECT_TRUE(a.object.starts_with(covered->head)) << "a head is the object's";
      }
      if (!covered->stored) {
        const auto stamp = replay.wait_for(a.output_id());
        ASSERT_TRUE(stamp);
        EXPECT_EQ(stamp->size, a.object.size());
      }
      // Once stored, an ordinary local hit.
      const auto entry = m.index.lookup(a.id());
      ASSERT_TRUE(entry);
      EXPECT_EQ(entry->output_id, a.output_id());
      EXPECT_EQ(entry->size, a.object.size());
      EXPECT_EQ(entry->put_time_ns, kPutTime);
      EXPECT_EQ(hash_file(m.objects.path_of(a.output_id())), a.output_id());
    }
    replay.finish(std::chrono::seconds(10));
  }

  TempDir remote_dir;
  std::unique_ptr<Remote> remote = make_remote("file://" + remote_dir.path(), {});
};

TEST_F(PackReplayTest, PublishWritesThePackThenThePointer) {
  Machine first;
  const auto actions = first_job();
  const PublishedPacks published = publish(first, actions);
  EXPECT_TRUE(published.pointer_written);
  EXPECT_EQ(published.pack_actions, actions.size());
  EXPECT_EQ(published.skipped, 0u);
  EXPECT_GT(published.pack_bytes, 0u);

  const auto written = pointer();
  ASSERT_TRUE(written);
  EXPECT_EQ(written->key, kKey);
  ASSERT_EQ(written->packs.size(), 1u);
  const PackRef ref = written->packs[0];
  EXPECT_EQ(ref.size, published.pack_bytes);
  EXPECT_EQ(ref.actions, actions.size());
  ASSERT_TRUE(std::filesystem::exists(pack_file(ref.id)));
  EXPECT_EQ(hash_file(pack_file(ref.id)), ref.id) << "a pack is named by its hash";
  EXPECT_EQ(std::filesystem::file_size(pack_file(ref.id)), ref.size);

  // What the first machine remembers of it.
  EXPECT_EQ(decode_pack_pointer(first.index.job_pointer(kKey))->packs, written->packs);
  const auto known = first.index.known_pack(ref.id);
  ASSERT_TRUE(known);
  EXPECT_TRUE(known->complete);
  std::vector<Id> members = first.index.pack_members(ref.id), expected;
  for (const auto& a : actions) expected.push_back(a.id());
  std::sort(members.begin(), members.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(members, expected);
}

TEST_F(PackReplayTest, ObjectsNotStoredHereAreLeftOut) {
  Machine first;
  auto actions = first_job();
  store(first, actions);
  const Action lazy{"lazy hit", text_bytes(1000, "never read whole\n")};
  actions.push_back(lazy);
  use(first, actions, now_unix_ns());
  const PublishedPacks published = publish_packs(kKey, first.index, first.objects, *remote);
  EXPECT_EQ(published.skipped, 1u);
  EXPECT_EQ(published.pack_actions, actions.size() - 1);
  ASSERT_TRUE(pointer());
  EXPECT_EQ(pointer()->packs[0].actions, actions.size() - 1);
}

TEST_F(PackReplayTest, SecondMachineReplaysEveryAction) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  expect_replayed(second, actions);
  const PackRef ref = pointer()->packs[0];
  const auto known = second.index.known_pack(ref.id);
  ASSERT_TRUE(known);
  EXPECT_TRUE(known->complete) << "read whole";
  EXPECT_EQ(second.index.job_pointer(kKey), read_file(remote_dir / pointer_remote_key(kKey)));
}

TEST_F(PackReplayTest, CountersAndFinish) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  PackReplay replay(second.objects, second.index, *remote, second.health);
  replay.start({kKey});
  replay.finish(std::chrono::seconds(10));
  const PackReplayCounters counters = replay.counters();
  EXPECT_EQ(counters.actions_warmed, actions.size());
  EXPECT_EQ(counters.objects_stored, actions.size() - 1) << "one object is used twice";
  EXPECT_GT(counters.pack_bytes, pointer()->packs[0].size) << "the pack and its pointer";
  for (const auto& a : actions) EXPECT_TRUE(second.index.lookup(a.id())) << a.name << ", without a get";
}

// Holds the stream of one key once `hold_at` bytes of it came, until released.
class HeldStreamRemote : public testing::ForwardingRemote {
 public:
  HeldStreamRemote(Remote& inner, std::string key, std::uint64_t hold_at, std::shared_future<void> release)
      : ForwardingRemote(inner), key_(std::move(key)), hold_at_(hold_at), release_(std::move(release)) {}
  RemoteResult fetch(const std::string& key, const RemoteSink& sink) override {
    if (key != key_) return inner_.fetch(key, sink);
    std::uint64_t delivered = 0;
    return inner_.fetch(key, [&](const char* data, std::size_t size) {
      if (delivered < hold_at_ && delivered + size >= hold_at_) {
        const std::size_t before = hold_at_ - delivered;
        if (!sink(data, before)) return false;
        release_.wait();
        delivered += size;
        return sink(data + before, size - before);
      }
      delivered += size;
      return sink(data, size);
    });
  }

 private:
  const std::string key_;
  const std::uint64_t hold_at_;
  std::shared_future<void> release_;
};

// What the lazy mount's read-ahead leaves to the stream (LazyGets::arriving).
TEST_F(PackReplayTest, AnObjectIsArrivingWhileAMovingStreamWillBringIt) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  const PackRef pack = pointer()->packs.at(0);
  std::promise<void> release;
  // Halfway: in the random bytes, after the archive's body, before the large text's.
  HeldStreamRemote held(*remote, "cas/" + to_hex(pack.id), pack.size / 2, release.get_future().share());
  PackReplay replay(second.objects, second.index, held, second.health);
  replay.start({kKey});
  const Action& archive = actions[3];
  const Action& large_text = actions[5];
  ASSERT_TRUE(replay.lookup(large_text.id()));
  ASSERT_TRUE(replay.wait_for(archive.output_id(), PackReplay::Wait::kUntilItComes));
  EXPECT_FALSE(replay.arriving(archive.output_id())) << "stored";
  EXPECT_TRUE(replay.arriving(large_text.output_id()));
  EXPECT_FALSE(replay.arriving(Sha256::of("in no pack")));
  release.set_value();
  replay.finish(std::chrono::seconds(10));
  EXPECT_FALSE(replay.arriving(large_text.output_id())) << "stored";
  EXPECT_TRUE(replay.wait_for(large_text.output_id()));
}

TEST_F(PackReplayTest, PackReadWholeIsNotFetchedAgain) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  expect_replayed(second, actions);

  PackReplay again(second.objects, second.index, *remote, second.health);
  again.start({kKey});
  again.finish(std::chrono::seconds(10));
  EXPECT_LT(again.counters().pack_bytes, 4096u) << "only the pointer";
  EXPECT_EQ(again.counters().objects_stored, 0u);
}

TEST_F(PackReplayTest, KeyWithoutAPointerCoversNothingAtOnce) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  PackReplay replay(second.objects, second.index, *remote, second.health);
  replay.start({"another key"});
  const auto start = std::chrono::steady_clock::now();
  for (const auto& a : actions) EXPECT_FALSE(replay.lookup(a.id()));
  EXPECT_FALSE(replay.wait_for(actions[0].output_id()));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_FALSE(second.index.lookup(actions[0].id()));
  EXPECT_EQ(second.index.job_pointer("another key"), "");

  PackReplay nothing(second.objects, second.index, *remote, second.health);
  nothing.start({});
  EXPECT_FALSE(nothing.lookup(actions[0].id()));
}

TEST_F(PackReplayTest, FallbackKeyIsReadWhenTheKeyHasNoPointer) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  expect_replayed(second, actions, {"this branch", kKey});
  // Recorded as this job's own key's pointer: its publish starts from it.
  EXPECT_EQ(second.index.job_pointer("this branch"), read_file(remote_dir / pointer_remote_key(kKey)));
}

// A pointer copied to another key's name (anyone who may write can) would
// give that key's jobs this one's actions: ignored, signed or not.
TEST_F(PackReplayTest, APointerCopiedToAnotherKeyIsIgnored) {
  const auto keys = std::make_shared<const SigningKeys>(SigningKeys::parse("team " + std::string(40, 'k')));
  for (const bool with_key : {false, true}) {
    SCOPED_TRACE(with_key ? "signed" : "unsigned");
    Machine first, second;
    const auto actions = first_job();
    store(first, actions);
    use(first, actions, now_unix_ns());
    ASSERT_TRUE(publish_packs(kKey, first.index, first.objects, *remote, with_key ? keys.get() : nullptr).pointer_written);
    const std::string other_key = std::string("another key, ") + (with_key ? "signed" : "unsigned");
    std::filesystem::copy_file(remote_dir / pointer_remote_key(kKey), remote_dir / pointer_remote_key(other_key));

    PackReplay replay(second.objects, second.index, *remote, second.health, PackReplay::Mode::kEager,
                      with_key ? RemoteTrust{keys} : RemoteTrust{});
    replay.start({other_key});
    for (const auto& a : actions) EXPECT_FALSE(replay.lookup(a.id())) << a.name;
    replay.finish(std::chrono::seconds(10));
    EXPECT_EQ(replay.counters().packs_rejected, 1u);
    EXPECT_EQ(replay.counters().objects_stored, 0u);
    EXPECT_EQ(second.index.job_pointer(other_key), "") << "not recorded as the key's pointer";
    // Under its own key, the same pointer is replayed.
    expect_replayed(second, actions, {kKey});
  }
}

TEST_F(PackReplayTest, PointerOfGarbageIsIgnored) {
  Machine second;
  ASSERT_TRUE(remote->store_bytes(pointer_remote_key(kKey), "not a pointer").ok());
  PackReplay replay(second.objects, second.index, *remote, second.health);
  replay.start({kKey});
  EXPECT_FALSE(replay.lookup(Sha256::of("anything")));
  EXPECT_EQ(second.index.job_pointer(kKey), "");
}

TEST_F(PackReplayTest, MissingPackCostsNothingButItsRequest) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  const PackRef ref = pointer()->packs[0];
  std::filesystem::remove(pack_file(ref.id));
  PackReplay replay(second.objects, second.index, *remote, second.health);
  replay.start({kKey});
  for (const auto& a : actions) EXPECT_FALSE(replay.lookup(a.id()));
  replay.finish(std::chrono::seconds(10));
  EXPECT_FALSE(second.index.known_pack(ref.id) && second.index.known_pack(ref.id)->complete);
}

TEST_F(PackReplayTest, DamagedObjectInAPackIsNeverStored) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  const PackRef ref = pointer()->packs[0];
  // Random bytes are stored as they are: flip one of the body's, far from
  // the head that the front carries too.
  const Action& damaged = actions[4];
  ASSERT_EQ(damaged.name, "random");
  std::string pack = read_file(pack_file(ref.id));
  const std::size_t at = pack.find(damaged.object.substr(700000, 64));
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(pack.find(damaged.object.substr(700000, 64), at + 1), std::string::npos);
  pack[at + 20] ^= 0x01;
  write_file(pack_file(ref.id), pack);

  PackReplay replay(second.objects, second.index, *remote, second.health);
  replay.start({kKey});
  for (const auto& a : actions) {
    SCOPED_TRACE("action " + a.name);
    const auto covered = replay.lookup(a.id());
    if (a.name == damaged.name) {
      if (covered) {
        EXPECT_FALSE(covered->stored);
        EXPECT_FALSE(replay.wait_for(a.output_id())) << "the caller fetches it on its own";
      }
      continue;
    }
    ASSERT_TRUE(covered);
    if (!covered->stored) {
      EXPECT_TRUE(replay.wait_for(a.output_id()));
    }
    ASSERT_TRUE(second.index.lookup(a.id()));
    EXPECT_EQ(hash_file(second.objects.path_of(a.output_id())), a.output_id());
  }
  replay.finish(std::chrono::seconds(10));
  EXPECT_FALSE(second.index.lookup(damaged.id()));
  EXPECT_FALSE(second.objects.stat(damaged.output_id()));
  EXPECT_FALSE(replay.lookup(damaged.id())) << "a rejected object is not covered";
  const auto known = second.index.known_pack(ref.id);
  EXPECT_FALSE(known && known->complete) << "read again by the next process";
}

// A whole object in the front that does not hash to its OutputID.
TEST_F(PackReplayTest, DamagedSmallObjectIsNeverStored) {
  Machine first, second;
  const std::vector<Action> actions = {{"random", random_bytes(100 * 1024, 5)}, {"tiny", "tiny object"}};
  ASSERT_TRUE(publish(first, actions).pointer_written);
  const PackRef ref = pointer()->packs[0];
  std::string pack = read_file(pack_file(ref.id));
  const std::size_t at = pack.find(actions[0].object.substr(50000, 64));  // stored as it is
  ASSERT_NE(at, std::string::npos);
  pack[at] ^= 0x01;
  write_file(pack_file(ref.id), pack);

  PackReplay replay(second.objects, second.index, *remote, second.health);
  replay.start({kKey});
  const auto covered = replay.lookup(actions[0].id());
  if (covered) {
    EXPECT_FALSE(covered->stored);
    EXPECT_FALSE(replay.wait_for(actions[0].output_id()));
  }
  replay.finish(std::chrono::seconds(10));
  EXPECT_FALSE(second.index.lookup(actions[0].id()));
  EXPECT_FALSE(second.objects.stat(actions[0].output_id()));
  EXPECT_TRUE(second.index.lookup(actions[1].id())) << "the objects after it are kept";
}

// A whole object of the front that is rejected leaves the pack incomplete
// here, so that a later process of this store reads it again.
TEST_F(PackReplayTest, PackWithARejectedSmallObjectIsNotComplete) {
  Machine first, second;
  const std::vector<Action> actions = {{"random", random_bytes(100 * 1024, 5)}, {"tiny", "tiny object"}};
  ASSERT_TRUE(publish(first, actions).pointer_written);
  const PackRef ref = pointer()->packs[0];
  std::string pack = read_file(pack_file(ref.id));
  const std::size_t at = pack.find(actions[0].object.substr(50000, 64));
  ASSERT_NE(at, std::string::npos);
  pack[at] ^= 0x01;
  write_file(pack_file(ref.id), pack);

  PackReplay replay(second.objects, second.index, *remote, second.health);
  replay.start({kKey});
  replay.finish(std::chrono::seconds(10));
  ASSERT_FALSE(second.index.lookup(actions[0].id()));
  const auto known = second.index.known_pack(ref.id);
  EXPECT_FALSE(known && known->complete) << "one of its objects is not stored here";
}

TEST_F(PackReplayTest, DamagedHeadStopsThePackAndKeepsWhatCameBefore) {
  Machine first, second;
  // A front of little more than random heads, which zstd stores as they are.
  const std::vector<Action> actions = {{"tiny", "tiny object"},
                                       {"random", random_bytes(kInlineObjectLimit + 1000, 3)},
                                       {"more random", random_bytes(kInlineObjectLimit + 2000, 4)}};
  ASSERT_TRUE(publish(first, actions).pointer_written);
  const PackRef ref = pointer()->packs[0];
  const Action& random = actions[1];
  std::string pack = read_file(pack_file(ref.id));
  const std::size_t at = pack.find(random.object.substr(4000, 64));  // in the head, which comes first
  ASSERT_NE(at, std::string::npos);
  ASSERT_LT(at, ref.size / 2) << "in the front, not the body";
  pack[at] ^= 0x01;
  write_file(pack_file(ref.id), pack);

  PackReplay replay(second.objects, second.index, *remote, second.health);
  replay.start({kKey});
  replay.finish(std::chrono::seconds(10));
  EXPECT_TRUE(second.index.lookup(actions[0].id())) << "a whole object before the damaged head is kept";
  for (const Action* lost : {&actions[1], &actions[2]}) {
    SCOPED_TRACE(lost->name);
    EXPECT_FALSE(second.index.lookup(lost->id()));
    EXPECT_FALSE(second.objects.stat(lost->output_id()));
    EXPECT_FALSE(replay.wait_for(lost->output_id()));
  }
  const auto known = second.index.known_pack(ref.id);
  EXPECT_FALSE(known && known->complete);
}

TEST_F(PackReplayTest, PublishingAgainWithNothingNewWritesNothing) {
  Machine first;
  const auto actions = first_job();
  const std::int64_t now = now_unix_ns();
  ASSERT_TRUE(publish(first, actions, now).pointer_written);
  const std::string pointer_bytes = read_file(remote_dir / pointer_remote_key(kKey));

  // The job's next go command, using the same actions again.
  use(first, actions, now + 1000);
  const PublishedPacks again = publish_packs(kKey, first.index, first.objects, *remote);
  EXPECT_FALSE(again.pointer_written);
  EXPECT_EQ(again.pack_bytes, 0u);
  EXPECT_EQ(again.pack_actions, 0u);
  EXPECT_EQ(packs_on_remote(), 1u);
  EXPECT_EQ(read_file(remote_dir / pointer_remote_key(kKey)), pointer_bytes);

  // A next job that uses exactly what the last one left (here: the same store).
  use(first, actions, now + 2 * kGap);
  EXPECT_FALSE(publish_packs(kKey, first.index, first.objects, *remote).pointer_written);
  EXPECT_EQ(packs_on_remote(), 1u);
}

TEST_F(PackReplayTest, NothingUsedNothingWritten) {
  Machine first;
  EXPECT_FALSE(publish_packs(kKey, first.index, first.objects, *remote).pointer_written);
  EXPECT_FALSE(pointer());
}

TEST_F(PackReplayTest, LaterJobKeepsThePackItUsesAndPacksWhatIsNew) {
  Machine first, second, third;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  const PackRef kept = pointer()->packs[0];
  expect_replayed(second, actions);

  // The second job uses most of the pack, and new actions.
  std::vector<Action> used(actions.begin(), actions.begin() + 5);
  const std::vector<Action> added = {{"new text", text_bytes(20000, "new\n")},
                                     {"new random", random_bytes(300 * 1024, 2)}};
  store(second, added);
  used.insert(used.end(), added.begin(), added.end());
  use(second, used, now_unix_ns() + 2 * kGap);
  const PublishedPacks published = publish_packs(kKey, second.index, second.objects, *remote);
  EXPECT_TRUE(published.pointer_written);
  EXPECT_EQ(published.pack_actions, added.size());
  const auto now = pointer();
  ASSERT_TRUE(now);
  ASSERT_EQ(now->packs.size(), 2u);
  EXPECT_EQ(now->packs[0], kept) << "kept, first: its entries were used first";
  EXPECT_EQ(now->packs[1].actions, added.size());
  EXPECT_EQ(now->packs[1].size, published.pack_bytes);
  EXPECT_TRUE(std::filesystem::exists(pack_file(now->packs[1].id)));

  // A third machine gets both packs.
  std::vector<Action> all = actions;
  all.insert(all.end(), added.begin(), added.end());
  expect_replayed(third, all);
}

// A job as large as the last one (done) that used less than half of a pack:
// the pack goes, what the job used of it is packed anew.
TEST_F(PackReplayTest, PackMostlyUnusedIsDroppedAndWhatWasUsedPackedAnew) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  const PackRef old = pointer()->packs[0];
  expect_replayed(second, actions);

  std::vector<Action> used = {actions[2], actions[0]};  // 2 of 7
  const std::vector<Action> added = new_actions(5);
  store(second, added);
  used.insert(used.end(), added.begin(), added.end());
  use(second, used, now_unix_ns() + 2 * kGap);
  const PublishedPacks published = publish_packs(kKey, second.index, second.objects, *remote);
  EXPECT_TRUE(published.pointer_written);
  EXPECT_EQ(published.pack_actions, used.size());
  const auto now = pointer();
  ASSERT_TRUE(now);
  ASSERT_EQ(now->packs.size(), 1u);
  EXPECT_NE(now->packs[0].id, old.id);
  EXPECT_EQ(now->packs[0].actions, used.size());
  EXPECT_EQ(now->job_actions, used.size());

  Machine third;
  expect_replayed(third, used);
  EXPECT_FALSE(third.index.lookup(actions[4].id())) << "no longer named";
}

// A job that has done less than the last one may still use the rest of a
// pack in its later go commands: the pack stays until the job is done.
TEST_F(PackReplayTest, PackPartlyUsedIsKeptWhileTheJobMayStillUseIt) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  const PackRef old = pointer()->packs[0];
  expect_replayed(second, actions);

  std::vector<Action> used = {actions[2], actions[0]};
  const std::vector<Action> added = new_actions(1);
  store(second, added);
  used.insert(used.end(), added.begin(), added.end());
  use(second, used, now_unix_ns() + 2 * kGap);
  const PublishedPacks published = publish_packs(kKey, second.index, second.objects, *remote);
  EXPECT_EQ(published.pack_actions, 1u) << "only what is new";
  const auto now = pointer();
  ASSERT_TRUE(now);
  ASSERT_EQ(now->packs.size(), 2u);
  EXPECT_EQ(now->packs[0], old);
  EXPECT_EQ(now->job_actions, actions.size()) << "the last whole job's size, not this part's";
}

// Few new actions among many used: fetched per action by the next job
// rather than costing a pack.
TEST_F(PackReplayTest, AFewNewActionsAreNotWorthAPack) {
  Machine first;
  const std::vector<Action> actions = new_actions(60);
  const std::int64_t now = now_unix_ns();
  ASSERT_TRUE(publish(first, actions, now).pointer_written);
  const auto before = pointer();
  ASSERT_TRUE(before);

  std::vector<Action> used = actions;
  const Action added{"one more", "one more object"};
  store(first, {added});
  used.push_back(added);
  use(first, used, now + 2 * kGap);
  const PublishedPacks published = publish_packs(kKey, first.index, first.objects, *remote);
  EXPECT_EQ(published.pack_bytes, 0u);
  EXPECT_EQ(published.pack_actions, 0u);
  EXPECT_EQ(packs_on_remote(), 1u);
  const auto after = pointer();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->packs, before->packs);
}

// A pack no action of this job is in stays while jobs of the key used it
// in the last days (another job's go commands may need it), then goes.
TEST_F(PackReplayTest, UnusedPackStaysWhileAJobUsedItLately) {
  const std::int64_t day = 24 * 3600 * kSecond;
  EXPECT_TRUE(unused_pack_stays(day));
}

TEST_F(PackReplayTest, UnusedPackGoesWhenNoJobUsedItForDays) {
  const std::int64_t day = 24 * 3600 * kSecond;
  EXPECT_FALSE(unused_pack_stays(4 * day));
}

// The pointer records a pack's last use to the day: a job that uses a pack
// last used days ago rewrites the pointer, though its packs stay the same.
TEST_F(PackReplayTest, LastUseOfAPackIsRecordedDaily) {
  Machine first;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  PackPointer aged = *pointer();
  const std::int64_t two_days_ago = now_unix_ns() - 2 * 24 * 3600 * kSecond;
  aged.packs[0].last_used_ns = two_days_ago;
  first.index.set_job_pointer(kKey, encode_pack_pointer(aged), now_unix_ns());

  const std::int64_t before = now_unix_ns();
  use(first, actions, now_unix_ns() + 2 * kGap);
  const PublishedPacks published = publish_packs(kKey, first.index, first.objects, *remote);
  EXPECT_TRUE(published.pointer_written);
  EXPECT_EQ(published.pack_bytes, 0u);
  const auto now = pointer();
  ASSERT_TRUE(now);
  ASSERT_EQ(now->packs.size(), 1u);
  EXPECT_EQ(now->packs[0].id, aged.packs[0].id);
  EXPECT_GE(now->packs[0].last_used_ns, before);
  EXPECT_EQ(packs_on_remote(), 1u);
}

// An object that two packs hold is stored once, from either: the actions
// of both packs are recorded, whichever index comes first.
TEST_F(PackReplayTest, ObjectInTwoPacksRecordsTheActionsOfBoth) {
  Machine first, second, third;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  expect_replayed(second, actions);
  // A new action whose object the kept pack holds already.
  std::vector<Action> used(actions.begin(), actions.begin() + 5);
  const Action shared{"new action, old object", actions[2].object};
  store(second, {shared});
  used.push_back(shared);
  use(second, used, now_unix_ns() + 2 * kGap);
  ASSERT_EQ(publish_packs(kKey, second.index, second.objects, *remote).pack_actions, 1u);
  ASSERT_EQ(pointer()->packs.size(), 2u);

  std::vector<Action> all = actions;
  all.push_back(shared);
  expect_replayed(third, all);
}

// A job that read through the lazy mount (its reads recorded) and read few
// of the pack's bodies beyond their heads packs anew what it used, with the
// heads alone of what it did not read; a replay of that pack answers those
// from the head and leaves their bytes to cas/.
TEST_F(PackReplayTest, ALazyJobThatReadLittlePacksHeadsOnly) {
  Machine first, second, third;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  const PackRef cold = pointer()->packs.at(0);
  expect_replayed(second, actions);

  // The second job uses every action, is answered every large object in the
  // mount, and reads one of them whole.
  const Action& read = actions[3];  // the archive
  std::vector<Id> large_objects;
  for (const auto& a : actions) {
    if (inline_size_for(a.object.size(), a.object) < a.object.size()) large_objects.push_back(a.output_id());
  }
  second.index.record_lazy_objects(large_objects, {read.output_id()});
  use(second, actions, now_unix_ns() + 2 * kGap);
  const PublishedPacks published = publish_packs(kKey, second.index, second.objects, *remote);
  EXPECT_TRUE(published.pointer_written);
  EXPECT_EQ(published.pack_actions, actions.size());
  ASSERT_EQ(pointer()->packs.size(), 1u);
  const PackRef refined = pointer()->packs[0];
  EXPECT_NE(refined.id, cold.id);
  EXPECT_LT(refined.size, cold.size) << "the unread bodies stay out";

  PackReplay replay(third.objects, third.index, *remote, third.health);
  replay.start({kKey});
  for (const auto& a : actions) {
    SCOPED_TRACE("action " + a.name);
    const auto covered = replay.lookup(a.id());
    ASSERT_TRUE(covered);
    const bool large = inline_size_for(a.object.size(), a.object) < a.object.size();
    if (!large) {
      EXPECT_TRUE(replay.wait_for(a.output_id())) << "small objects travel whole";
    } else if (a.name == read.name) {
      EXPECT_TRUE(replay.wait_for(a.output_id())) << "what was read travels whole";
    } else {
      EXPECT_FALSE(covered->head.empty());
      EXPECT_TRUE(a.object.starts_with(covered->head));
      EXPECT_FALSE(replay.wait_for(a.output_id())) << "a head only: its bytes come from cas/";
    }
  }
  // Replaying the refined pack again changes nothing.
  use(third, actions, now_unix_ns() + 4 * kGap);
  third.index.record_lazy_objects(large_objects, {read.output_id()});
  EXPECT_FALSE(publish_packs(kKey, third.index, third.objects, *remote).pointer_written);
}

// An eager job (nothing answered in the mount) takes nothing for unread.
TEST_F(PackReplayTest, AnEagerJobKeepsEveryBody) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  expect_replayed(second, actions);
  use(second, actions, now_unix_ns() + 2 * kGap);
  EXPECT_FALSE(publish_packs(kKey, second.index, second.objects, *remote).pointer_written);
}

// A store that holds the pack's bodies already (a warm workstation) reads
// the pack up to them only, and every action is still covered.
TEST_F(PackReplayTest, AWarmStoreReadsThePackUpToItsBodies) {
  Machine first, second;
  const auto actions = first_job();
  ASSERT_TRUE(publish(first, actions).pointer_written);
  store(second, actions);
  PackReplay replay(second.objects, second.index, *remote, second.health);
  replay.start({kKey});
  for (const auto& a : actions) {
    SCOPED_TRACE("action " + a.name);
    ASSERT_TRUE(replay.lookup(a.id()));
    EXPECT_TRUE(replay.wait_for(a.output_id()));
  }
  replay.finish(std::chrono::seconds(10));
  EXPECT_LT(replay.counters().pack_bytes, pointer()->packs.at(0).size / 2);
}

// What the job asked for and found nowhere travels too: the next job's get
// of it is a miss at once, without a round trip; a put of it later in a job
// makes it an ordinary entry of the next pack.
TEST_F(PackReplayTest, KnownMissesAreAnsweredAtOnce) {
  Machine first, second;
  const auto actions = first_job();
  store(first, actions);
  use(first, actions, now_unix_ns());
  const Id nowhere = Sha256::of("asked for, never put");
  first.index.journal_uses(kKey, {JournalEntry{.action_id = nowhere, .miss = true}}, now_unix_ns(), kGap);
  ASSERT_TRUE(publish_packs(kKey, first.index, first.objects, *remote).pointer_written);
  EXPECT_EQ(pointer()->packs.at(0).actions, actions.size() + 1);

  PackReplay replay(second.objects, second.index, *remote, second.health);
  replay.start({kKey});
  const auto covered = replay.lookup(nowhere);
  ASSERT_TRUE(covered);
  EXPECT_TRUE(covered->miss);
  EXPECT_FALSE(replay.lookup(Sha256::of("not in the pack at all")));
  const auto hit = replay.lookup(actions[0].id());
  ASSERT_TRUE(hit);
  EXPECT_FALSE(hit->miss);
}

// A known miss that a later job put is packed anew, as the put.
TEST_F(PackReplayTest, AKnownMissThatALaterJobPutIsPackedAnew) {
  Machine first, second, third;
  const auto actions = first_job();
  store(first, actions);
  use(first, actions, now_unix_ns());
  const Action later{"missed first, put later", text_bytes(2000, "later\n")};
  first.index.journal_uses(kKey, {JournalEntry{.action_id = later.id(), .miss = true}}, now_unix_ns(), kGap);
  ASSERT_TRUE(publish_packs(kKey, first.index, first.objects, *remote).pointer_written);
  expect_replayed(second, actions);

  std::vector<Action> used = actions;
  used.push_back(later);
  store(second, {later});
  use(second, used, now_unix_ns() + 2 * kGap);
  const PublishedPacks published = publish_packs(kKey, second.index, second.objects, *remote);
  EXPECT_EQ(published.pack_actions, 1u) << "the put, in a pack of its own";
  EXPECT_TRUE(published.pointer_written);
  PackReplay replay(third.objects, third.index, *remote, third.health);
  replay.start({kKey});
  const auto covered = replay.lookup(later.id());
  ASSERT_TRUE(covered);
  EXPECT_FALSE(covered->miss) << "an entry of one pack wins over a known miss of another";
  EXPECT_EQ(covered->output_id, later.output_id());
}

// A job that could not read its key's pointer writes no pointer, which
// would forget the packs it did not see.
TEST_F(PackReplayTest, AJobThatCouldNotReadThePointerWritesNone) {
  Machine first;
  const auto actions = first_job();
  store(first, actions);
  use(first, actions, now_unix_ns());
  first.index.set_job_pointer(kKey, kPointerUnknown, now_unix_ns());
  const PublishedPacks published = publish_packs(kKey, first.index, first.objects, *remote);
  EXPECT_FALSE(published.pointer_written);
  EXPECT_FALSE(pointer());
}

// A pack that would make a replay hold more than its limits is not
// replayed: not one of its actions is taken, and it is counted and logged
// once. Crafted: an index declaring 9,000 heads of 16 KiB (140 MiB; a few
// hundred KB of compressed index could declare hundreds of GiB).
TEST_F(PackReplayTest, APackOverTheMemoryLimitsIsNotReplayed) {
  Machine second;
  constexpr std::uint32_t kObjects = 9000;
  ASSERT_GT(std::uint64_t{kObjects} * kInlinePrefixLimit, PackReplayLimits{}.head_bytes_per_pack);
  ASSERT_LT(2 * kObjects, PackReplayLimits{}.entries_per_pack) << "over the head bytes only";
  const std::string pack = testing::crafted_pack(kObjects, 1 << 20, kInlinePrefixLimit);
  const Id pack_id = Sha256::of(pack);
  ASSERT_TRUE(remote->store_bytes("cas/" + to_hex(pack_id), pack).ok());
  ASSERT_TRUE(remote->store_bytes(pointer_remote_key(kKey),
                                  encode_pack_pointer({.packs = {{pack_id, pack.size(), kObjects, 0}}, .key = kKey}))
                  .ok());
  PackReplay replay(second.objects, second.index, *remote, second.health);
  replay.start({kKey});
  for (const std::uint32_t i : {0u, kObjects / 2, kObjects - 1}) {
    EXPECT_FALSE(replay.lookup(Sha256::of("crafted action " + std::to_string(i)))) << "action " << i;
  }
  replay.finish(std::chrono::seconds(10));
  EXPECT_EQ(replay.counters().packs_rejected, 1u);
  EXPECT_LT(replay.counters().pack_bytes, pack.size() + 4096) << "read no further than its index";
}

// Within the limits of one pack, the packs of a pointer share the limits of
// the replay: the first whose index comes is replayed, the other not.
TEST_F(PackReplayTest, ThePacksOfAReplayShareItsLimits) {
  Machine first, other;
  const auto actions = first_job();  // 7 actions, 6 objects
  ASSERT_TRUE(publish(first, actions).pointer_written);
  const PackRef small = pointer()->packs.at(0);
  const auto added = new_actions(40);  // 40 actions, 40 objects
  ASSERT_TRUE(publish(other, added).pointer_written);
  const PackRef large = pointer()->packs.at(0);
  ASSERT_NE(small.id, large.id);
  ASSERT_TRUE(remote->store_bytes(pointer_remote_key(kKey), encode_pack_pointer({.packs = {small, large}, .key = kKey}))
                  .ok());
  const auto covered = [](PackReplay& replay, const std::vector<Action>& of) {
    std::size_t n = 0;
    for (const auto& a : of) n += replay.lookup(a.id()).has_value();
    return n;
  };

  {  // A pack over what one pack may hold.
    Machine second;
    PackReplay replay(second.objects, second.index, *remote, second.health, PackReplay::Mode::kEager, {},
                      {.entries_per_pack = 50});
    replay.start({kKey});
    replay.finish(std::chrono::seconds(10));
    EXPECT_EQ(covered(replay, actions), actions.size());
    EXPECT_EQ(covered(replay, added), 0u);
    EXPECT_EQ(replay.counters().packs_rejected, 1u);
    EXPECT_FALSE(second.index.lookup(added[0].id()));
    const auto known = second.index.known_pack(large.id);
    EXPECT_FALSE(known && known->complete) << "a pack not replayed is not held here, however much of it came";
  }
  {  // Each fits, both do not.
    Machine second;
    PackReplay replay(second.objects, second.index, *remote, second.health, PackReplay::Mode::kEager, {},
                      {.entries = 90});
    replay.start({kKey});
    replay.finish(std::chrono::seconds(10));
    const std::size_t small_covered = covered(replay, actions), large_covered = covered(replay, added);
    EXPECT_TRUE((small_covered == actions.size() && large_covered == 0) ||
                (small_covered == 0 && large_covered == added.size()))
        << small_covered << " of the small pack's actions and " << large_covered << " of the large one's";
    EXPECT_EQ(replay.counters().packs_rejected, 1u);
  }
  {  // Heads count too: the small pack's three large objects carry one each.
    Machine second;
    PackReplay replay(second.objects, second.index, *remote, second.health, PackReplay::Mode::kEager, {},
                      {.head_bytes = 2 * kInlinePrefixLimit});
    replay.start({kKey});
    replay.finish(std::chrono::seconds(10));
    EXPECT_EQ(covered(replay, actions), 0u);
    EXPECT_EQ(covered(replay, added), added.size()) << "a pack without heads fits";
    EXPECT_EQ(replay.counters().packs_rejected, 1u);
  }
}

}  // namespace
}  // namespace gocachefs
