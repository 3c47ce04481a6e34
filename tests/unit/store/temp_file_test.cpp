#include "store/temp_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "tests/support/subprocess.h"

namespace gocachefs {

using testing::read_file;
using testing::TempDir;

namespace {
std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

void age(const std::string& path) {
  std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now() - std::chrono::minutes(1));
}
}  // namespace

TEST(TempFile, CommitRenamesIntoPlaceAndCreatesTheDirectory) {
  TempDir dir;
  {
    TempFile file(dir.path(), "x-");
    EXPECT_TRUE(std::filesystem::path(file.path()).filename().string().starts_with("x-"));
    file.write_all("hello", 5);
    file.commit_as(dir / "sub/final");
  }
  EXPECT_EQ(read_file(dir / "sub/final"), "hello");
  EXPECT_EQ(files_in(dir.path()), 1u);
}

TEST(TempFile, UncommittedFileIsRemoved) {
  TempDir dir;
  { TempFile file(dir.path(), "x-"); }
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST(TempFile, NamesNeverCollide) {
  TempDir dir;
  std::vector<std::unique_ptr<TempFile>> files;
  for (int i = 0; i < 200; ++i) files.push_back(std::make_unique<TempFile>(dir.path(), "x-"));
  EXPECT_EQ(files_in(dir.path()), 200u);
}

TEST(TempFile, RemovesOnlyFilesWhoseWriterDied) {
  TempDir dir;
  TempFile alive(dir.path(), "alive-");
  age(alive.path());
  // A writer killed mid-write: its process is gone, so is its lock.
  const pid_t child = fork();
  if (child == 0) {
    TempFile orphan(dir.path(), "dead-");
    age(orphan.path());
    _exit(0 * kill(getpid(), SIGKILL));
  }
  int status = 0;
  waitpid(child, &status, 0);
  testing::write_file(dir / "fresh", "x");  // unlocked but too new: may be a writer about to lock it
  EXPECT_EQ(files_in(dir.path()), 3u);
  EXPECT_EQ(remove_abandoned_temp_files(dir.path()), 1u);
  EXPECT_TRUE(std::filesystem::exists(alive.path()));
  EXPECT_TRUE(std::filesystem::exists(dir / "fresh"));
  EXPECT_EQ(files_in(dir.path()), 2u);
}

}  // namespace gocachefs
