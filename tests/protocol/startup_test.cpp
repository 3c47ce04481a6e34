// Start-up faults, as a new user meets them: each is one line on stderr that
// says what is wrong and what to do, nothing on stdout (the go command would
// choke on it), and an exit before the handshake.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "store/base64.h"
#include "store/sha256.h"
#include "tests/protocol/gocachefs_process.h"

namespace gocachefs::testing {
namespace {

CommandResult start(const std::vector<std::string>& args, const Environment& env = {}) {
  std::vector<std::string> argv = {gocachefs_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, environment_with(env), "", std::chrono::seconds(30));
}

// One line on stderr containing `needle`, nothing on stdout, exit 1.
void expect_refused(const CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "") << "stdout must carry only protocol";
  EXPECT_TRUE(r.err.starts_with("gocachefs: ")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

class StartupTest : public ::testing::Test {
 protected:
  TempDir dir;
  std::string store = dir / "store";
};

TEST_F(StartupTest, StoreThatIsAFile) {
  write_file(dir / "file", "x");
  expect_refused(start({"--dir", dir / "file"}), "is not a directory; set --dir or GOCACHEFS_DIR");
  expect_refused(start({"--dir", dir / "file/sub"}), "cannot create the store");
}

TEST_F(StartupTest, UnknownLogLevel) {
  expect_refused(start({"--dir", store, "--log-level", "loud"}), "\"loud\" is not a log level");
  expect_refused(start({"--dir", store}, {{"GOCACHEFS_LOG_LEVEL", "bogus"}}), "GOCACHEFS_LOG_LEVEL \"bogus\"");
}

TEST_F(StartupTest, LogFileThatCannotBeOpened) {
  expect_refused(start({"--dir", store, "--log-file", dir.path()}), "cannot open the log file");
  expect_refused(start({"--dir", store, "--log-file", "/proc/version"}), "set --log-file or GOCACHEFS_LOG_FILE");
}

TEST_F(StartupTest, NoHomeAndNoDir) {
  const auto r = run_command({gocachefs_binary()}, Environment{{"PATH", "/usr/bin:/bin"}}, "", std::chrono::seconds(30));
  expect_refused(r, "HOME is not set; set GOCACHEFS_DIR or pass --dir");
}

TEST_F(StartupTest, BadEnvironmentValues) {
  expect_refused(start({"--dir", store}, {{"GOCACHEFS_UPLOAD_WAIT", "abc"}}), "GOCACHEFS_UPLOAD_WAIT=\"abc\"");
  expect_refused(start({"--dir", store}, {{"GOCACHEFS_REMOTE_READ_ONLY", "perhaps"}}), "use 1 or 0");
}

TEST_F(StartupTest, StoreThatCannotBeRead) {
  std::filesystem::create_directories(store);
  chmod(store.c_str(), 0700);
  std::vector<std::string> argv = {gocachefs_binary(), "--dir", store};
  if (geteuid() == 0) {
    // root reads everything: be somebody else, as a user without access is.
    chmod(dir.path().c_str(), 0755);
    argv.insert(argv.begin(), {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
  } else {
    chmod(store.c_str(), 0);
  }
  expect_refused(run_command(argv, environment_with({}), "", std::chrono::seconds(30)), "cannot read the store");
  chmod(store.c_str(), 0700);
}

TEST_F(StartupTest, GoodSettingsGreetAndExitQuietly) {
  const auto r = start({"--dir", store}, {{"GOCACHEFS_UPLOAD_WAIT", "2.5"}, {"GOCACHEFS_LOG_LEVEL", "debug"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"ID\":0,\"KnownCommands\":[\"get\",\"put\",\"close\"]}\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(StartupTest, ALogThatCannotBeWrittenIsOneLineAndTheSessionGoesOn) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIP: filling a disk needs a tmpfs of our own, which needs root";
  // A disk that fills during the session: a 64 KiB tmpfs, all but 1 KiB of
  // it taken, in a mount namespace of the process's own.
  std::filesystem::create_directories(dir / "small");
  GocachefsProcess::CommandLine command{{"unshare", "--mount", "sh", "-c",
                                         "mount -t tmpfs -o size=64k tmpfs \"$0\" && "
                                         "head -c 61440 /dev/zero > \"$0/fill\" && "
                                         "exec \"$1\" --dir \"$2\" --log-file \"$0/log\"",
                                         dir / "small", gocachefs_binary(), store}};
  GocachefsProcess helper(command);
  ASSERT_EQ(helper.handshake()["ID"], 0);
  // Each bad put logs a warning: enough of them fill the disk.
  for (int i = 1; i <= 100; ++i) {
    helper.send({{"ID", i}, {"Command", "put"}, {"ActionID", id_to_base64(Sha256::of("a"))}, {"OutputID", "bad"}});
    EXPECT_TRUE(helper.receive().contains("Err"));
  }
  const std::string good = "a good object";
  helper.put(200, Sha256::of(good), good);
  EXPECT_TRUE(helper.receive().contains("DiskPath"));
  EXPECT_EQ(helper.close(999), json({{"ID", 999}}));
  helper.child().close_stdin();
  EXPECT_EQ(helper.child().wait(), 0);
  const std::string err = helper.child().stderr_text();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("gocachefs: cannot write the log file"), std::string::npos) << err;
  EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
}

}  // namespace
}  // namespace gocachefs::testing
