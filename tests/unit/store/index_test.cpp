#include "store/index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "store/sha256.h"
#include "tests/support/subprocess.h"

namespace gocachefs {

using testing::TempDir;

namespace {
Id id_of(const std::string& s) { return Sha256::of(s); }
}  // namespace

TEST(Index, LooksUpWhatWasPut) {
  TempDir dir;
  Index index(dir / "index.sqlite");
  EXPECT_FALSE(index.lookup(id_of("a")));
  index.record_put(id_of("a"), {id_of("out"), 42, 1234567890123});
  const auto entry = index.lookup(id_of("a"));
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->output_id, id_of("out"));
  EXPECT_EQ(entry->size, 42u);
  EXPECT_EQ(entry->put_time_ns, 1234567890123);
}

TEST(Index, LaterPutReplacesTheAction) {
  TempDir dir;
  Index index(dir / "index.sqlite");
  index.record_put(id_of("a"), {id_of("one"), 1, 10});
  index.record_put(id_of("a"), {id_of("two"), 2, 20});
  EXPECT_EQ(index.lookup(id_of("a"))->output_id, id_of("two"));
  const auto totals = index.totals();
  EXPECT_EQ(totals.actions, 1u);
  EXPECT_EQ(totals.objects, 2u);
  EXPECT_EQ(totals.object_bytes, 3u);
}

TEST(Index, PersistsAcrossConnectionsAndCountsUp) {
  TempDir dir;
  {
    Index index(dir / "index.sqlite");
    index.record_put(id_of("a"), {id_of("out"), 7, 1});
    index.add_to_counters({{"get_hits", 3}, {"get_misses", 1}});
  }
  Index index(dir / "index.sqlite");
  index.add_to_counters({{"get_hits", 2}});
  EXPECT_TRUE(index.lookup(id_of("a")));
  const auto totals = index.totals();
  EXPECT_EQ(totals.counters.at("get_hits"), 5);
  EXPECT_EQ(totals.counters.at("get_misses"), 1);
}

TEST(Index, RecordsUsesNoMoreThanHourly) {
  TempDir dir;
  Index index(dir / "index.sqlite");
  index.record_put(id_of("a"), {id_of("out"), 7, 0});
  EXPECT_EQ(index.last_used_ns(id_of("out")), 0);
  index.record_uses({id_of("out"), id_of("unknown")}, 10);  // less than an hour after: left alone
  EXPECT_EQ(index.last_used_ns(id_of("out")), 0);
  const std::int64_t hour = 3600LL * 1000 * 1000 * 1000;
  index.record_uses({id_of("out")}, 2 * hour);
  EXPECT_EQ(index.last_used_ns(id_of("out")), 2 * hour);
  EXPECT_FALSE(index.last_used_ns(id_of("unknown")));
}

TEST(Index, ManyConnectionsWriteAtOnce) {
  TempDir dir;
  { Index first(dir / "index.sqlite"); }  // create the schema once, as the first process would
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Index index(dir / "index.sqlite");  // each its own connection, like separate processes
      for (int i = 0; i < 200; ++i) {
        index.record_put(id_of(std::to_string(t) + "/" + std::to_string(i)), {id_of(std::to_string(i)), 1, i});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  Index index(dir / "index.sqlite");
  EXPECT_EQ(index.totals().actions, 800u);
}

TEST(Index, UnwritableLocationIsAClearError) {
  try {
    Index index("/proc/no/such/dir/index.sqlite");
    FAIL() << "opened an impossible index";
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/no/such/dir/index.sqlite"), std::string::npos);
  }
}


// Warming (src/warming/): the journal of what a job used, and known packs.
namespace {
constexpr std::int64_t kGap = 3600LL * 1000 * 1000 * 1000;
constexpr std::int64_t kStart = 1690000000LL * 1000 * 1000 * 1000;

JournalEntry used(const std::string& action, const std::string& output = "out", std::uint64_t size = 1,
                  std::int64_t put_time_ns = 5) {
  return {id_of(action), id_of(output), size, put_time_ns};
}

std::vector<Id> actions_of(const std::vector<JournalEntry>& entries) {
  std::vector<Id> ids;
  for (const auto& e : entries) ids.push_back(e.action_id);
  return ids;
}

std::vector<Id> sorted(std::vector<Id> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}
}  // namespace

// A get that missed, then the put of the action (a compile): the put, in
// the miss's place. A miss after a use changes nothing.
TEST(Index, AMissTheJobThenPutBecomesThePut) {
  TempDir dir;
  Index index(dir / "index.sqlite");
  JournalEntry missed{.action_id = id_of("a"), .miss = true};
  index.journal_uses("k", {missed, used("b", "ob", 10, 100)}, kStart, kGap);
  index.journal_uses("k", {used("a", "oa", 20, 200), JournalEntry{.action_id = id_of("b"), .miss = true}}, kStart + 1,
                     kGap);
  const auto journal = index.journal("k");
  ASSERT_EQ(journal.size(), 2u);
  EXPECT_EQ(journal[0].action_id, id_of("a")) << "where the miss was";
  EXPECT_FALSE(journal[0].miss);
  EXPECT_EQ(journal[0].output_id, id_of("oa"));
  EXPECT_EQ(journal[0].size, 20u);
  EXPECT_FALSE(journal[1].miss);
  EXPECT_EQ(journal[1].output_id, id_of("ob"));
  index.journal_uses("k", {JournalEntry{.action_id = id_of("c"), .miss = true}}, kStart + 2, kGap);
  EXPECT_TRUE(index.journal("k").back().miss);
}

TEST(Index, JournalKeepsFirstUseOrderAndIgnoresRepeats) {
  TempDir dir;
  Index index(dir / "index.sqlite");
  EXPECT_TRUE(index.journal("k").empty());
  index.journal_uses("k", {used("b", "ob", 10, 100), used("a", "oa", 20, 200)}, kStart, kGap);
  index.journal_uses("k", {used("c"), used("b", "other", 99, 999), used("d"), used("c")}, kStart + 1, kGap);
  index.journal_uses("other key", {used("z")}, kStart + 2, kGap);
  const auto journal = index.journal("k");
  EXPECT_EQ(actions_of(journal), (std::vector<Id>{id_of("b"), id_of("a"), id_of("c"), id_of("d")}));
  ASSERT_EQ(journal.size(), 4u);
  EXPECT_EQ(journal[0].output_id, id_of("ob")) << "the first use counts";
  EXPECT_EQ(journal[0].size, 10u);
  EXPECT_EQ(journal[0].put_time_ns, 100);
  EXPECT_EQ(journal[1].output_id, id_of("oa"));
  EXPECT_EQ(journal[1].size, 20u);
  EXPECT_EQ(journal[1].put_time_ns, 200);
  EXPECT_EQ(actions_of(index.journal("other key")), std::vector<Id>{id_of("z")});

  Index again(dir / "index.sqlite");  // another process of the same job
  again.journal_uses("k", {used("e")}, kStart + 3, kGap);
  EXPECT_EQ(actions_of(index.journal("k")),
            (std::vector<Id>{id_of("b"), id_of("a"), id_of("c"), id_of("d"), id_of("e")}));
}

TEST(Index, LongPauseStartsANewJournal) {
  TempDir dir;
  Index index(dir / "index.sqlite");
  index.journal_uses("k", {used("a")}, kStart, kGap);
  index.journal_uses("other", {used("o")}, kStart, kGap);
  index.journal_uses("k", {used("b")}, kStart + kGap, kGap);  // exactly the gap: the same job
  EXPECT_EQ(actions_of(index.journal("k")), (std::vector<Id>{id_of("a"), id_of("b")}));
  // The gap counts from the job's last use, not its first.
  index.journal_uses("k", {used("c")}, kStart + 2 * kGap, kGap);
  EXPECT_EQ(index.journal("k").size(), 3u);
  index.journal_uses("k", {used("d"), used("a")}, kStart + 3 * kGap + 1, kGap);  // a new job
  EXPECT_EQ(actions_of(index.journal("k")), (std::vector<Id>{id_of("d"), id_of("a")}));
  EXPECT_EQ(actions_of(index.journal("other")), std::vector<Id>{id_of("o")}) << "per key";
  index.journal_uses("k", {}, kStart + 5 * kGap, kGap);  // a new job that used nothing yet
  EXPECT_TRUE(index.journal("k").empty());
}

TEST(Index, RecordPackMembersCountsNewRows) {
  TempDir dir;
  Index index(dir / "index.sqlite");
  const Id pack = id_of("pack"), other = id_of("other pack");
  EXPECT_TRUE(index.pack_members(pack).empty());
  EXPECT_EQ(index.record_pack_members(pack, {id_of("a"), id_of("b")}), 2u);
  EXPECT_EQ(index.record_pack_members(pack, {id_of("b"), id_of("c"), id_of("c")}), 1u);
  EXPECT_EQ(index.record_pack_members(pack, {id_of("a")}), 0u);
  EXPECT_EQ(index.record_pack_members(pack, {}), 0u);
  EXPECT_EQ(index.record_pack_members(other, {id_of("a")}, /*used=*/true), 1u) << "members per pack";
  EXPECT_EQ(sorted(index.pack_members(pack)), sorted({id_of("a"), id_of("b"), id_of("c")}));
  EXPECT_EQ(index.pack_members(other), std::vector<Id>{id_of("a")});
}

TEST(Index, JournalUsesCountsPackMembersUsedForTheFirstTime) {
  TempDir dir;
  Index index(dir / "index.sqlite");
  index.record_pack_members(id_of("read pack"), {id_of("a"), id_of("b"), id_of("c")});
  index.record_pack_members(id_of("written pack"), {id_of("w")}, /*used=*/true);
  EXPECT_EQ(index.journal_uses("k", {used("a"), used("x")}, kStart, kGap), 1u);
  EXPECT_EQ(index.journal_uses("k", {used("a"), used("b")}, kStart + 1, kGap), 1u) << "a was used already";
  EXPECT_EQ(index.journal_uses("k", {used("w")}, kStart + 2, kGap), 0u) << "its writer used it";
  EXPECT_EQ(index.journal_uses("k", {used("c"), used("c")}, kStart + 3, kGap), 1u);
  EXPECT_EQ(index.journal_uses("k", {used("a"), used("b"), used("c")}, kStart + 10 * kGap, kGap), 0u)
      << "first use in this store, not in this job";
}

TEST(Index, JobPointerRoundTrips) {
  TempDir dir;
  {
    Index index(dir / "index.sqlite");
    EXPECT_EQ(index.job_pointer("k"), "");
    index.journal_uses("k", {used("a")}, kStart, kGap);
    EXPECT_EQ(index.job_pointer("k"), "") << "a job with no pointer yet";
    index.set_job_pointer("k", R"({"gocachefs_pack_pointer":1})", kStart + 1);
    EXPECT_EQ(index.job_pointer("k"), R"({"gocachefs_pack_pointer":1})");
    index.set_job_pointer("k", "second", kStart + 2);
    index.set_job_pointer("new key", "its own", kStart + 2);
    EXPECT_EQ(index.job_pointer("k"), "second");
    EXPECT_EQ(actions_of(index.journal("k")), std::vector<Id>{id_of("a")}) << "the journal stays";
  }
  Index index(dir / "index.sqlite");
  EXPECT_EQ(index.job_pointer("k"), "second");
  EXPECT_EQ(index.job_pointer("new key"), "its own");
  EXPECT_EQ(index.job_pointer("unknown"), "");
  index.journal_uses("k", {used("b")}, kStart + 3, kGap);
  EXPECT_EQ(index.job_pointer("k"), "second") << "using the key keeps its pointer";
  EXPECT_EQ(index.journal("k").size(), 2u);
}

TEST(Index, PackCompletenessIsNeverTakenBack) {
  TempDir dir;
  Index index(dir / "index.sqlite");
  const Id pack = id_of("pack");
  EXPECT_FALSE(index.known_pack(pack));
  index.record_pack({pack, 1000, 7, false});
  auto known = index.known_pack(pack);
  ASSERT_TRUE(known);
  EXPECT_EQ(known->id, pack);
  EXPECT_EQ(known->size, 1000u);
  EXPECT_EQ(known->actions, 7u);
  EXPECT_FALSE(known->complete);
  index.record_pack({pack, 1000, 7, true});
  EXPECT_TRUE(index.known_pack(pack)->complete);
  index.record_pack({pack, 1000, 7, false});  // another process read it short
  EXPECT_TRUE(index.known_pack(pack)->complete);
  EXPECT_FALSE(index.known_pack(id_of("other pack")));
}

}  // namespace gocachefs
