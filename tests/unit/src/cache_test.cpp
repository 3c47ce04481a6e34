#include "src/cache.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "store/sha256.h"
#include "tests/support/subprocess.h"

namespace gocachefs {

using testing::read_file;
using testing::TempDir;

class CacheTest : public ::testing::Test {
 protected:
  std::string put(const std::string& action, const std::string& body) {
    auto pending = cache.begin_put(Sha256::of(action), Sha256::of(body), body.size());
    pending->writer->append(body.data(), body.size());
    return cache.finish_put(*pending);
  }
  TempDir dir;
  ObjectStore objects{dir.path()};
  Index index{dir / "index.sqlite"};
  Cache cache{objects, index};
};

TEST_F(CacheTest, GetAfterPutIsAHitWithThePutTime) {
  const std::int64_t before = now_unix_ns();
  const std::string path = put("a", "body");
  const auto hit = cache.get(Sha256::of("a"));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->disk_path, path);
  EXPECT_EQ(read_file(hit->disk_path), "body");
  EXPECT_EQ(hit->output_id, Sha256::of("body"));
  EXPECT_EQ(hit->size, 4u);
  EXPECT_GE(hit->put_time_ns, before);
  EXPECT_LE(hit->put_time_ns, now_unix_ns());
  // The time is the put's, not the get's.
  EXPECT_EQ(cache.get(Sha256::of("a"))->put_time_ns, hit->put_time_ns);
}

TEST_F(CacheTest, UnknownActionIsAMiss) { EXPECT_FALSE(cache.get(Sha256::of("nothing"))); }

TEST_F(CacheTest, DamagedObjectIsAMissUntilPutAgain) {
  const std::string path = put("a", "body bytes");
  std::filesystem::resize_file(path, 3);
  EXPECT_FALSE(cache.get(Sha256::of("a")));
  std::filesystem::remove(path);
  EXPECT_FALSE(cache.get(Sha256::of("a")));
  put("a", "body bytes");
  EXPECT_TRUE(cache.get(Sha256::of("a")));
}

TEST_F(CacheTest, MismatchedPutStoresNothing) {
  auto pending = cache.begin_put(Sha256::of("a"), Sha256::of("claimed"), 4);
  pending->writer->append("real", 4);
  EXPECT_THROW(cache.finish_put(*pending), std::runtime_error);
  EXPECT_FALSE(cache.get(Sha256::of("a")));
}

TEST_F(CacheTest, FlushAddsCountersToTheIndex) {
  put("a", "x");
  cache.get(Sha256::of("a"));
  cache.get(Sha256::of("a"));
  cache.get(Sha256::of("b"));
  cache.flush();
  const auto totals = index.totals();
  EXPECT_EQ(totals.counters.at("get_hits"), 2);
  EXPECT_EQ(totals.counters.at("get_misses"), 1);
  EXPECT_EQ(totals.counters.at("puts"), 1);
  EXPECT_EQ(totals.counters.at("put_bytes"), 1);
  cache.flush();  // nothing new: counters unchanged
  EXPECT_EQ(index.totals().counters.at("get_hits"), 2);
}

}  // namespace gocachefs
