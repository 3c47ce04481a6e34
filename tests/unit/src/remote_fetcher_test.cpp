#include "src/remote_fetcher.h"

#include <gtest/gtest.h>

#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <thread>

#include "store/remote/cas_encoding.h"
#include "store/remote/file_remote.h"
#include "store/sha256.h"
#include "tests/support/forwarding_remote.h"
#include "tests/support/subprocess.h"

namespace gocachefs {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

std::string large_object() {
  std::string s;
  for (int i = 0; s.size() < 3 * kInlineObjectLimit; ++i) s += "export data " + std::to_string(i) + "\n";
  return s;
}

class RemoteFetcherTest : public ::testing::Test {
 protected:
  // Writes the action's record (inlining the object when small) and, for a
  // large object, `cas_entry` (the object itself unless given).
  void publish(const std::string& action, const std::string& object, const std::string* cas_entry = nullptr) {
    publish(Sha256::of(action), object, cas_entry);
  }
  void publish(const Id& action_id, const std::string& object, const std::string* cas_entry = nullptr) {
    const ActionRecord record{Sha256::of(object), object.size(), kPutTime,
                              object.substr(0, inline_size_for(object.size(), object))};
    ASSERT_TRUE(remote.store_bytes("ac/" + to_hex(action_id), encode_action_record(action_id, record)).ok());
    if (object.size() > kInlineObjectLimit) {
      ASSERT_TRUE(remote.store_bytes("cas/" + to_hex(Sha256::of(object)), cas_entry ? *cas_entry : object).ok());
    }
  }
  std::optional<ActionEntry> fetch(const std::string& action) { return fetcher.fetch(Sha256::of(action)); }
  bool stored(const std::string& object) {
    const auto stamp = objects.stat(Sha256::of(object));
    return stamp && stamp->size == object.size();
  }

  static constexpr std::int64_t kPutTime = 1690000000000000000;
  TempDir remote_dir, local_dir;
  FileRemote remote{remote_dir.path()};
  ObjectStore objects{local_dir.path()};
  Index index{local_dir / "index.sqlite"};
  RemoteHealth health{"test remote"};
  RemoteFetcher fetcher{objects, index, remote, health};
};

TEST_F(RemoteFetcherTest, SmallObjectComesInsideTheRecord) {
  publish("a", "small object");
  const auto entry = fetch("a");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->output_id, Sha256::of("small object"));
  EXPECT_EQ(entry->put_time_ns, kPutTime) << "the original put time, not the fetch's";
  EXPECT_EQ(read_file(objects.path_of(entry->output_id)), "small object");
  EXPECT_EQ(index.lookup(Sha256::of("a"))->put_time_ns, kPutTime);
}

TEST_F(RemoteFetcherTest, MediumObjectComesCompressedInsideTheRecord) {
  std::string object;
  for (int i = 0; object.size() < kInlineObjectLimit; ++i) object += "export data " + std::to_string(i) + "\n";
  object.resize(kInlineObjectLimit);
  publish("a", object);
  EXPECT_TRUE(remote.fetch("cas/" + to_hex(Sha256::of(object)), [](const char*, std::size_t) { return true; })
                  .status == RemoteResult::kNotFound);
  ASSERT_TRUE(fetch("a"));
  EXPECT_EQ(read_file(objects.path_of(Sha256::of(object))), object);
}

TEST_F(RemoteFetcherTest, LargeObjectComesFromCasPlainOrCompressed) {
  const std::string object = large_object();
  publish("plain", object);
  ASSERT_TRUE(fetch("plain"));
  EXPECT_EQ(read_file(objects.path_of(Sha256::of(object))), object);

  const std::string other = object + "another";
  write_file(local_dir / "o", other);
  const CasUpload upload(local_dir / "o", other.size(), local_dir.path());
  ASSERT_TRUE(upload.encoding().zstd);
  const std::string frame = read_file(upload.file());
  publish("zstd", other, &frame);
  ASSERT_TRUE(fetch("zstd"));
  EXPECT_EQ(read_file(objects.path_of(Sha256::of(other))), other);
}

// cmd/go asks for a cached compile's "stdout" right after the compile.
TEST_F(RemoteFetcherTest, ACompileHitFetchesItsStdoutRecordAhead) {
  const Id compile = Sha256::of("compile");
  const Id stdout_entry = go_subkey(compile, "stdout");
  publish(compile, "!<arch>\n__.PKGDEF ...");
  publish(stdout_entry, "");
  ASSERT_TRUE(fetcher.fetch(compile));
  for (int i = 0; i < 500 && fetcher.records_fetched_ahead() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(fetcher.records_fetched_ahead(), 1u);
  std::filesystem::remove(remote_dir / ("ac/" + to_hex(stdout_entry)));  // only the record in hand can answer now
  const auto entry = fetcher.fetch(stdout_entry);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->output_id, Sha256::of(""));
  EXPECT_EQ(fetcher.records_used_ahead(), 1u);
}

TEST_F(RemoteFetcherTest, CorruptBytesAreNeitherServedNorKept) {
  const std::string object = large_object();
  std::string corrupt = object;
  corrupt[corrupt.size() / 2] ^= 1;
  publish("a", object, &corrupt);
  EXPECT_FALSE(fetch("a"));
  EXPECT_FALSE(stored(object));
  EXPECT_FALSE(index.lookup(Sha256::of("a")));
}

TEST_F(RemoteFetcherTest, EntryLongerThanTheObjectIsRejected) {
  const std::string object = large_object();
  const std::string longer = object + "trailing garbage";
  publish("a", object, &longer);
  EXPECT_FALSE(fetch("a"));
  EXPECT_FALSE(stored(object));
}

TEST_F(RemoteFetcherTest, MissingPiecesAreMisses) {
  EXPECT_FALSE(fetch("never put"));
  // A record whose object never arrived.
  const std::string object = large_object();
  const ActionRecord record{Sha256::of(object), object.size(), kPutTime, object.substr(0, kInlinePrefixLimit)};
  ASSERT_TRUE(remote.store_bytes("ac/" + to_hex(Sha256::of("orphan")), encode_action_record(Sha256::of("orphan"), record)).ok());
  EXPECT_FALSE(fetch("orphan"));
  // Garbage where a record should be.
  ASSERT_TRUE(remote.store_bytes("ac/" + to_hex(Sha256::of("garbage")), "\x01\x02 not a record").ok());
  EXPECT_FALSE(fetch("garbage"));
}

// A real FileRemote that counts the downloads of each key; the first
// download of `hold_key` waits for `release`, so that every caller has asked
// while it is in flight.
class CountingRemote : public testing::ForwardingRemote {
 public:
  CountingRemote(Remote& inner, std::string hold_key, std::shared_future<void> release)
      : ForwardingRemote(inner), hold_key_(std::move(hold_key)), release_(std::move(release)) {}
  RemoteResult fetch(const std::string& key, const RemoteSink& sink) override {
    bool first = false;
    {
      std::lock_guard lock(mutex_);
      first = ++downloads_[key] == 1;
    }
    if (first && key == hold_key_) release_.wait();
    return inner_.fetch(key, sink);
  }
  int downloads(const std::string& key) {
    std::lock_guard lock(mutex_);
    return downloads_[key];
  }

 private:
  std::string hold_key_;
  std::shared_future<void> release_;
  std::mutex mutex_;
  std::map<std::string, int> downloads_;
};

TEST_F(RemoteFetcherTest, ManyThreadsAskingForOneActionShareOneDownload) {
  const std::string object = large_object();
  publish("a", object);
  const std::string record_key = "ac/" + to_hex(Sha256::of("a"));
  const std::string object_key = "cas/" + to_hex(Sha256::of(object));
  std::promise<void> release;
  CountingRemote counting(remote, record_key, release.get_future().share());
  RemoteFetcher counted{objects, index, counting, health};
  constexpr int kThreads = 8;
  std::latch asking(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> hits{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      asking.count_down();
      hits += counted.fetch(Sha256::of("a")).has_value();
    });
  }
  // The record's download is held until every other thread waits for it:
  // none can come late and download again.
  asking.wait();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (counted.callers_waiting(Sha256::of("a")) < kThreads - 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(counted.callers_waiting(Sha256::of("a")), kThreads - 1u) << "callers did not join the running fetch";
  release.set_value();
  for (auto& t : threads) t.join();
  EXPECT_EQ(hits, kThreads);
  EXPECT_TRUE(stored(object));
  EXPECT_EQ(counting.downloads(record_key), 1) << "the record was downloaded once per caller";
  // Whenever a caller came, the object is downloaded once: later callers find it stored.
  EXPECT_EQ(counting.downloads(object_key), 1) << "the object was downloaded more than once";
}

TEST_F(RemoteFetcherTest, AnotherActionsRecordIsAMissAndCounted) {
  const std::string object = "compiled for action a";
  publish("a", object);
  // Copied to b's key by anyone with write access.
  std::filesystem::copy_file(remote_dir / ("ac/" + to_hex(Sha256::of("a"))), remote_dir / ("ac/" + to_hex(Sha256::of("b"))));
  EXPECT_FALSE(fetch("b"));
  EXPECT_FALSE(fetch("b"));
  EXPECT_EQ(fetcher.records_rejected(), 2u);
  EXPECT_TRUE(health.allow()) << "a refused record is not a failing remote";
  EXPECT_TRUE(fetch("a"));
}

TEST_F(RemoteFetcherTest, WithAKeyOnlySignedRecordsAreHits) {
  const auto keys = std::make_shared<const SigningKeys>(SigningKeys::parse("team " + std::string(40, 'k')));
  RemoteFetcher signed_fetcher{objects, index, remote, health, {keys}};
  publish("unsigned", "an object nobody signed");
  const std::string object = "an object the team signed";
  const ActionRecord record{Sha256::of(object), object.size(), kPutTime, object};
  ASSERT_TRUE(remote.store_bytes("ac/" + to_hex(Sha256::of("signed")),
                                 encode_action_record(Sha256::of("signed"), record, keys.get()))
                  .ok());
  EXPECT_FALSE(signed_fetcher.fetch(Sha256::of("unsigned")));
  EXPECT_FALSE(stored("an object nobody signed"));
  EXPECT_TRUE(signed_fetcher.fetch(Sha256::of("signed")));
  EXPECT_EQ(signed_fetcher.records_rejected(), 1u);
}

TEST_F(RemoteFetcherTest, AHugeDeclaredObjectIsRefusedBeforeAnythingIsWritten) {
  const std::string head = large_object().substr(0, kInlinePrefixLimit);
  const ActionRecord record{Sha256::of("huge"), 200ULL << 30, kPutTime, head};
  ASSERT_TRUE(remote.store_bytes("ac/" + to_hex(Sha256::of("huge")), encode_action_record(Sha256::of("huge"), record)).ok());
  EXPECT_FALSE(fetch("huge"));
  EXPECT_EQ(fetcher.records_rejected(), 1u);
  // Under a larger bound, the record passes; the disk has no room for it.
  RemoteFetcher trusting{objects, index, remote, health, {nullptr, 1ULL << 50}};
  EXPECT_FALSE(trusting.fetch(Sha256::of("huge")));
  EXPECT_EQ(trusting.objects_refused(), 1u);
  EXPECT_TRUE(std::filesystem::is_empty(objects.temp_dir())) << "nothing preallocated";
}

}  // namespace
}  // namespace gocachefs
