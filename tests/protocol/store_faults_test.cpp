// A damaged or unusual store never stops a session: a damaged index is
// replaced (one line on stderr), a corrupted object is a miss and is written
// anew by the next put, a read-only store is served read-only, and what
// killed processes leave behind is cleaned up.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "store/sha256.h"
#include "tests/protocol/gocachefs_process.h"

namespace gocachefs::testing {
namespace {

Id action(int i) { return Sha256::of("action " + std::to_string(i)); }
std::string body(int i) { return "object bytes " + std::to_string(i) + std::string(i % 300, 'x'); }

// Puts actions [from, to) in one session and closes it.
void fill(const std::string& store, int from, int to) {
  GocachefsProcess helper(store);
  ASSERT_EQ(helper.handshake()["ID"], 0);
  std::thread writer([&] {
    for (int i = from; i < to; ++i) helper.put(1 + i, action(i), body(i));
  });
  const auto responses = helper.receive(to - from);
  writer.join();
  for (const auto& [id, r] : responses) ASSERT_TRUE(r.contains("DiskPath")) << r;
  ASSERT_EQ(helper.close(1000000), json({{"ID", 1000000}}));
  helper.child().close_stdin();
  ASSERT_EQ(helper.child().wait(), 0);
}

std::string stats(const std::string& store) {
  return run_command({gocachefs_binary(), "stats", "--dir", store}).out;
}

void overwrite(const std::string& path, std::uint64_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string garbage(std::size_t n) {
  std::mt19937 random(42);
  std::string bytes(n, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

std::size_t lines_containing(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

enum class Damage { kGarbageInTheMiddle, kZeroedHeader, kTruncated };

class DamagedIndexTest : public ::testing::TestWithParam<Damage> {};

TEST_P(DamagedIndexTest, IsReplacedWithOneLineAndTheSessionGoesOn) {
  TempDir store;
  constexpr int kActions = 2000;
  fill(store.path(), 0, kActions);
  const std::string index = store / "index.sqlite";
  ASSERT_FALSE(std::filesystem::exists(index + "-wal")) << "a closed session leaves everything in the main file";
  const auto size = std::filesystem::file_size(index);
  switch (GetParam()) {
    case Damage::kGarbageInTheMiddle: overwrite(index, size / 2 / 4096 * 4096, garbage(8192)); break;
    case Damage::kZeroedHeader: overwrite(index, 0, std::string(100, '\0')); break;
    case Damage::kTruncated: std::filesystem::resize_file(index, size / 3); break;
  }

  GocachefsProcess helper(store.path());
  ASSERT_EQ(helper.handshake()["ID"], 0);
  std::thread getter([&] {
    for (int i = 0; i < kActions; ++i) helper.get(1 + i, action(i));
  });
  const auto gets = helper.receive(kActions);
  getter.join();
  for (const auto& [id, r] : gets) EXPECT_FALSE(r.contains("Err")) << "a get must hit or miss: " << r;
  // The build goes on: what it puts now is kept and found.
  for (int i = 0; i < 10; ++i) {
    helper.put(5000 + i, action(kActions + i), body(kActions + i));
    EXPECT_TRUE(helper.receive().contains("DiskPath"));
    helper.get(6000 + i, action(kActions + i));
    EXPECT_TRUE(helper.receive().contains("DiskPath"));
  }
  EXPECT_EQ(helper.close(9999), json({{"ID", 9999}}));
  helper.child().close_stdin();
  EXPECT_EQ(helper.child().wait(), 0);
  const std::string err = helper.child().stderr_text();
  EXPECT_EQ(lines_containing(err, "\n"), 1u) << err;
  EXPECT_NE(err.find("gocachefs: the index " + index + " was damaged"), std::string::npos) << err;
  EXPECT_TRUE(std::filesystem::exists(index + ".damaged"));

  // The next session is quiet and finds what the repaired one put.
  GocachefsProcess next(store.path());
  ASSERT_EQ(next.handshake()["ID"], 0);
  next.get(1, action(kActions + 3));
  EXPECT_TRUE(next.receive().contains("DiskPath"));
  next.close(2);
  next.child().close_stdin();
  EXPECT_EQ(next.child().wait(), 0);
  EXPECT_EQ(next.child().stderr_text(), "");
}

INSTANTIATE_TEST_SUITE_P(StoreFaults, DamagedIndexTest,
                         ::testing::Values(Damage::kGarbageInTheMiddle, Damage::kZeroedHeader, Damage::kTruncated));

TEST(StoreFaults, ObjectCorruptedInPlaceIsAMissAndAPutWritesItAnew) {
  TempDir store;
  fill(store.path(), 0, 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // file times tick coarsely
  const std::string path = store / ("objects/" + to_hex(Sha256::of(body(1))).substr(0, 2) + "/" +
                                    to_hex(Sha256::of(body(1))));
  overwrite(path, 3, "XYZ");  // same size: only the bytes changed

  GocachefsProcess helper(store.path());
  ASSERT_EQ(helper.handshake()["ID"], 0);
  helper.get(1, action(1));
  EXPECT_EQ(helper.receive(), json({{"ID", 1}, {"Miss", true}}));
  helper.get(2, action(2));
  EXPECT_TRUE(helper.receive().contains("DiskPath")) << "other objects are still served";
  helper.put(3, action(1), body(1));
  EXPECT_EQ(helper.receive()["DiskPath"], path);
  EXPECT_EQ(read_file(path), body(1));
  helper.get(4, action(1));
  EXPECT_EQ(helper.receive()["DiskPath"], path);
  helper.close(5);
  helper.child().close_stdin();
  EXPECT_EQ(helper.child().wait(), 0);
  EXPECT_EQ(helper.child().stderr_text(), "");
  EXPECT_NE(stats(store.path()).find("damaged:  1 objects"), std::string::npos) << stats(store.path());
}

TEST(StoreFaults, ObjectTouchedButIntactIsStillAHit) {
  TempDir store;
  fill(store.path(), 0, 1);
  const std::string path = store / ("objects/" + to_hex(Sha256::of(body(0))).substr(0, 2) + "/" +
                                    to_hex(Sha256::of(body(0))));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now());  // as a restore does
  GocachefsProcess helper(store.path());
  ASSERT_EQ(helper.handshake()["ID"], 0);
  helper.get(1, action(0));
  EXPECT_EQ(helper.receive()["DiskPath"], path);
  helper.close(2);
  helper.child().close_stdin();
  EXPECT_EQ(helper.child().wait(), 0);
}

TEST(StoreFaults, ReadOnlyStoreServesItsHitsAndKeepsPutsPrivately) {
  TempDir store;
  fill(store.path(), 0, 5);
  // A shared read-only volume: as root, a read-only bind mount in a mount
  // namespace of the process's own; otherwise, no write permission.
  GocachefsProcess::CommandLine command;
  if (geteuid() == 0) {
    command.argv = {"unshare", "--mount", "sh", "-c", "mount --bind -o ro \"$0\" \"$0\" && exec \"$1\" --dir \"$0\"",
                    store.path(), gocachefs_binary()};
  } else {
    run_command({"chmod", "-R", "a-w", store.path()});
    command.argv = {gocachefs_binary(), "--dir", store.path()};
  }
  const auto files_before = std::distance(std::filesystem::recursive_directory_iterator(store.path()), {});
  GocachefsProcess helper(command);
  ASSERT_EQ(helper.handshake()["ID"], 0);
  helper.get(1, action(2));
  const json hit = helper.receive();
  EXPECT_EQ(read_file(hit["DiskPath"]), body(2));
  EXPECT_TRUE(hit["DiskPath"].get<std::string>().starts_with(store.path())) << hit;
  helper.put(2, action(100), body(100));
  const std::string private_path = helper.receive()["DiskPath"];
  EXPECT_FALSE(private_path.starts_with(store.path())) << private_path;
  EXPECT_EQ(read_file(private_path), body(100));
  helper.get(3, action(100));
  EXPECT_EQ(helper.receive()["DiskPath"], private_path);
  helper.get(4, action(101));
  EXPECT_EQ(helper.receive(), json({{"ID", 4}, {"Miss", true}}));
  EXPECT_EQ(helper.close(5), json({{"ID", 5}}));
  helper.child().close_stdin();
  EXPECT_EQ(helper.child().wait(), 0);
  const std::string err = helper.child().stderr_text();
  EXPECT_EQ(lines_containing(err, "\n"), 1u) << err;
  EXPECT_NE(err.find("cannot be written"), std::string::npos) << err;
  EXPECT_NE(err.find("serving its hits read-only"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(private_path)) << "the private store is removed at exit";
  EXPECT_EQ(std::distance(std::filesystem::recursive_directory_iterator(store.path()), {}), files_before);
  if (geteuid() != 0) run_command({"chmod", "-R", "u+w", store.path()});
}

TEST(StoreFaults, TempFilesOfKilledWritersAreRemovedAtStart) {
  TempDir store;
  std::vector<std::string> left;
  for (int i = 0; i < 3; ++i) {
    GocachefsProcess helper(store.path());
    ASSERT_EQ(helper.handshake()["ID"], 0);
    // Half a large put body: a temp file is being written when the kill comes.
    helper.send_raw("{\"ID\":1,\"Command\":\"put\",\"ActionID\":\"" + id_to_base64(action(i)) +
                    "\",\"OutputID\":\"" + id_to_base64(Sha256::of("whatever")) + "\",\"BodySize\":3000000}\n\n\"" +
                    std::string(2000000, 'A'));
    for (int tries = 0; tries < 200 && std::filesystem::is_empty(store / "tmp"); ++tries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    kill(helper.child().pid(), SIGKILL);
    helper.child().wait();
  }
  for (const auto& e : std::filesystem::directory_iterator(store / "tmp")) left.push_back(e.path());
  ASSERT_EQ(left.size(), 3u);
  // Older than the grace a live writer gets between creating and locking.
  for (const auto& path : left) {
    std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now() - std::chrono::minutes(1));
  }
  GocachefsProcess helper(store.path());
  ASSERT_EQ(helper.handshake()["ID"], 0);
  helper.get(1, action(0));  // answered once the store is open
  EXPECT_TRUE(helper.receive().contains("Miss"));
  EXPECT_TRUE(std::filesystem::is_empty(store / "tmp"));
  helper.close(2);
}

TEST(StoreFaults, CountersOfAKilledProcessAreSaved) {
  TempDir store;
  GocachefsProcess helper(store.path());
  ASSERT_EQ(helper.handshake()["ID"], 0);
  for (int i = 0; i < 3; ++i) {
    helper.put(1 + i, action(i), body(i));
    EXPECT_TRUE(helper.receive().contains("DiskPath"));
  }
  helper.get(10, action(1));
  EXPECT_TRUE(helper.receive().contains("DiskPath"));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // one flush interval
  kill(helper.child().pid(), SIGKILL);
  helper.child().wait();
  const std::string text = stats(store.path());
  EXPECT_NE(text.find("puts:     3"), std::string::npos) << text;
  EXPECT_NE(text.find("hits:     1"), std::string::npos) << text;
}

}  // namespace
}  // namespace gocachefs::testing
