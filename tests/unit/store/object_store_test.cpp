#include "store/object_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "tests/support/subprocess.h"

namespace gocachefs {

using testing::read_file;
using testing::TempDir;

namespace {
// Stored with the right size: what a hit needs before anything else.
bool stored(const ObjectStore& store, const Id& id, std::uint64_t size) {
  const auto stamp = store.stat(id);
  return stamp && stamp->size == size;
}

ObjectStamp put(ObjectStore& store, const std::string& body, const std::optional<ObjectStamp>& recorded = {}) {
  auto writer = store.begin_write(Sha256::of(body), body.size(), recorded);
  writer->append(body.data(), body.size());
  return store.commit(*writer, Sha256::of(body), body.size());
}

// Overwrites the file's bytes in place, at its own size: a damaged disk or
// a stray tool, not anything gocachefs does. File times tick coarsely, so
// first let a tick pass, as it would between a write and real damage.
void corrupt_in_place(const std::string& path) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::string bytes = read_file(path);
  bytes[0] ^= 0x55;
  testing::write_file(path, bytes);
}

std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) ++n;
  }
  return n;
}
}  // namespace

TEST(ObjectStore, WritesAtomicallyUnderTheOutputIdWithoutExtension) {
  TempDir dir;
  ObjectStore store(dir.path());
  const std::string body = "hello object";
  const Id id = Sha256::of(body);
  auto writer = store.begin_write(id, body.size());
  writer->append(body.data(), 5);
  EXPECT_FALSE(stored(store, id, body.size()));  // nothing visible half-written
  writer->append(body.data() + 5, body.size() - 5);
  const ObjectStamp stamp = store.commit(*writer, id, body.size());
  const std::string path = store.path_of(id);
  EXPECT_EQ(std::filesystem::path(path).extension(), "");
  EXPECT_EQ(read_file(path), body);
  EXPECT_EQ(store.stat(id), stamp);
  EXPECT_EQ(stamp.size, body.size());
  EXPECT_EQ(files_in(dir / "tmp"), 0u);
}

TEST(ObjectStore, StoresEmptyObjects) {
  TempDir dir;
  ObjectStore store(dir.path());
  put(store, "");
  const std::string path = store.path_of(Sha256::of(""));
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
}

TEST(ObjectStore, RejectsWrongHashOrSizeAndKeepsNothing) {
  TempDir dir;
  ObjectStore store(dir.path());
  const Id claimed = Sha256::of("the real body");
  {
    auto writer = store.begin_write(claimed, 5);
    writer->append("other", 5);
    EXPECT_THROW(store.commit(*writer, claimed, 5), std::runtime_error);
  }
  {
    auto writer = store.begin_write(claimed, 13);
    writer->append("the real", 8);
    EXPECT_THROW(store.commit(*writer, claimed, 13), std::runtime_error);
  }
  EXPECT_FALSE(stored(store, claimed, 13));
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST(ObjectStore, AbandonedWriterLeavesNoTempFile) {
  TempDir dir;
  ObjectStore store(dir.path());
  {
    auto writer = store.begin_write(Sha256::of("x"), 1);
    writer->append("x", 1);
  }
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST(ObjectStore, CheckTellsTrustedChangedCorruptAndMissing) {
  TempDir dir;
  ObjectStore store(dir.path());
  const std::string body = "0123456789";
  const Id id = Sha256::of(body);
  const ObjectStamp recorded = put(store, body);
  ObjectStamp current;
  EXPECT_EQ(store.check(id, recorded, &current), ObjectStore::State::kSame);

  // Touched but intact (a copy, a restore): re-hashed, and its new stamp given.
  std::filesystem::last_write_time(store.path_of(id), std::filesystem::file_time_type::clock::now());
  EXPECT_EQ(store.check(id, recorded, &current), ObjectStore::State::kVerified);
  EXPECT_EQ(current, store.stat(id));

  corrupt_in_place(store.path_of(id));
  EXPECT_EQ(store.check(id, current, &current), ObjectStore::State::kCorrupt);
  EXPECT_FALSE(std::filesystem::exists(store.path_of(id))) << "a corrupt object is removed";

  const ObjectStamp again = put(store, body);
  std::filesystem::resize_file(store.path_of(id), 4);
  EXPECT_EQ(store.check(id, again, &current), ObjectStore::State::kMissing);
  std::filesystem::remove(store.path_of(id));
  EXPECT_EQ(store.check(id, again, &current), ObjectStore::State::kMissing);
}

TEST(ObjectStore, SecondWriteOfATrustedObjectOnlyVerifies) {
  TempDir dir;
  ObjectStore store(dir.path());
  const std::string body = "same bytes";
  const Id id = Sha256::of(body);
  const ObjectStamp first = put(store, body);
  EXPECT_EQ(put(store, body, first), first) << "the file was not written again";
  auto liar = store.begin_write(id, body.size(), first);
  liar->append("lies lies!", 10);
  EXPECT_THROW(store.commit(*liar, id, body.size()), std::runtime_error);
  EXPECT_EQ(read_file(store.path_of(id)), body);
}

TEST(ObjectStore, RePutReplacesAFileThatChangedSinceItWasRecorded) {
  TempDir dir;
  ObjectStore store(dir.path());
  const std::string body = "compiled package";
  const ObjectStamp recorded = put(store, body);
  corrupt_in_place(store.path_of(Sha256::of(body)));
  put(store, body, recorded);
  EXPECT_EQ(read_file(store.path_of(Sha256::of(body))), body);
  // Without a record (a replaced index) the file is written anew too.
  corrupt_in_place(store.path_of(Sha256::of(body)));
  put(store, body);
  EXPECT_EQ(read_file(store.path_of(Sha256::of(body))), body);
}

TEST(ObjectStore, HashFile) {
  TempDir dir;
  testing::write_file(dir / "f", "abc");
  EXPECT_EQ(hash_file(dir / "f"), Sha256::of("abc"));
  EXPECT_FALSE(hash_file(dir / "missing"));
}

}  // namespace gocachefs
