#include "store/index.h"

#include <gtest/gtest.h>

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

}  // namespace gocachefs
