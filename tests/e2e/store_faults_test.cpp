// End to end: the real go command on a damaged or unusual store. Each test
// gets its own copy of a store filled once for the suite; whatever is wrong
// with it, builds succeed (or fail cleanly, for a wrong setting), gocachefs
// says so in at most one line, and the go command never sees protocol noise.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "tests/support/go_output.h"
#include "tests/support/subprocess.h"

namespace gocachefs::testing {
namespace {

std::size_t gocachefs_lines(const std::string& err) {
  std::size_t n = 0;
  for (const auto& line : lines_of(err)) n += line.starts_with("gocachefs: ") ? 1 : 0;
  return n;
}

// What the go command says when a GOCACHEPROG writes anything but protocol.
void expect_no_protocol_noise(const CommandResult& r) {
  EXPECT_EQ(r.err.find("error reading JSON"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("invalid character"), std::string::npos) << r.err;
}

void overwrite(const std::string& path, std::uint64_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class StoreFaultsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (run_command({"go", "version"}).exit_code != 0) GTEST_SKIP() << "SKIP: the go command is not installed";
    golden_ = new TempDir();
    const TempDir gocache;
    for (const std::vector<std::string> args : {std::vector<std::string>{"build", "./..."}, {"test", "./..."}}) {
      const auto r = go(args, gocache.path(), golden_->path());
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
  }
  static void TearDownTestSuite() {
    delete golden_;
    golden_ = nullptr;
  }
  void SetUp() override {
    // A copy, as a CI cache restore makes one: every object's ctime changes,
    // so each is re-hashed once and trusted again.
    ASSERT_EQ(run_command({"cp", "-a", golden_->path() + "/.", store_.path()}).exit_code, 0);
  }

  static CommandResult go(const std::vector<std::string>& args, const std::string& gocache, const std::string& store,
                          const std::string& extra_flags = "") {
    std::vector<std::string> argv = {"go"};
    argv.insert(argv.end(), args.begin(), args.end());
    const Environment env = environment_with({{"GOCACHEPROG", "\"" + std::string(GOCACHEFS_BINARY) + "\" --dir '" +
                                                                 store + "'" + extra_flags},
                                              {"GOCACHE", gocache},
                                              {"GOTOOLCHAIN", "local"},
                                              {"GOPROXY", "off"},
                                              {"GOFLAGS", "-mod=mod"},
                                              {"CGO_ENABLED", "1"}});
    return run_command(argv, env, SAMPLE_MODULE_DIR);
  }
  CommandResult go(const std::vector<std::string>& args, const std::string& extra_flags = "") {
    const TempDir gocache;  // a new machine every time: everything comes from the store
    return go(args, gocache.path(), store_.path(), extra_flags);
  }
  std::string index() const { return store_ / "index.sqlite"; }

  static TempDir* golden_;
  TempDir store_;
};

TempDir* StoreFaultsTest::golden_ = nullptr;

TEST_F(StoreFaultsTest, DamagedIndexIsReplacedAndBuildsGoOn) {
  std::mt19937 random(7);
  std::string garbage(8192, '\0');
  for (char& c : garbage) c = static_cast<char>(random());
  overwrite(index(), std::filesystem::file_size(index()) / 2 / 4096 * 4096, garbage);

  const auto build = go({"build", "./..."});
  EXPECT_EQ(build.exit_code, 0) << build.err;
  expect_no_protocol_noise(build);
  const auto test = go({"test", "./..."});
  EXPECT_EQ(test.exit_code, 0) << test.out << test.err;
  EXPECT_EQ(gocachefs_lines(build.err) + gocachefs_lines(test.err), 1u) << build.err << test.err;
  EXPECT_NE((build.err + test.err).find("was damaged"), std::string::npos);

  // The repaired store serves again, quietly: nothing compiled, tests cached.
  const auto again = go({"build", "-x", "./internal/..."});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(build_actions(again.err), std::vector<std::string>{});
  EXPECT_EQ(gocachefs_lines(again.err), 0u) << again.err;
  const auto cached = go({"test", "./..."});
  EXPECT_EQ(summarize_tests(cached.out).cached, summarize_tests(cached.out).passed) << cached.out;
}

TEST_F(StoreFaultsTest, TruncatedOrZeroedIndexDoesNotStopTheGoCommand) {
  std::filesystem::resize_file(index(), std::filesystem::file_size(index()) / 3);
  const auto truncated = go({"build", "./..."});
  EXPECT_EQ(truncated.exit_code, 0) << truncated.err;
  EXPECT_EQ(truncated.err.find("exited pre-Close"), std::string::npos) << truncated.err;
  EXPECT_EQ(gocachefs_lines(truncated.err), 1u) << truncated.err;

  overwrite(index(), 0, std::string(100, '\0'));
  const auto zeroed = go({"build", "./..."});
  EXPECT_EQ(zeroed.exit_code, 0) << zeroed.err;
  EXPECT_EQ(gocachefs_lines(zeroed.err), 1u) << zeroed.err;
}

TEST_F(StoreFaultsTest, IndexDamagedDuringABuildDoesNotFailIt) {
  // A build that compiles (new GOCACHE, an empty store) while the index is
  // damaged under it.
  std::filesystem::remove_all(store_.path());
  std::filesystem::create_directories(store_.path());
  CommandResult build;
  std::thread builder([&] { build = go({"build", "./..."}); });
  std::error_code ec;  // no WAL yet: size is -1
  for (int i = 0; i < 300 && std::filesystem::file_size(index() + "-wal", ec) + 1 < 64 * 1024 + 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  overwrite(index(), 0, std::string(100, '\0'));
  builder.join();
  EXPECT_EQ(build.exit_code, 0) << build.err;
  expect_no_protocol_noise(build);
  EXPECT_LE(gocachefs_lines(build.err), 1u) << build.err;
  const auto next = go({"build", "./..."});
  EXPECT_EQ(next.exit_code, 0) << next.err;
}

TEST_F(StoreFaultsTest, CorruptedObjectIsRebuiltNotServed) {
  // The largest objects are compiled packages; damage them all at their size.
  std::vector<std::filesystem::path> objects;
  for (const auto& e : std::filesystem::recursive_directory_iterator(store_ / "objects")) {
    if (e.is_regular_file() && e.file_size() > 4096) objects.push_back(e.path());
  }
  ASSERT_FALSE(objects.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // file times tick coarsely
  for (const auto& path : objects) overwrite(path, 2000, "corrupted");

  for (int run = 0; run < 3; ++run) {
    const auto build = go({"build", "./..."});
    EXPECT_EQ(build.exit_code, 0) << "run " << run << ":\n" << build.err;
    EXPECT_EQ(gocachefs_lines(build.err), 0u) << build.err;
    const auto test = go({"test", "./..."});
    EXPECT_EQ(test.exit_code, 0) << "run " << run << ":\n" << test.out << test.err;
  }
  const auto stats = run_command({GOCACHEFS_BINARY, "stats", "--dir", store_.path()});
  EXPECT_NE(stats.out.find("damaged:"), std::string::npos) << stats.out;
  const auto clean = go({"build", "-x", "./internal/..."});
  EXPECT_EQ(build_actions(clean.err), std::vector<std::string>{}) << "the rebuilt objects were put again";
}

TEST_F(StoreFaultsTest, ReadOnlyStoreServesBuilds) {
  if (geteuid() != 0 && run_command({"chmod", "-R", "a-w", store_.path()}).exit_code != 0) {
    GTEST_SKIP() << "SKIP: cannot make the store read-only";
  }
  // As root: a read-only bind mount in a mount namespace of the go command's own.
  const auto go_ro = [&](const std::vector<std::string>& args) {
    const TempDir gocache;
    std::vector<std::string> argv = {"go"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (geteuid() == 0) {
      argv.insert(argv.begin(), {"unshare", "--mount", "sh", "-c",
                                 "mount --bind -o ro \"$0\" \"$0\" && exec \"$@\"", store_.path()});
    }
    const Environment env = environment_with({{"GOCACHEPROG", "\"" + std::string(GOCACHEFS_BINARY) + "\" --dir '" +
                                                                 store_.path() + "'"},
                                              {"GOCACHE", gocache.path()},
                                              {"GOTOOLCHAIN", "local"},
                                              {"GOPROXY", "off"},
                                              {"GOFLAGS", "-mod=mod"},
                                              {"CGO_ENABLED", "1"}});
    return run_command(argv, env, SAMPLE_MODULE_DIR);
  };
  const auto build = go_ro({"build", "-x", "./internal/..."});
  EXPECT_EQ(build.exit_code, 0) << build.err;
  EXPECT_EQ(build_actions(build.err), std::vector<std::string>{}) << "the read-only store's hits were not served";
  EXPECT_EQ(gocachefs_lines(build.err), 1u) << build.err;
  EXPECT_NE(build.err.find("serving its hits read-only"), std::string::npos) << build.err;
  const auto vet = go_ro({"vet", "./..."});  // puts vet results: they go to the private store
  EXPECT_EQ(vet.exit_code, 0) << vet.err;
  const auto test = go_ro({"test", "./..."});
  EXPECT_EQ(test.exit_code, 0) << test.out << test.err;
  EXPECT_EQ(summarize_tests(test.out).cached, summarize_tests(test.out).passed) << test.out;
  if (geteuid() != 0) run_command({"chmod", "-R", "u+w", store_.path()});
}

TEST_F(StoreFaultsTest, WrongSettingFailsCleanlyWithOneLine) {
  for (const std::string flags : {" --log-level loud", " --log-file /proc/version"}) {
    const auto build = go({"build", "./..."}, flags);
    EXPECT_NE(build.exit_code, 0);
    expect_no_protocol_noise(build);
    EXPECT_EQ(gocachefs_lines(build.err), 1u) << build.err;
  }
}

}  // namespace
}  // namespace gocachefs::testing
