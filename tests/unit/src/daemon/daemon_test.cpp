#include "src/daemon/daemon.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "src/config.h"
#include "tests/support/subprocess.h"

namespace gocachefs {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

// A daemon that cannot serve says why in <store>/daemon.failed, written
// whole and renamed into place: a client that opened the file before reads
// the old reason whole, never a half-written one, and a symlink planted in
// its place is replaced, not written through.
TEST(DaemonTest, WhyItFailedReplacesTheFileItNeverWritesThroughIt) {
  TempDir dir;
  const std::filesystem::path store = dir / "store";
  std::filesystem::create_directories(store);
  write_file(store / "daemon.failed", "the reason of an earlier daemon\n");
  const int earlier = open((store / "daemon.failed").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(earlier, 0);

  Settings settings;
  settings.store_dir = store;
  settings.log_level = "off";
  EXPECT_EQ(Daemon(settings).run(), 1) << "no remote: nothing to serve";
  EXPECT_EQ(read_file(daemon_failure_path(store)), "no remote is set: the lazy mount serves remote objects only\n");
  char bytes[256] = {};
  const ssize_t n = pread(earlier, bytes, sizeof bytes, 0);
  close(earlier);
  EXPECT_EQ(std::string(bytes, n > 0 ? n : 0), "the reason of an earlier daemon\n") << "written in place";

  // A symlink where the file goes: replaced, what it points to untouched.
  write_file(dir / "victim", "not the daemon's\n");
  std::filesystem::remove(store / "daemon.failed");
  std::filesystem::create_symlink(dir / "victim", store / "daemon.failed");
  EXPECT_EQ(Daemon(settings).run(), 1);
  EXPECT_EQ(read_file(dir / "victim"), "not the daemon's\n");
  EXPECT_FALSE(std::filesystem::is_symlink(store / "daemon.failed"));
  EXPECT_EQ(read_file(daemon_failure_path(store)), "no remote is set: the lazy mount serves remote objects only\n");
  for (const auto& entry : std::filesystem::directory_iterator(store / "tmp")) {
    ADD_FAILURE() << "left behind: " << entry.path();
  }
}

}  // namespace
}  // namespace gocachefs
