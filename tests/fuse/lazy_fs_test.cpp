// LazyFs on a real FUSE mount, read through the kernel as the compiler and
// the linker read it. The ObjectSource is a test double of the daemon's
// side; the real remote is tested elsewhere.
//
// This binary is also the mounting child of the KilledMountTest tests:
// `fuse_tests --serve DIR` mounts an empty LazyFs, says "mounted" and waits
// to be killed.
#include "fuse/lazy_fs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "fuse/mount.h"
#include "src/logging.h"
#include "store/eviction.h"
#include "store/index.h"
#include "store/object_store.h"
#include "store/sha256.h"
#include "tests/support/subprocess.h"
#include "tests/support/dev_fuse_mode.h"

namespace gocachefs {
namespace {

using testing::read_file;
using testing::TempDir;
namespace fs = std::filesystem;

constexpr long kFuseSuperMagic = 0x65735546;

std::string bytes_of(std::size_t size, unsigned seed) {
  std::string bytes(size, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (char& c : bytes) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return bytes;
}

LazyObject lazy_object(const std::string& bytes, std::size_t head_size) {
  return {.output_id = Sha256::of(bytes), .size = bytes.size(), .head = bytes.substr(0, head_size)};
}

// The daemon's side: keeps each fetched object as a file named by its hex.
// Its settings are locked: the FUSE workers that read them are ordered
// after the test's writes only through the kernel, which TSan cannot see.
class FakeSource : public ObjectSource {
 public:
  explicit FakeSource(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }

  void put(const std::string& bytes) {
    std::lock_guard lock(mutex_);
    objects_[Sha256::of(bytes)] = bytes;
  }
  void fail_with(std::string error) {
    std::lock_guard lock(mutex_);
    error_ = std::move(error);
  }
  void answer_after(std::chrono::milliseconds delay) {
    std::lock_guard lock(mutex_);
    delay_ = delay;
  }
  void set_arriving(bool arriving) {
    std::lock_guard lock(mutex_);
    arriving_ = arriving;
  }
  bool arriving(const Id& /*output_id*/) override {
    std::lock_guard lock(mutex_);
    return arriving_;
  }

  FetchResult fetch_whole(const Id& output_id, std::uint64_t size) override {
    ++calls;
    std::unique_lock lock(mutex_);
    const auto delay = delay_;
    lock.unlock();
    std::this_thread::sleep_for(delay);
    lock.lock();
    if (!error_.empty()) return {.error = error_};
    const auto it = objects_.find(output_id);
    if (it == objects_.end() || it->second.size() != size) return {.error = "no such object"};
    const std::string path = (dir_ / to_hex(output_id)).string();
    testing::write_file(path, it->second);
    return {.path = path};
  }

  std::atomic<int> calls{0};

 private:
  const fs::path dir_;
  std::mutex mutex_;
  std::map<Id, std::string> objects_;
  std::string error_;
  std::chrono::milliseconds delay_{0};
  bool arriving_ = false;
};

// pread through the mount; errno is the error when the result is empty.
std::optional<std::string> read_at(const std::string& path, std::size_t size, off_t offset) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out(size, '\0');
  const ssize_t n = pread(fd, out.data(), size, offset);
  const int error = errno;
  close(fd);
  errno = error;
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool is_fuse(const std::string& path) {
  struct statfs st {};
  return statfs(path.c_str(), &st) == 0 && st.f_type == kFuseSuperMagic;
}

// Whether `dir` is a mount whose server is gone.
bool is_stale(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) close(fd);
  return fd < 0 && (errno == ENOTCONN || errno == ECONNABORTED);
}

template <typename Condition>
bool eventually(Condition condition, std::chrono::seconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

class LazyFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    start_logging(log_path(), "info");
    fs::create_directory(mount_dir());
    if (const std::string error = lazy_fs_.mount(mount_dir()); !error.empty()) {
      GTEST_SKIP() << "SKIP: cannot mount FUSE here (" << error << ")";
    }
  }

  LazyObject add(const std::string& bytes, std::size_t head_size) {
    source_.put(bytes);
    const LazyObject object = lazy_object(bytes, head_size);
    EXPECT_TRUE(lazy_fs_.add(object));
    return object;
  }
  std::string mount_dir() const { return dir_ / "mnt"; }
  std::string log_path() const { return dir_ / "gocachefs.log"; }
  std::string path_of(const LazyObject& object) const { return mount_dir() + "/" + to_hex(object.output_id); }

  std::vector<pid_t> openers() {
    std::lock_guard lock(openers_mutex_);
    return openers_;
  }

  TempDir dir_;
  FakeSource source_{dir_ / "store"};
  std::mutex openers_mutex_;
  std::vector<pid_t> openers_;
  LazyFs lazy_fs_{source_, [this](pid_t opener) {
                    std::lock_guard lock(openers_mutex_);
                    openers_.push_back(opener);
                  }};  // last: unmounted first
};

TEST_F(LazyFsTest, AttributesComeFromTheRecordWithoutAFetch) {
  const LazyObject object = add(bytes_of(1 << 20, 1), 4096);
  struct stat st {};
  ASSERT_EQ(stat(path_of(object).c_str(), &st), 0) << std::strerror(errno);
  EXPECT_EQ(st.st_size, 1 << 20);
  EXPECT_EQ(st.st_mode, S_IFREG | 0444);
  EXPECT_EQ(st.st_uid, getuid());
  EXPECT_EQ(st.st_gid, getgid());
  ASSERT_EQ(stat(mount_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFDIR | 0555);
  EXPECT_EQ(st.st_uid, getuid());
  EXPECT_EQ(source_.calls, 0);
}

// cmd/go reads the first KiB of every .a hit (its build ID); the kernel
// turns that into one read of a few pages, which a 64 KiB head answers.
TEST_F(LazyFsTest, ReadsInsideTheHeadNeedNoFetch) {
  const std::string bytes = bytes_of(1 << 20, 2);
  const LazyObject object = add(bytes, 64 << 10);
  EXPECT_EQ(read_at(path_of(object), 1024, 0), bytes.substr(0, 1024));
  EXPECT_EQ(read_at(path_of(object), 4096, 8192), bytes.substr(8192, 4096));
  EXPECT_EQ(source_.calls, 0);
  const LazyFsCounters counters = lazy_fs_.counters();
  EXPECT_EQ(counters.objects_opened, 1u);
  EXPECT_GE(counters.bytes_from_heads, 1024u);
  EXPECT_EQ(counters.bytes_fetched, 0u);
}

TEST_F(LazyFsTest, AnObjectCarriedWholeNeverNeedsAFetch) {
  const std::string bytes = bytes_of(10000, 3);
  const LazyObject object = add(bytes, bytes.size());
  EXPECT_EQ(read_file(path_of(object)), bytes);
  const LazyObject empty = add("", 0);
  EXPECT_EQ(read_file(path_of(empty)), "");
  EXPECT_EQ(source_.calls, 0);
}

TEST_F(LazyFsTest, ReadsBeyondTheHeadFetchOnceHoweverManyReaders) {
  const std::string bytes = bytes_of(4 << 20, 4);
  const LazyObject object = add(bytes, 4096);
  source_.answer_after(std::chrono::milliseconds(300));  // all readers arrive during the fetch
  constexpr int kReaders = 8;
  std::latch start(kReaders);
  std::vector<std::optional<std::string>> results(kReaders);
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = read_at(path_of(object), 65536, (i + 1) * (256 << 10));
    });
  }
  for (auto& reader : readers) reader.join();
  for (int i = 0; i < kReaders; ++i) EXPECT_EQ(results[i], bytes.substr((i + 1) * (256 << 10), 65536)) << i;
  EXPECT_EQ(source_.calls, 1);
  EXPECT_EQ(read_file(path_of(object)), bytes);
  EXPECT_EQ(source_.calls, 1);
  EXPECT_EQ(lazy_fs_.counters().bytes_fetched, bytes.size());
  EXPECT_FALSE(lazy_fs_.failed(object.output_id));
}

// What the daemon's read-ahead for the linker builds on.
TEST_F(LazyFsTest, OpenersAreToldAndFetchAheadFetchesOnceForEveryReader) {
  const std::string bytes = bytes_of(1 << 20, 14);
  const LazyObject object = add(bytes, 4096);
  source_.answer_after(std::chrono::milliseconds(300));
  std::thread ahead([&] { lazy_fs_.fetch_ahead(object.output_id); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  lazy_fs_.fetch_ahead(object.output_id);  // in flight: returns at once, fetches nothing
  EXPECT_EQ(read_at(path_of(object), 4096, 500000), bytes.substr(500000, 4096)) << "the read joins the fetch ahead";
  ahead.join();
  EXPECT_EQ(source_.calls, 1);
  lazy_fs_.fetch_ahead(object.output_id);
  EXPECT_EQ(source_.calls, 1) << "fetched already";
  const auto seen = openers();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), gettid()) << "the opening thread, as the kernel names it";
}

// A pack's stream brings it: a read ahead would only wait, and a reader
// joining it would wait too, where it should fetch at once.
TEST_F(LazyFsTest, FetchAheadLeavesAnArrivingObjectToItsReaders) {
  const std::string bytes = bytes_of(1 << 20, 15);
  const LazyObject object = add(bytes, 4096);
  source_.set_arriving(true);
  EXPECT_FALSE(lazy_fs_.fetch_ahead(object.output_id));
  EXPECT_EQ(source_.calls, 0);
  EXPECT_EQ(read_at(path_of(object), 4096, 500000), bytes.substr(500000, 4096)) << "a reader fetches it itself";
  EXPECT_EQ(source_.calls, 1);
}

TEST_F(LazyFsTest, AHeadThatDiffersFromTheObjectFailsIt) {
  const std::string bytes = bytes_of(1 << 20, 5);
  source_.put(bytes);
  LazyObject object = lazy_object(bytes, 4096);
  object.head[100] ^= 1;  // the record lied about the first bytes
  ASSERT_TRUE(lazy_fs_.add(object));
  EXPECT_EQ(read_at(path_of(object), 65536, 512 << 10), std::nullopt);
  EXPECT_EQ(errno, EIO);
  EXPECT_TRUE(lazy_fs_.failed(object.output_id));
  EXPECT_EQ(lazy_fs_.counters().fetches_failed, 1u);
  EXPECT_NE(read_file(log_path()).find("differ from the head"), std::string::npos);
}

TEST_F(LazyFsTest, AFailedFetchIsRememberedNotRetried) {
  const LazyObject object = add(bytes_of(1 << 20, 6), 4096);
  source_.fail_with("remote down");
  EXPECT_EQ(read_at(path_of(object), 65536, 512 << 10), std::nullopt);
  EXPECT_EQ(errno, EIO);
  EXPECT_TRUE(lazy_fs_.failed(object.output_id));
  EXPECT_EQ(read_at(path_of(object), 65536, 768 << 10), std::nullopt);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(source_.calls, 1);
  EXPECT_EQ(lazy_fs_.counters().fetches_failed, 1u);
  EXPECT_NE(read_file(log_path()).find("remote down"), std::string::npos);
}

// Dependent compiles mmap export data MAP_SHARED; direct_io would break it.
TEST_F(LazyFsTest, SharedMmapShowsTheObject) {
  const std::string bytes = bytes_of(300 << 10, 7);
  const LazyObject object = add(bytes, 4096);
  const int fd = open(path_of(object).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  void* map = mmap(nullptr, bytes.size(), PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED) << std::strerror(errno);
  EXPECT_EQ(std::memcmp(map, bytes.data(), bytes.size()), 0);
  munmap(map, bytes.size());
  close(fd);
  EXPECT_EQ(source_.calls, 1);
}

TEST_F(LazyFsTest, AFileReadsAgainWhenReopenedAndOpenFilesAreCounted) {
  const std::string bytes = bytes_of(200 << 10, 8);
  const LazyObject object = add(bytes, 1024);
  const int fd = open(path_of(object).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(lazy_fs_.open_files(), 1u);
  close(fd);
  EXPECT_TRUE(eventually([&] { return lazy_fs_.open_files() == 0; }));  // the kernel releases in the background
  EXPECT_EQ(read_file(path_of(object)), bytes);
  EXPECT_EQ(read_file(path_of(object)), bytes);
  EXPECT_EQ(source_.calls, 1);
  EXPECT_EQ(lazy_fs_.counters().objects_opened, 1u);
}

TEST_F(LazyFsTest, UnknownNamesAreMissingUntilAdded) {
  const std::string bytes = bytes_of(5000, 9);
  const LazyObject object = lazy_object(bytes, 100);
  struct stat st {};
  EXPECT_EQ(stat(path_of(object).c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(stat((mount_dir() + "/not-an-object").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  // The kernel cached the absence a moment ago; adding the object clears it.
  source_.put(bytes);
  ASSERT_TRUE(lazy_fs_.add(object));
  ASSERT_EQ(stat(path_of(object).c_str(), &st), 0) << std::strerror(errno);
  EXPECT_EQ(st.st_size, 5000);
}

TEST_F(LazyFsTest, ListsItsObjectsOnAFuseFileSystem) {
  std::set<std::string> added;
  for (unsigned i = 0; i < 300; ++i) added.insert(to_hex(add(bytes_of(10, 100 + i), 10).output_id));
  std::set<std::string> listed;
  for (const auto& entry : fs::directory_iterator(mount_dir())) listed.insert(entry.path().filename());
  EXPECT_EQ(listed, added);
  EXPECT_TRUE(is_fuse(mount_dir()));
}

TEST_F(LazyFsTest, UnmountsWithAFileStillOpen) {
  const LazyObject object = add(bytes_of(100 << 10, 10), 1024);
  const int fd = open(path_of(object).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  lazy_fs_.unmount();
  char byte;
  EXPECT_EQ(pread(fd, &byte, 1, 50000), -1);  // its server is gone
  close(fd);
  EXPECT_FALSE(is_fuse(mount_dir()));
  EXPECT_TRUE(fs::is_empty(mount_dir()));
  // The directory can be mounted again.
  ASSERT_EQ(lazy_fs_.mount(mount_dir()), "");
  EXPECT_TRUE(is_fuse(mount_dir()));
}

// The daemon's side as it stores a fetch (src/remote_fetcher.cpp): into the
// local store, with its row in the index, where a trim finds it.
class StoreSource : public ObjectSource {
 public:
  explicit StoreSource(const fs::path& store_dir) : objects(store_dir), index(store_dir / "index.sqlite") {}

  void put_on_remote(const std::string& bytes) {
    std::lock_guard lock(mutex_);
    remote_[Sha256::of(bytes)] = bytes;
  }

  FetchResult fetch_whole(const Id& output_id, std::uint64_t size) override {
    std::lock_guard lock(mutex_);
    const std::string& bytes = remote_.at(output_id);
    auto writer = objects.begin_write(output_id, size);
    writer->append(bytes.data(), bytes.size());
    ActionEntry entry{output_id, size, now_ns(), now_ns()};
    entry.set_stamp(objects.commit(*writer, output_id, size));
    index.record_put(Sha256::of("action " + to_hex(output_id)), entry);
    return {.path = objects.path_of(output_id)};
  }

  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  ObjectStore objects;
  Index index;

 private:
  std::mutex mutex_;
  std::map<Id, std::string> remote_;
};

// A build has a file of the mount open, its object fetched into the store;
// a trim removes the object (unused for a week, as far as the index knows).
// The build reads the whole file all the same: the mount holds the object's
// file open.
TEST(LazyFsWithTrim, AFileOpenInTheMountReadsWholeAfterATrimRemovedItsObject) {
  TempDir dir;
  start_logging(dir / "gocachefs.log", "info");
  StoreSource source(dir / "store");
  LazyFs lazy_fs(source, [](pid_t) {});  // after `source`: unmounted first
  const std::string mount_dir = dir / "mnt";
  fs::create_directory(mount_dir);
  if (const std::string error = lazy_fs.mount(mount_dir); !error.empty()) {
    GTEST_SKIP() << "SKIP: cannot mount FUSE here (" << error << ")";
  }
  const std::string bytes = bytes_of(1 << 20, 11);
  source.put_on_remote(bytes);
  const LazyObject object = lazy_object(bytes, 4096);
  ASSERT_TRUE(lazy_fs.add(object));
  const std::string path = mount_dir + "/" + to_hex(object.output_id);

  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  std::string some(4096, '\0');
  ASSERT_EQ(pread(fd, some.data(), some.size(), 512 << 10), 4096);  // beyond the head: fetched
  EXPECT_EQ(some, bytes.substr(512 << 10, 4096));
  ASSERT_TRUE(source.objects.stat(object.output_id));

  const std::int64_t a_week_later = StoreSource::now_ns() + 7 * 24 * 3600LL * 1'000'000'000;
  TrimPolicy policy;
  policy.unlink_after = std::chrono::nanoseconds(0);  // no go command to wait for
  const auto report = trim_store(source.index, source.objects, policy, a_week_later);
  EXPECT_EQ(report.objects_removed, 1u);
  EXPECT_FALSE(source.objects.stat(object.output_id));  // row and file gone from the store

  // Nothing from the page cache: every byte comes through the mount.
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  std::string whole(bytes.size(), '\0');
  std::size_t done = 0;
  while (done < whole.size()) {
    const ssize_t n = pread(fd, whole.data() + done, whole.size() - done, static_cast<off_t>(done));
    ASSERT_GT(n, 0) << "at " << done << ": " << std::strerror(errno);
    done += static_cast<std::size_t>(n);
  }
  EXPECT_TRUE(whole == bytes);
  EXPECT_TRUE(read_file(path) == bytes);  // opened again while the build holds it
  close(fd);
}

TEST_F(LazyFsTest, SaysWhyItCannotMount) {
  EXPECT_NE(lazy_fs_.mount(mount_dir()).find("already mounted"), std::string::npos);
  LazyFs other(source_);
  EXPECT_NE(other.mount(dir_ / "missing").find("not a directory"), std::string::npos);
  EXPECT_NE(read_file(log_path()).find("not a directory"), std::string::npos);
}

// The mounting child (`--serve`), and the fusermount3 that auto_unmount left
// watching it.
class KilledMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    start_logging(dir_ / "gocachefs.log", "info");
    fs::create_directory(mount_dir());
    child_ = std::make_unique<testing::Child>(
        std::vector<std::string>{fs::read_symlink("/proc/self/exe"), "--serve", mount_dir()});
    const auto line = child_->read_line();
    if (line != "mounted") {
      GTEST_SKIP() << "SKIP: cannot mount FUSE here (" << line.value_or(child_->stderr_text()) << ")";
    }
  }

  std::string mount_dir() const { return dir_ / "mnt"; }

  void kill_child() {
    kill(child_->pid(), SIGKILL);
    child_->wait();
  }

  // fusermount3 processes whose command line names the mount point.
  std::vector<pid_t> watchers() const {
    std::vector<pid_t> pids;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const std::string name = entry.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in(entry.path() / "cmdline");
      std::vector<std::string> args;
      for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
      if (!args.empty() && fs::path(args[0]).filename() == "fusermount3" &&
          std::find(args.begin(), args.end(), mount_dir()) != args.end()) {
        pids.push_back(std::stoi(name));
      }
    }
    return pids;
  }

  TempDir dir_;
  std::unique_ptr<testing::Child> child_;
};

// auto_unmount's fusermount3 usually unmounts a killed process's mount, but
// not always (see cleanup_stale_mount): either way the next start can mount.
TEST_F(KilledMountTest, AKilledProcessLeavesNothingThatCleanupCannotFix) {
  ASSERT_TRUE(is_fuse(mount_dir()));
  ASSERT_FALSE(watchers().empty());
  kill_child();
  // Once its fusermount3 has given up or unmounted it, the mount is gone or stale.
  ASSERT_TRUE(eventually([&] { return watchers().empty(); }));
  EXPECT_FALSE(is_fuse(mount_dir()));
  cleanup_stale_mount(mount_dir());
  EXPECT_FALSE(is_stale(mount_dir()));
  FakeSource source(dir_ / "store");
  LazyFs lazy_fs(source);
  EXPECT_EQ(lazy_fs.mount(mount_dir()), "");
  EXPECT_TRUE(is_fuse(mount_dir()));
}

TEST_F(KilledMountTest, AStaleMountIsCleanedUp) {
  const std::vector<pid_t> pids = watchers();
  ASSERT_FALSE(pids.empty()) << "no fusermount3 watches " << mount_dir();
  for (const pid_t pid : pids) {
    if (kill(pid, SIGKILL) != 0) GTEST_SKIP() << "SKIP: cannot kill fusermount3: " << std::strerror(errno);
  }  // nothing will unmount it now
  kill_child();
  ASSERT_TRUE(eventually([&] { return is_stale(mount_dir()); }));
  cleanup_stale_mount(mount_dir());
  EXPECT_FALSE(is_stale(mount_dir()));
  EXPECT_FALSE(is_fuse(mount_dir()));
  FakeSource source(dir_ / "store");
  LazyFs lazy_fs(source);
  EXPECT_EQ(lazy_fs.mount(mount_dir()), "");
  EXPECT_TRUE(is_fuse(mount_dir()));
}

TEST(CleanupStaleMount, LeavesAnAnsweringDirectoryAlone) {
  TempDir dir;
  cleanup_stale_mount(dir.path());
  EXPECT_TRUE(fs::is_directory(dir.path()));
}

TEST(ProbeFuse, SaysWhetherAMountWorksHere) {
  const std::string problem = probe_fuse();
  if (!problem.empty()) GTEST_SKIP() << "SKIP: FUSE does not work here: " << problem;
  SUCCEED();
}

// A workstation user, not root: mounts through the setuid fusermount3.
TEST(UnprivilegedUser, PassesTheMountTests) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIP: needs root to become another user";
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  // The build tree may not be reachable for that user: run a copy of this binary.
  const std::string binary = dir / "fuse_tests";
  fs::copy_file("/proc/self/exe", binary);
  testing::DevFuseMode workstation(0666);
  const auto result = testing::run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary,
                                            "--gtest_filter=LazyFsTest.*:KilledMountTest.*"},
                                           testing::environment_with({}), dir.path(), std::chrono::seconds(120));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out.find("SKIP"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("[  PASSED  ]"), std::string::npos) << result.out;
}

// --serve DIR
int serve(const std::string& dir) {
  discard_logging();
  FakeSource source(fs::path(dir).parent_path() / "store");
  LazyFs lazy_fs(source);
  if (const std::string error = lazy_fs.mount(dir); !error.empty()) {
    std::cout << error << std::endl;
    return 1;
  }
  std::cout << "mounted" << std::endl;
  for (;;) pause();
}

}  // namespace
}  // namespace gocachefs

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--serve") return gocachefs::serve(argv[2]);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
