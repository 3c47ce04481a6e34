#include "store/object_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/subprocess.h"

namespace gocachefs {

using testing::read_file;
using testing::TempDir;

namespace {
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
  EXPECT_FALSE(store.has(id, body.size()));  // nothing visible half-written
  writer->append(body.data() + 5, body.size() - 5);
  const std::string path = store.commit(*writer, id, body.size());
  EXPECT_EQ(path, store.path_of(id));
  EXPECT_EQ(std::filesystem::path(path).extension(), "");
  EXPECT_EQ(read_file(path), body);
  EXPECT_TRUE(store.has(id, body.size()));
  EXPECT_EQ(files_in(dir / "tmp"), 0u);
}

TEST(ObjectStore, StoresEmptyObjects) {
  TempDir dir;
  ObjectStore store(dir.path());
  const Id id = Sha256::of("");
  auto writer = store.begin_write(id, 0);
  const std::string path = store.commit(*writer, id, 0);
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
  EXPECT_FALSE(store.has(claimed, 13));
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

TEST(ObjectStore, TruncatedOrMissingObjectIsNotThere) {
  TempDir dir;
  ObjectStore store(dir.path());
  const std::string body = "0123456789";
  const Id id = Sha256::of(body);
  auto writer = store.begin_write(id, body.size());
  writer->append(body.data(), body.size());
  const std::string path = store.commit(*writer, id, body.size());
  std::filesystem::resize_file(path, 4);
  EXPECT_FALSE(store.has(id, body.size()));
  std::filesystem::remove(path);
  EXPECT_FALSE(store.has(id, body.size()));
}

TEST(ObjectStore, SecondWriteOfAStoredObjectOnlyVerifies) {
  TempDir dir;
  ObjectStore store(dir.path());
  const std::string body = "same bytes";
  const Id id = Sha256::of(body);
  for (int i = 0; i < 2; ++i) {
    auto writer = store.begin_write(id, body.size());
    writer->append(body.data(), body.size());
    EXPECT_EQ(store.commit(*writer, id, body.size()), store.path_of(id));
  }
  auto liar = store.begin_write(id, body.size());
  liar->append("lies lies!", 10);
  EXPECT_THROW(store.commit(*liar, id, body.size()), std::runtime_error);
  EXPECT_EQ(read_file(store.path_of(id)), body);
}

TEST(ObjectStore, RemovesStaleTempFiles) {
  TempDir dir;
  ObjectStore store(dir.path());
  testing::write_file(dir / "tmp/leftover", "x");
  std::filesystem::last_write_time(dir / "tmp/leftover",
                                   std::filesystem::file_time_type::clock::now() - std::chrono::hours(2));
  testing::write_file(dir / "tmp/fresh", "x");
  store.remove_stale_temp_files(std::chrono::hours(1));
  EXPECT_FALSE(std::filesystem::exists(dir / "tmp/leftover"));
  EXPECT_TRUE(std::filesystem::exists(dir / "tmp/fresh"));
}

}  // namespace gocachefs
