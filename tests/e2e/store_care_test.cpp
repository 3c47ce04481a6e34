// Looking after a store that real go commands use: trim after a simulated
// week, the daily trim a go command starts, trim and clean while builds run
// or killed halfway, verify after damage, stats --json.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "store/object_store.h"
#include "tests/e2e/machine.h"

namespace gocachefs::testing {
namespace {

constexpr std::int64_t kDayNs = 24 * 3600LL * 1000 * 1000 * 1000;

// As if `days` had passed since every object was last used.
void age_store(const std::string& store, int days) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((store + "/index.sqlite").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  const std::string sql = "UPDATE objects SET last_used_ns = last_used_ns - " + std::to_string(days * kDayNs);
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

// One number from the store's index, read as a peer process would.
std::int64_t index_number(const std::string& store, const std::string& query) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((store + "/index.sqlite").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* statement = nullptr;
  std::int64_t number = -1;
  if (sqlite3_prepare_v2(db, query.c_str(), -1, &statement, nullptr) == SQLITE_OK &&
      sqlite3_step(statement) == SQLITE_ROW) {
    number = sqlite3_column_int64(statement, 0);
  }
  EXPECT_NE(number, -1) << query << ": " << sqlite3_errmsg(db);
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return number;
}

// The objects the index has a row for, and those with a file, by name.
std::set<std::string> indexed_objects(const std::string& store) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((store + "/index.sqlite").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* statement = nullptr;
  std::set<std::string> names;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT lower(hex(output_id)) FROM objects", -1, &statement, nullptr), SQLITE_OK);
  while (sqlite3_step(statement) == SQLITE_ROW) {
    names.insert(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)));
  }
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return names;
}
std::set<std::string> object_files(const std::string& store) {
  std::set<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(store + "/objects")) {
    if (entry.is_regular_file()) names.insert(entry.path().filename());
  }
  return names;
}

// Every row of the index has its file: what a kill at any moment must leave.
void expect_every_row_has_its_file(const std::string& store) {
  const auto files = object_files(store);
  for (const auto& name : indexed_objects(store)) EXPECT_TRUE(files.contains(name)) << "a row without its file: " << name;
}
// And the other way round: no file the index does not know.
void expect_no_orphans(const std::string& store) {
  const auto rows = indexed_objects(store);
  for (const auto& name : object_files(store)) EXPECT_TRUE(rows.contains(name)) << "a file without its row: " << name;
}

// Files dropped from the index wait kUnlinkAfter (5 s, store/eviction.h) in
// the trash before anyone removes them: waits until the newest is that old.
void wait_out_the_unlink_delay(const std::string& store) {
  const std::int64_t newest_ns = index_number(store, "SELECT coalesce(max(dropped_ns), 0) FROM trash");
  const auto due = std::chrono::system_clock::time_point(std::chrono::nanoseconds(newest_ns)) + std::chrono::seconds(6);
  std::this_thread::sleep_until(due);
}

std::string stamp_path(const std::string& store) { return store + "/trim.stamp"; }

void set_stamp_age(const std::string& store, std::chrono::hours age) {
  const auto when = std::chrono::system_clock::now() - age;
  const timespec at = {std::chrono::system_clock::to_time_t(when), 0};
  const timespec times[2] = {at, at};
  ASSERT_EQ(utimensat(AT_FDCWD, stamp_path(store).c_str(), times, 0), 0) << std::strerror(errno);
}

// Whether the stamp says a trim started within the hour.
bool stamp_is_fresh(const std::string& store) {
  struct stat st {};
  return stat(stamp_path(store).c_str(), &st) == 0 && st.st_mtime > std::time(nullptr) - 3600;
}

int occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Alive and not a zombie (an orphan's reaper may be slow to reap, or never).
bool process_running(pid_t pid) {
  std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat_file, line)) return false;
  const auto state_at = line.rfind(')') + 2;
  return state_at < line.size() && line[state_at] != 'Z';
}

CommandResult gocachefs(const std::vector<std::string>& args, const std::string& store) {
  std::vector<std::string> argv = {GOCACHEFS_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--dir", store});
  return run_command(argv);
}

long number_after(const std::string& text, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(text, m, std::regex(pattern)) ? std::stol(m[1].str()) : -1;
}

class StoreCareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (run_command({"go", "version"}).exit_code != 0) GTEST_SKIP() << "SKIPPED: the go command is not installed";
    expect_success(machine_.go({"build", "./..."}), "filling the store");
  }
  Machine machine_{""};  // a local store, no remote
};

TEST_F(StoreCareTest, TrimAfterASimulatedWeekFreesWhatWasNotUsed) {
  age_store(machine_.store(), 7);
  // This week's work: one package and what it needs.
  machine_.forget_gocache();
  const auto week = machine_.go({"build", "-x", "./internal/geom"});
  expect_success(week, "this week's build");
  EXPECT_EQ(build_actions(week.err), std::vector<std::string>{});

  const auto trim = gocachefs({"trim"}, machine_.store());
  ASSERT_EQ(trim.exit_code, 0) << trim.err;
  EXPECT_GT(number_after(trim.out, R"(removed (\d+) objects)"), 0) << trim.out;
  EXPECT_GT(number_after(trim.out, R"((\d+) objects \([^)]*\) stay)"), 0) << trim.out;
  EXPECT_EQ(trim.err, "");

  // What was used stays; what was not is built again, and the build works.
  machine_.forget_gocache();
  const auto again = machine_.go({"build", "-x", "./internal/geom"});
  expect_success(again, "the used package after the trim");
  EXPECT_EQ(build_actions(again.err), std::vector<std::string>{});
  machine_.forget_gocache();
  const auto all = machine_.go({"build", "-x", "./..."});
  expect_success(all, "everything after the trim");
  EXPECT_FALSE(build_actions(all.err).empty()) << "nothing was trimmed";
}

TEST_F(StoreCareTest, BuildsRunningWhileTrimAndCleanRunLoseNothing) {
  age_store(machine_.store(), 7);  // so that trim has work to do
  std::atomic<bool> done = false;
  std::vector<CommandResult> builds;
  std::thread builder([&] {
    for (int i = 0; i < 4; ++i) {
      machine_.forget_gocache();
      builds.push_back(machine_.go({i % 2 ? "vet" : "build", "./..."}));
    }
    done = true;
  });
  int trims = 0, cleans = 0;
  while (!done) {
    const auto r = gocachefs({trims <= cleans ? "trim" : "clean"}, machine_.store());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    (trims <= cleans ? trims : cleans)++;
  }
  builder.join();
  for (const auto& build : builds) EXPECT_EQ(build.exit_code, 0) << build.err;
  EXPECT_GT(trims + cleans, 2);
  // The index and the files are in step: nothing damaged, nothing lost.
  const auto verify = gocachefs({"verify"}, machine_.store());
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_EQ(number_after(verify.out, R"((\d+) objects no longer matched)"), -1) << verify.out;
  EXPECT_EQ(number_after(verify.out, R"((\d+) objects were indexed but their files were gone)"), -1) << verify.out;
  machine_.forget_gocache();
  expect_success(machine_.go({"build", "./..."}), "a build after it all");
}

TEST_F(StoreCareTest, VerifyRepairsDamageAndTheNextBuildWorks) {
  const std::string store = machine_.store();
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(store + "/objects")) {
    if (entry.is_regular_file() && entry.file_size() > 1000) files.push_back(entry.path());
  }
  ASSERT_GE(files.size(), 4u);
  // Each kind of damage once: a flipped byte, a truncated file, a missing
  // file, a file the index does not know, a row lost from the index.
  std::string bytes = read_file(files[0]);
  bytes[bytes.size() / 2] ^= 1;
  write_file(files[0], bytes);
  fs::resize_file(files[1], 10);
  fs::remove(files[2]);
  const std::string orphan = ObjectStore(store).path_of(Sha256::of("nobody indexed me"));
  fs::create_directories(fs::path(orphan).parent_path());
  write_file(orphan, "nobody indexed me");
  // Old enough not to be a put in flight.
  fs::last_write_time(orphan, fs::file_time_type::clock::now() - std::chrono::hours(1));
  const std::string lost_row = files[3].filename();
  EXPECT_EQ(index_number(store, "SELECT count(*) FROM objects WHERE output_id = x'" + lost_row + "'"), 1);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((store + "/index.sqlite").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  const std::string drop_row = "DELETE FROM objects WHERE output_id = x'" + lost_row + "'";
  EXPECT_EQ(sqlite3_exec(db, drop_row.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);

  const auto verify = gocachefs({"verify"}, store);
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_EQ(number_after(verify.out, R"((\d+) objects no longer matched their hash)"), 1) << verify.out;
  EXPECT_EQ(number_after(verify.out, R"((\d+) objects had the wrong size)"), 1) << verify.out;
  EXPECT_EQ(number_after(verify.out, R"((\d+) objects were indexed but their files were gone)"), 1) << verify.out;
  EXPECT_EQ(number_after(verify.out, R"((\d+) files were not in the index: removed)"), 1) << verify.out;
  EXPECT_EQ(number_after(verify.out, R"((\d+) objects named by actions had lost their index row: restored)"), 1)
      << verify.out;
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_EQ(index_number(store, "SELECT count(*) FROM objects WHERE output_id = x'" + lost_row + "'"), 1);
  machine_.expect_only_verified_objects();
  expect_every_row_has_its_file(store);
  expect_no_orphans(store);
  EXPECT_NE(gocachefs({"verify"}, store).out.find("all good"), std::string::npos);
  machine_.forget_gocache();
  expect_success(machine_.go({"build", "./..."}), "a build after the repair");
}

TEST_F(StoreCareTest, VerifyShowsAProgressLineOnATerminal) {
  const std::string store = machine_.store();
  // script(1) gives verify a pseudo-terminal; what it wrote there comes out on script's stdout.
  const auto on_terminal =
      run_command({"script", "-qec", std::string(GOCACHEFS_BINARY) + " verify --dir " + store, "/dev/null"});
  ASSERT_EQ(on_terminal.exit_code, 0) << on_terminal.out << on_terminal.err;
  const long objects = number_after(on_terminal.out, R"(verify: (\d+) objects \()");
  ASSERT_GT(objects, 0) << on_terminal.out;
  const std::string all_checked = std::to_string(objects) + " of " + std::to_string(objects) + " objects, ";
  EXPECT_NE(on_terminal.out.find("\rverify: " + all_checked), std::string::npos) << on_terminal.out;
  // Not on a pipe: a log or a CI job keeps only the summary.
  const auto piped = gocachefs({"verify"}, store);
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.err, "");
  EXPECT_EQ((piped.out + piped.err).find(all_checked), std::string::npos) << piped.out;
}

TEST_F(StoreCareTest, StatsAsJson) {
  machine_.forget_gocache();
  expect_success(machine_.go({"build", "./..."}), "a warm build");
  const auto stats = gocachefs({"stats", "--json"}, machine_.store());
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const auto json = nlohmann::json::parse(stats.out);
  EXPECT_GT(json["objects"].get<long>(), 0);
  EXPECT_GT(json["counters"]["get_hits"].get<long>(), 0);
  EXPECT_EQ(json["upload_backlog"].get<long>(), 0);
  EXPECT_TRUE(json.contains("remote"));
  EXPECT_TRUE(json["daemon"].is_null());
  // Each go command leaves one line in the log.
  EXPECT_NE(machine_.log().find("go command done in"), std::string::npos);
}

TEST_F(StoreCareTest, CleanEmptiesTheStore) {
  const auto clean = gocachefs({"clean"}, machine_.store());
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_GT(number_after(clean.out, R"(removed (\d+) objects)"), 0) << clean.out;
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(machine_.store() + "/objects")) files += entry.is_regular_file();
  EXPECT_EQ(files, 0);
  machine_.forget_gocache();
  const auto build = machine_.go({"build", "-x", "./internal/geom"});
  expect_success(build, "a build after the clean");
  EXPECT_FALSE(build_actions(build.err).empty()) << "hits from an emptied store";
}

// A go command started with a day-old stamp starts the day's trim and returns
// without waiting for it; the next go command that day starts none.
TEST_F(StoreCareTest, AGoCommandStartsTheDailyTrimWithoutWaitingForIt) {
  const std::string store = machine_.store();
  age_store(store, 7);
  const auto files_before = object_files(store).size();
  // The stamp, two days old, made a FIFO: the trim blocks where it renews it
  // until this test opens it for reading. So if the go command returns while
  // the trim runs, it did not wait for it.
  fs::remove(stamp_path(store));
  ASSERT_EQ(mkfifo(stamp_path(store).c_str(), 0644), 0) << std::strerror(errno);
  set_stamp_age(store, std::chrono::hours(48));
  machine_.forget_gocache();
  expect_success(machine_.go({"build", "./internal/geom"}), "the first go command of the day");

  const long trim_pid = number_after(machine_.log(), R"(started a background trim \(pid (\d+)\))");
  ASSERT_GT(trim_pid, 0) << machine_.log();
  EXPECT_TRUE(process_running(trim_pid)) << "the trim ended before the go command did";
  // Let the trim renew the stamp and go on, and wait for it to end.
  const int reader = open(stamp_path(store).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0) << std::strerror(errno);
  while (process_running(trim_pid)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  close(reader);

  EXPECT_TRUE(stamp_is_fresh(store));
  EXPECT_NE(machine_.log().find("trim (background): removed"), std::string::npos) << machine_.log();
  const std::int64_t five_days_ago = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         (std::chrono::system_clock::now() - std::chrono::hours(5 * 24)).time_since_epoch())
                                         .count();
  EXPECT_EQ(index_number(store, "SELECT count(*) FROM objects WHERE last_used_ns < " + std::to_string(five_days_ago)),
            0);
  EXPECT_LT(object_files(store).size(), files_before);
  expect_every_row_has_its_file(store);
  expect_no_orphans(store);

  machine_.forget_gocache();
  expect_success(machine_.go({"build", "./internal/geom"}), "the second go command of the day");
  EXPECT_EQ(occurrences(machine_.log(), "started a background trim"), 1) << machine_.log();
}

// A trim that fails (here: a peer holds the index's write lock beyond its
// busy timeout) counts for the day too: else every go command would start
// another one.
TEST_F(StoreCareTest, AFailedBackgroundTrimStillCountsForTheDay) {
  const std::string store = machine_.store();
  set_stamp_age(store, std::chrono::hours(48));
  sqlite3* peer = nullptr;
  ASSERT_EQ(sqlite3_open((store + "/index.sqlite").c_str(), &peer), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(peer, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(peer);
  const auto trim = gocachefs({"trim", "--background"}, store);
  sqlite3_exec(peer, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(peer);
  EXPECT_EQ(trim.exit_code, 1) << trim.out << trim.err;
  EXPECT_TRUE(stamp_is_fresh(store));
  EXPECT_NE(machine_.log().find("trim (background) failed"), std::string::npos) << machine_.log();

  machine_.forget_gocache();
  expect_success(machine_.go({"build", "./internal/geom"}), "a go command after the failed trim");
  EXPECT_EQ(occurrences(machine_.log(), "started a background trim"), 0) << machine_.log();
}

// Waits until `command` has dropped rows (they wait in the trash for their
// files to go), then kills it.
void kill_once_rows_are_dropped(Child& command, const std::string& store) {
  while (index_number(store, "SELECT count(*) FROM trash") == 0) {
    ASSERT_TRUE(process_running(command.pid())) << "it ended before dropping a row: " << command.stderr_text();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(kill(command.pid(), SIGKILL), 0);
  EXPECT_EQ(command.wait(), 128 + SIGKILL);
}

// What a killed trim or clean leaves: files whose rows went (never a row
// without its file), which the next trim removes.
void expect_the_next_trim_removes_what_was_left(const std::string& store) {
  EXPECT_GT(index_number(store, "SELECT count(*) FROM trash"), 0) << "killed after it had removed the files";
  expect_every_row_has_its_file(store);
  wait_out_the_unlink_delay(store);  // the next trim leaves younger ones to a trim or clean still waiting
  const auto trim = gocachefs({"trim"}, store);
  ASSERT_EQ(trim.exit_code, 0) << trim.out << trim.err;
  EXPECT_EQ(index_number(store, "SELECT count(*) FROM trash"), 0);
  expect_every_row_has_its_file(store);
  expect_no_orphans(store);
}

TEST_F(StoreCareTest, ATrimKilledHalfwayLeavesRowsWithTheirFilesAndTheNextTrimFinishes) {
  const std::string store = machine_.store();
  age_store(store, 7);
  Child trim({GOCACHEFS_BINARY, "trim", "--dir", store});
  ASSERT_NO_FATAL_FAILURE(kill_once_rows_are_dropped(trim, store));
  expect_the_next_trim_removes_what_was_left(store);
  EXPECT_EQ(object_files(store).size(), 0u);  // a week unused: all of it went
}

TEST_F(StoreCareTest, ACleanKilledHalfwayLeavesRowsWithTheirFilesAndTheNextTrimFinishes) {
  const std::string store = machine_.store();
  age_store(store, 7);  // nothing was used within the hour: clean keeps nothing back
  // Held as a go command's gocachefs holds it (src/store_use.h): clean then
  // waits before removing files, as it does while builds run.
  const int in_use = open((store + "/in-use.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(in_use, 0);
  ASSERT_EQ(flock(in_use, LOCK_SH), 0);
  Child clean({GOCACHEFS_BINARY, "clean", "--dir", store});
  ASSERT_NO_FATAL_FAILURE(kill_once_rows_are_dropped(clean, store));
  close(in_use);
  expect_the_next_trim_removes_what_was_left(store);
  EXPECT_EQ(object_files(store).size(), 0u);
}

}  // namespace
}  // namespace gocachefs::testing
