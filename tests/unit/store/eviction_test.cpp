#include "store/eviction.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "src/cache.h"
#include "tests/support/store_fixture.h"

namespace gocachefs {
namespace {

using namespace testing;

// Files go with their rows here: no go command runs alongside.
TrimPolicy at_once(TrimPolicy policy = {}) {
  policy.unlink_after = std::chrono::nanoseconds(0);
  return policy;
}

TEST(Trim, RemovesWhatWasNotUsedWithinMaxAge) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id old = store.put("old", 1000, now - 6 * kDayNs);
  const Id recent = store.put("recent", 1000, now - 2 * kDayNs);
  const auto report = trim_store(store.index, store.objects, at_once(), now);
  EXPECT_EQ(report.objects_removed, 1u);
  EXPECT_EQ(report.bytes_freed, 1000u);
  EXPECT_EQ(report.objects_kept, 1u);
  EXPECT_FALSE(store.has_file(old));
  EXPECT_FALSE(store.has_action("old"));
  EXPECT_TRUE(store.has_file(recent));
  EXPECT_TRUE(store.has_action("recent"));
}

TEST(Trim, CapsTheSizeByRemovingTheLeastRecentlyUsed) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id a = store.put("a", 1000, now - 4 * kDayNs);
  const Id b = store.put("b", 1000, now - 3 * kDayNs);
  const Id c = store.put("c", 1000, now - 2 * kDayNs);
  const auto report = trim_store(store.index, store.objects, at_once({.max_size = 2000}), now);
  EXPECT_EQ(report.objects_removed, 1u);
  EXPECT_FALSE(store.has_file(a));
  EXPECT_TRUE(store.has_file(b));
  EXPECT_TRUE(store.has_file(c));
  EXPECT_EQ(report.bytes_kept, 2000u);
}

TEST(Trim, NeverRemovesWhatWasUsedWithinTheHour) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id fresh = store.put("fresh", 5000, now - kHourNs / 2);
  const auto report = trim_store(store.index, store.objects, at_once({.max_age = std::chrono::minutes(1), .max_size = 1}),
                                 now);
  EXPECT_EQ(report.objects_removed, 0u);
  EXPECT_TRUE(store.has_file(fresh));
}

constexpr std::int64_t kMinuteNs = kHourNs / 60;

// A go command hits an object whose recorded last use is 59 minutes old: too
// recent to be rewritten (src/cache.cpp records a use only once the recorded
// one is an hour old). Returns the object, as it stands two minutes later:
// recorded 61 minutes ago, really used 2 minutes ago.
Id hit_by_a_go_command_two_minutes_ago(StoreFixture& store, std::int64_t now) {
  const Id object = store.put("hit", 1000, now - 59 * kMinuteNs);
  Cache cache{store.objects, store.index};
  EXPECT_TRUE(cache.get(Sha256::of("action hit")));
  cache.flush();
  EXPECT_EQ(store.index.last_used_ns(object), now - 59 * kMinuteNs);  // the use was not recorded
  return object;
}

TEST(Trim, KeepsAnObjectUsedMinutesAgoWhoseRecordedUseIsOverAnHourOld) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id object = hit_by_a_go_command_two_minutes_ago(store, now);
  const auto report = trim_store(store.index, store.objects, at_once({.max_size = 1}), now + 2 * kMinuteNs);
  EXPECT_EQ(report.objects_removed, 0u);
  EXPECT_TRUE(store.has_file(object));
  EXPECT_TRUE(store.has_action("hit"));
}

TEST(Trim, KeepsObjectsWaitingForUpload) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id queued = store.put("queued", 100, now - 10 * kDayNs, /*queue_upload=*/true);
  ASSERT_EQ(store.index.pending_uploads(), 1u);
  trim_store(store.index, store.objects, at_once(), now);
  EXPECT_TRUE(store.has_file(queued));
  EXPECT_TRUE(store.has_action("queued"));
}

TEST(Trim, KeepsAnObjectUsedAfterItWasChosen) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id object = store.put("x", 100, now - 10 * kDayNs);
  store.index.record_uses({object}, now);  // a go command hits it meanwhile
  const auto dropped = store.index.drop_objects({object}, now - kHourNs);
  EXPECT_TRUE(dropped.empty());
  EXPECT_TRUE(store.has_action("x"));
}

TEST(Trim, FinishesWhatAKilledTrimLeft) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id object = store.put("x", 100, now - 10 * kDayNs);
  // Killed after dropping the rows, before removing the file.
  ASSERT_EQ(store.index.drop_objects({object}, now - kHourNs).size(), 1u);
  EXPECT_FALSE(store.has_action("x"));
  EXPECT_TRUE(store.has_file(object));
  trim_store(store.index, store.objects, at_once(), now);
  EXPECT_FALSE(store.has_file(object));
}

TEST(Trim, AUseRecordedLateBringsTheRowBackAndKeepsTheFile) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id object = store.put("x", 100, now - 10 * kDayNs);
  // A go command got a hit just before the trim dropped the row, and records
  // the use a moment later, as it does every couple of seconds.
  ASSERT_EQ(store.index.drop_objects({object}, now - kHourNs).size(), 1u);
  store.index.record_uses({object}, now_ns());
  EXPECT_EQ(remove_trashed_files(store.index, store.objects, now_ns() + kHourNs), 0u);
  EXPECT_TRUE(store.has_file(object));
  EXPECT_TRUE(store.index.has_object(object));
}

TEST(Trim, WaitsBeforeRemovingFiles) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id object = store.put("x", 100, now - 10 * kDayNs);
  ASSERT_EQ(store.index.drop_objects({object}, now - kHourNs).size(), 1u);
  // Dropped just now: not yet.
  EXPECT_EQ(remove_trashed_files(store.index, store.objects, now_ns() - kHourNs), 0u);
  EXPECT_TRUE(store.has_file(object));
  EXPECT_EQ(remove_trashed_files(store.index, store.objects, now_ns() + 1), 1u);
  EXPECT_FALSE(store.has_file(object));
}

TEST(Trim, LeavesAFileThatAPutBroughtBack) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id object = store.put("x", 100, now - 10 * kDayNs);
  ASSERT_EQ(store.index.drop_objects({object}, now - kHourNs).size(), 1u);
  store.put("x", 100, now);  // before the trim removed the file
  EXPECT_EQ(remove_trashed_files(store.index, store.objects, now_ns() + kHourNs), 0u);
  EXPECT_TRUE(store.has_file(object));
  EXPECT_TRUE(store.has_action("x"));
}

TEST(Trim, LastUseOfAFetchedObjectIsLocal) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  // A record fetched from the remote: put there ten days ago, used here now.
  const Id output_id = Sha256::of("fetched");
  store.index.record_put(Sha256::of("action fetched"), ActionEntry{output_id, 7, now - 10 * kDayNs, now});
  EXPECT_EQ(store.index.last_used_ns(output_id), now);
}

TEST(Clean, EmptiesTheStoreAndItsStrayFiles) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id a = store.put("a", 100, now);
  const Id b = store.put("b", 100, now - kDayNs);
  const std::string stray = store.objects.path_of(Sha256::of("stray"));
  std::filesystem::create_directories(std::filesystem::path(stray).parent_path());
  write_file(stray, "left by a crash");
  const auto report = clean_store(store.index, store.objects, /*in_use=*/false, now);
  EXPECT_EQ(report.objects_removed, 2u);
  EXPECT_EQ(report.bytes_freed, 200u);
  EXPECT_FALSE(store.has_file(a));
  EXPECT_FALSE(store.has_file(b));
  EXPECT_FALSE(std::filesystem::exists(stray));
  EXPECT_EQ(store.index.totals().actions, 0u);
  // The store works on: a put after the clean is a hit.
  const Id again = store.put("a", 100, now);
  EXPECT_TRUE(store.has_file(again));
  EXPECT_TRUE(store.has_action("a"));
}

TEST(Clean, WhileGoCommandsRunKeepsTheFilesTheyMayReadForAnHour) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id recent = store.put("recent", 100, now - kHourNs / 2);
  const Id old = store.put("old", 100, now - kDayNs);
  const auto report = clean_store(store.index, store.objects, /*in_use=*/true, now);
  EXPECT_EQ(report.objects_removed, 2u);
  EXPECT_EQ(report.files_deferred, 1u);
  EXPECT_FALSE(store.has_action("recent"));
  EXPECT_TRUE(store.has_file(recent));  // for a go command that was told its path
  EXPECT_FALSE(store.has_file(old));
  // An hour later, the next trim removes it.
  EXPECT_EQ(remove_trashed_files(store.index, store.objects, now_ns() + 2 * kHourNs), 1u);
  EXPECT_FALSE(store.has_file(recent));
}

TEST(Clean, WhileGoCommandsRunKeepsAnObjectUsedMinutesAgoWhoseRecordedUseIsOverAnHourOld) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id object = hit_by_a_go_command_two_minutes_ago(store, now);
  const auto report = clean_store(store.index, store.objects, /*in_use=*/true, now + 2 * kMinuteNs);
  EXPECT_EQ(report.files_deferred, 1u);
  EXPECT_TRUE(store.has_file(object));  // the go command that hit it may read it
}

}  // namespace
}  // namespace gocachefs
