// Looking after a store that real go commands use: trim after a simulated
// week, trim and clean while builds run, verify after damage, stats --json.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

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
  // Damage two objects: one flipped, one truncated.
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(machine_.store() + "/objects")) {
    if (entry.is_regular_file() && entry.file_size() > 1000) files.push_back(entry.path());
  }
  ASSERT_GE(files.size(), 2u);
  std::string bytes = read_file(files[0]);
  bytes[bytes.size() / 2] ^= 1;
  write_file(files[0], bytes);
  fs::resize_file(files[1], 10);

  const auto verify = gocachefs({"verify"}, machine_.store());
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_EQ(number_after(verify.out, R"((\d+) objects no longer matched their hash)"), 1) << verify.out;
  EXPECT_EQ(number_after(verify.out, R"((\d+) objects had the wrong size)"), 1) << verify.out;
  machine_.expect_only_verified_objects();
  EXPECT_NE(gocachefs({"verify"}, machine_.store()).out.find("all good"), std::string::npos);
  machine_.forget_gocache();
  expect_success(machine_.go({"build", "./..."}), "a build after the repair");
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

}  // namespace
}  // namespace gocachefs::testing
