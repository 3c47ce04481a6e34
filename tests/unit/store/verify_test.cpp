#include "store/verify.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "store/eviction.h"
#include "tests/support/store_fixture.h"

namespace gocachefs {
namespace {

using namespace testing;

// Changes a file without changing its size or stamp's meaning for us.
void flip_a_byte(const std::string& path) {
  std::string bytes = read_file(path);
  bytes[bytes.size() / 2] ^= 0x20;
  write_file(path, bytes);
}

void sql(const std::string& db_path, const std::string& statement) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  ASSERT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

TEST(Verify, AHealthyStoreIsAllGood) {
  StoreFixture store;
  store.put("a", 5000, now_ns());
  store.put("b", 70000, now_ns());
  const auto report = verify_store(store.index, store.objects, {});
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.objects_checked, 2u);
}

TEST(Verify, FindsAndRepairsEachKindOfDamage) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id flipped = store.put("flipped", 5000, now);
  const Id truncated = store.put("truncated", 5000, now);
  const Id missing = store.put("missing", 5000, now);
  const Id lost_row = store.put("lost-row", 5000, now);
  store.put("good", 5000, now);
  flip_a_byte(store.objects.path_of(flipped));
  std::filesystem::resize_file(store.objects.path_of(truncated), 100);
  std::filesystem::remove(store.objects.path_of(missing));
  const std::string orphan = store.objects.path_of(Sha256::of("orphan"));
  std::filesystem::create_directories(std::filesystem::path(orphan).parent_path());
  write_file(orphan, "nobody indexed me");
  // Old enough not to be a put in flight.
  std::filesystem::last_write_time(orphan, std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
  sql(store.dir / "index.sqlite", "DELETE FROM objects WHERE output_id = x'" + to_hex(lost_row) + "'");

  const auto report = verify_store(store.index, store.objects, {});
  EXPECT_EQ(report.corrupt, 1u);
  EXPECT_EQ(report.wrong_size, 1u);
  EXPECT_EQ(report.missing_files, 1u);
  EXPECT_EQ(report.orphan_files, 1u);
  EXPECT_EQ(report.rows_restored, 1u);

  EXPECT_FALSE(store.has_action("flipped"));
  EXPECT_FALSE(store.has_file(flipped));
  EXPECT_FALSE(store.has_action("truncated"));
  EXPECT_FALSE(store.has_file(truncated));
  EXPECT_FALSE(store.has_action("missing"));
  EXPECT_FALSE(std::filesystem::exists(orphan));
  EXPECT_TRUE(store.has_action("lost-row"));
  EXPECT_TRUE(store.index.has_object(lost_row));
  EXPECT_TRUE(store.has_action("good"));

  // Everything was repaired: a second pass finds nothing.
  EXPECT_TRUE(verify_store(store.index, store.objects, {}).clean());
}

TEST(Verify, QuickChecksSizesOnly) {
  StoreFixture store;
  const Id flipped = store.put("flipped", 5000, now_ns());
  const Id truncated = store.put("truncated", 5000, now_ns());
  flip_a_byte(store.objects.path_of(flipped));
  std::filesystem::resize_file(store.objects.path_of(truncated), 10);
  const auto report = verify_store(store.index, store.objects, {.quick = true});
  EXPECT_EQ(report.wrong_size, 1u);
  EXPECT_EQ(report.corrupt, 0u);
  EXPECT_TRUE(store.has_action("flipped"));
}

TEST(Verify, LeavesAFreshFileThatMayBeAPutInFlight) {
  StoreFixture store;
  const std::string fresh = store.objects.path_of(Sha256::of("in flight"));
  std::filesystem::create_directories(std::filesystem::path(fresh).parent_path());
  write_file(fresh, "in flight");
  EXPECT_EQ(verify_store(store.index, store.objects, {}).orphan_files, 0u);
  EXPECT_TRUE(std::filesystem::exists(fresh));
}

// The trash holds files whose rows went but that someone may still read:
// verify removes only the damaged files it dropped itself.
TEST(Verify, LeavesTheFilesCleanKeptForRunningGoCommands) {
  StoreFixture store;
  const Id recent = store.put("recent", 5000, now_ns());
  const auto cleaned = clean_store(store.index, store.objects, /*in_use=*/true, now_ns());
  ASSERT_EQ(cleaned.files_deferred, 1u);
  const auto report = verify_store(store.index, store.objects, {});
  EXPECT_EQ(report.orphan_files, 0u);
  EXPECT_TRUE(store.has_file(recent));  // for the go command that was told its path
}

TEST(Verify, LeavesTheFilesARunningTrimRemovesAfterItsWait) {
  StoreFixture store;
  const std::int64_t now = now_ns();
  const Id old = store.put("old", 5000, now - 10 * kDayNs);
  // A trim dropped its row just now and waits before removing the file.
  ASSERT_EQ(store.index.drop_objects({old}, now - kHourNs).size(), 1u);
  const auto report = verify_store(store.index, store.objects, {});
  EXPECT_EQ(report.orphan_files, 0u);
  EXPECT_TRUE(store.has_file(old));  // a late use may still bring its row back
  EXPECT_EQ(remove_trashed_files(store.index, store.objects, now_ns() + 1), 1u);  // the trim's wait is over
}

TEST(Verify, ReportsProgress) {
  StoreFixture store;
  for (int i = 0; i < 5; ++i) store.put("o" + std::to_string(i), 1000, now_ns());
  std::uint64_t last_objects = 0, of = 0;
  verify_store(store.index, store.objects,
               {.progress = [&](std::uint64_t objects, std::uint64_t of_objects, std::uint64_t, std::uint64_t) {
                 last_objects = objects;
                 of = of_objects;
               }});
  EXPECT_EQ(last_objects, 5u);
  EXPECT_EQ(of, 5u);
}

}  // namespace
}  // namespace gocachefs
