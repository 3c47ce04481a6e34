// End to end: the real go command with GOCACHEPROG=gocachefs on the sample
// module (several packages with tests, cgo, //go:embed).
//
// The first build fills one store (in SetUpTestSuite, once for the suite);
// every test then starts from a brand-new empty GOCACHE, like a new machine
// sharing that store.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "tests/support/go_output.h"
#include "tests/support/subprocess.h"

namespace gocachefs::testing {
namespace {

class GoCommandTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (run_command({"go", "version"}).exit_code != 0) GTEST_SKIP() << "the go command is not installed";
    root_ = new TempDir();
    // A space and a quote in the path: GOCACHEPROG must be quoted to work.
    store_ = root_->path() + "/store dir";
    const TempDir gocache;
    const auto build = go({"build", "./..."}, gocache.path());
    ASSERT_EQ(build.exit_code, 0) << build.err;
    const auto test = go({"test", "./..."}, gocache.path());
    ASSERT_EQ(test.exit_code, 0) << test.out << test.err;
    const auto vet = go({"vet", "./..."}, gocache.path());
    ASSERT_EQ(vet.exit_code, 0) << vet.err;

    // What a warm native cache still does: go build links main packages every
    // time, and cmd/go caches linked executables only in its own disk cache
    // (cmd/go/internal/work/buildid.go), never through GOCACHEPROG.
    const TempDir native;
    const Environment no_prog = {{"GOCACHEPROG", ""}};
    ASSERT_EQ(go({"build", "./..."}, native.path(), no_prog).exit_code, 0);
    const auto warm = go({"build", "-x", "./..."}, native.path(), no_prog);
    ASSERT_EQ(warm.exit_code, 0) << warm.err;
    native_warm_actions_ = build_actions(warm.err);
  }
  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }

  static std::string gocacheprog() { return "\"" + std::string(GOCACHEFS_BINARY) + "\" --dir '" + store_ + "'"; }

  static Environment go_env(const std::string& gocache, const Environment& extra = {}) {
    Environment overrides = {{"GOCACHEPROG", gocacheprog()},
                             {"GOCACHE", gocache},
                             {"GOTOOLCHAIN", "local"},
                             {"GOPROXY", "off"},
                             {"GOFLAGS", "-mod=mod"},
                             {"CGO_ENABLED", "1"},
                             {"GOENV", root_->path() + "/goenv"}};
    for (const auto& [k, v] : extra) overrides[k] = v;
    Environment env = environment_with(overrides);
    if (extra.contains("GOCACHEPROG") && extra.at("GOCACHEPROG").empty()) env.erase("GOCACHEPROG");
    return env;
  }

  static CommandResult go(const std::vector<std::string>& args, const std::string& gocache,
                          const Environment& extra = {}) {
    std::vector<std::string> argv = {"go"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, go_env(gocache, extra), SAMPLE_MODULE_DIR);
  }

  // gocachefs prefixes whatever it says on stderr with "gocachefs:".
  static void expect_quiet(const CommandResult& r) {
    EXPECT_EQ(r.err.find("gocachefs:"), std::string::npos) << "gocachefs wrote to the terminal:\n" << r.err;
  }

  static TempDir* root_;
  static std::string store_;
  static std::vector<std::string> native_warm_actions_;
  TempDir gocache_;  // brand new and empty for every test
};

TempDir* GoCommandTest::root_ = nullptr;
std::string GoCommandTest::store_;
std::vector<std::string> GoCommandTest::native_warm_actions_;

TEST_F(GoCommandTest, SecondMachineCompilesNothing) {
  const auto libraries = go({"build", "-x", "./internal/..."}, gocache_.path());
  ASSERT_EQ(libraries.exit_code, 0) << libraries.err;
  EXPECT_EQ(build_actions(libraries.err), std::vector<std::string>{}) << "rebuilt with a warm store";
  expect_quiet(libraries);
}

TEST_F(GoCommandTest, SecondMachineDoesNoMoreThanAWarmNativeCache) {
  const auto build = go({"build", "-x", "./..."}, gocache_.path());
  ASSERT_EQ(build.exit_code, 0) << build.err;
  EXPECT_EQ(build_actions(build.err), native_warm_actions_);
  expect_quiet(build);
}

TEST_F(GoCommandTest, TestsAreCachedOnASecondMachine) {
  const auto test = go({"test", "./..."}, gocache_.path());
  ASSERT_EQ(test.exit_code, 0) << test.out << test.err;
  const TestSummary summary = summarize_tests(test.out);
  EXPECT_GE(summary.passed, 4) << test.out;
  EXPECT_EQ(summary.cached, summary.passed) << test.out;
  expect_quiet(test);
}

TEST_F(GoCommandTest, VetWorksFromTheStore) {
  const auto vet = go({"vet", "-x", "./..."}, gocache_.path());
  ASSERT_EQ(vet.exit_code, 0) << vet.err;
  EXPECT_EQ(build_actions(vet.err), std::vector<std::string>{});
  expect_quiet(vet);
}

TEST_F(GoCommandTest, ExportFilesStayReadableAfterGoExits) {
  const auto list = go({"list", "-export", "-f", "{{.Export}}", "./..."}, gocache_.path());
  ASSERT_EQ(list.exit_code, 0) << list.err;
  int files = 0;
  for (const auto& path : lines_of(list.out)) {
    if (path.empty()) continue;
    ++files;
    EXPECT_TRUE(path.starts_with(store_)) << path << " is not in the store";
    const std::string bytes = read_file(path);  // the go command has exited
    EXPECT_TRUE(bytes.starts_with("!<arch>\n")) << path;
  }
  EXPECT_GE(files, 4) << list.out;
}

TEST_F(GoCommandTest, CleanTestcacheIsHonoured) {
  auto cached = go({"test", "./..."}, gocache_.path());
  ASSERT_EQ(cached.exit_code, 0) << cached.err;
  EXPECT_NE(cached.out.find("(cached)"), std::string::npos);
  ASSERT_EQ(go({"clean", "-testcache"}, gocache_.path()).exit_code, 0);
  const auto rerun = go({"test", "./..."}, gocache_.path());
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(rerun.out.find("(cached)"), std::string::npos) << rerun.out;
}

TEST_F(GoCommandTest, FourGoCommandsAtOnceOnOneStore) {
  const std::vector<std::vector<std::string>> commands = {
      {"build", "./..."}, {"test", "-count=1", "./..."}, {"vet", "./..."}, {"test", "-race=false", "./..."}};
  std::vector<TempDir> gocaches(commands.size());
  std::vector<CommandResult> results(commands.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = go(commands[i], gocaches[i].path()); });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < commands.size(); ++i) {
    EXPECT_EQ(results[i].exit_code, 0) << commands[i][0] << ":\n" << results[i].out << results[i].err;
    expect_quiet(results[i]);
  }
}

TEST_F(GoCommandTest, GoEnvWriteSetsGocacheprog) {
  // GOENV points at a file of this suite, so the user's settings are safe.
  const auto set = go({"env", "-w", "GOCACHEPROG=" + gocacheprog()}, gocache_.path());
  ASSERT_EQ(set.exit_code, 0) << set.err;
  const auto build = go({"build", "-x", "./internal/..."}, gocache_.path(), {{"GOCACHEPROG", ""}});
  go({"env", "-u", "GOCACHEPROG"}, gocache_.path());
  ASSERT_EQ(build.exit_code, 0) << build.err;
  EXPECT_EQ(build_actions(build.err), std::vector<std::string>{}) << "the store was not used";
}

TEST_F(GoCommandTest, StatsReportWhatTheStoreServed) {
  const auto stats = run_command({GOCACHEFS_BINARY, "stats", "--dir", store_});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("hits:"), std::string::npos) << stats.out;
  EXPECT_EQ(stats.out.find("entries:  0 actions"), std::string::npos) << stats.out;
}

}  // namespace
}  // namespace gocachefs::testing
