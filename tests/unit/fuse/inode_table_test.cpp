#include "fuse/inode_table.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "store/sha256.h"

namespace gocachefs {
namespace {

LazyObject object_of(const std::string& bytes, std::size_t head_size) {
  return {.output_id = Sha256::of(bytes), .size = bytes.size(), .head = bytes.substr(0, head_size)};
}

TEST(InodeTable, AddIsIdempotentPerOutputId) {
  InodeTable table;
  const auto a = table.add(object_of("object a", 3));
  const auto b = table.add(object_of("object b", 0));
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, kRootInode);
  EXPECT_NE(*a, *b);
  // Another record of the same object, with a longer head: same file, first head kept.
  EXPECT_EQ(table.add(object_of("object a", 8)), a);
  EXPECT_EQ(table.object(*a)->head, "obj");
  EXPECT_EQ(table.size(), 2u);
}

TEST(InodeTable, RejectsAnotherSizeForAKnownOutputId) {
  InodeTable table;
  LazyObject object = object_of("twelve bytes", 4);
  const auto inode = table.add(object);
  object.size = 13;
  EXPECT_EQ(table.add(object), std::nullopt);
  EXPECT_EQ(table.object(*inode)->size, 12u);  // the file keeps its size
}

TEST(InodeTable, FindsByLowerCaseHexName) {
  InodeTable table;
  const LazyObject object = object_of("by name", 2);
  const auto inode = table.add(object);
  const std::string hex = to_hex(object.output_id);
  EXPECT_EQ(table.find(hex), inode);
  EXPECT_EQ(table.find(object.output_id), inode);
  const LazyObject* found = table.object(*inode);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->output_id, object.output_id);
  EXPECT_EQ(found->size, 7u);
  EXPECT_EQ(found->head, "by");
}

TEST(InodeTable, BadNamesAndUnknownInodesFindNothing) {
  InodeTable table;
  const LazyObject object = object_of("known", 0);
  table.add(object);
  std::string upper = to_hex(object.output_id);
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  for (const std::string& name : {std::string(), std::string("."), std::string(".."), upper,
                                  to_hex(object.output_id).substr(1), to_hex(object.output_id) + "0",
                                  to_hex(Sha256::of("unknown"))}) {
    EXPECT_EQ(table.find(name), std::nullopt) << name;
  }
  EXPECT_EQ(table.object(0), nullptr);
  EXPECT_EQ(table.object(kRootInode), nullptr);  // the directory is no object
  EXPECT_EQ(table.object(1000), nullptr);
}

TEST(InodeTable, RemembersWhatIsKnownBeyondTheHead) {
  InodeTable table;
  const auto fetched = *table.add(object_of("fetched", 1));
  const auto failed = *table.add(object_of("failed", 1));
  EXPECT_TRUE(std::holds_alternative<NotFetched>(table.state(fetched)));
  table.set_fetched(fetched, "/store/objects/ab/abcd");
  table.set_failed(failed, "remote down");
  ASSERT_TRUE(std::holds_alternative<Fetched>(table.state(fetched)));
  EXPECT_EQ(std::get<Fetched>(table.state(fetched)).path, "/store/objects/ab/abcd");
  ASSERT_TRUE(std::holds_alternative<FetchFailed>(table.state(failed)));
  EXPECT_EQ(std::get<FetchFailed>(table.state(failed)).error, "remote down");
  EXPECT_TRUE(std::holds_alternative<NotFetched>(table.state(1000)));
}

TEST(InodeTable, CountsTheFirstOpenOnly) {
  InodeTable table;
  const auto inode = *table.add(object_of("opened", 0));
  EXPECT_TRUE(table.first_open(inode));
  EXPECT_FALSE(table.first_open(inode));
  EXPECT_FALSE(table.first_open(1000));
}

TEST(InodeTable, ConcurrentAddsOfOneObjectShareAnInode) {
  InodeTable table;
  std::vector<std::thread> threads;
  std::vector<Inode> inodes(8);
  for (std::size_t t = 0; t < inodes.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) table.add(object_of("object " + std::to_string(i), 1));
      inodes[t] = *table.add(object_of("shared", 1));
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(std::set<Inode>(inodes.begin(), inodes.end()).size(), 1u);
  EXPECT_EQ(table.size(), 201u);
}

}  // namespace
}  // namespace gocachefs
