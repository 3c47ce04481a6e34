#include "src/uploader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

#include "src/cache.h"
#include "store/action_record.h"
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

// A real FileRemote that records the order of the writes it is asked for,
// and can be told to answer a write in its place (`intercept`: a result, or
// empty to let it through; it may also throw).
class RecordingRemote : public testing::ForwardingRemote {
 public:
  explicit RecordingRemote(Remote& inner) : ForwardingRemote(inner) {}
  std::function<std::optional<RemoteResult>(const std::string& key)> intercept;

  RemoteResult store_bytes(const std::string& key, std::string_view bytes) override {
    if (auto answer = intercepted(key)) return *answer;
    return inner_.store_bytes(key, bytes);
  }
  RemoteResult store_file(const std::string& key, const std::filesystem::path& file, StoredEncoding encoding) override {
    if (auto answer = intercepted(key)) return *answer;
    return inner_.store_file(key, file, encoding);
  }

  std::vector<std::string> writes() {
    std::lock_guard lock(mutex_);
    return writes_;
  }
  // Where the key's first write came in the order (-1: never written).
  long position_of(const std::string& key) {
    const auto all = writes();
    const auto it = std::find(all.begin(), all.end(), key);
    return it == all.end() ? -1 : it - all.begin();
  }

 private:
  std::optional<RemoteResult> intercepted(const std::string& key) {
    {
      std::lock_guard lock(mutex_);
      writes_.push_back(key);
    }
    return intercept ? intercept(key) : std::nullopt;
  }
  std::mutex mutex_;
  std::vector<std::string> writes_;
};

class UploaderTest : public ::testing::Test {
 protected:
  // A put as the Cache makes it: the object stored, the action queued.
  void put(Index& index, const std::string& action, const std::string& object) {
    auto writer = objects.begin_write(Sha256::of(object), object.size());
    writer->append(object.data(), object.size());
    objects.commit(*writer, Sha256::of(object), object.size());
    index.record_put(Sha256::of(action), ActionEntry{Sha256::of(object), object.size(), 1234}, true);
  }
  std::optional<ActionRecord> remote_record(const std::string& action) {
    const std::string path = remote_dir / ("ac/" + to_hex(Sha256::of(action)));
    if (!std::filesystem::exists(path)) return std::nullopt;
    return decode_action_record(read_file(path), Sha256::of(action));
  }
  std::string remote_object(const std::string& object) {
    std::string out;
    CasDecoder decoder([&](const char* data, std::size_t size) {
      out.append(data, size);
      return true;
    });
    const std::string entry = read_file(remote_dir / ("cas/" + to_hex(Sha256::of(object))));
    EXPECT_TRUE(decoder.feed(entry.data(), entry.size()) && decoder.finish());
    return out;
  }

  TempDir remote_dir, local_dir;
  FileRemote remote{remote_dir.path()};
  ObjectStore objects{local_dir.path()};
  RemoteHealth health{"test remote"};
};

TEST_F(UploaderTest, SendsObjectThenRecord) {
  Index index(local_dir / "index.sqlite");
  const auto compiled = [](std::size_t size) {
    std::string s;
    for (int i = 0; s.size() < size; ++i) s += "compiled " + std::to_string(i) + "\n";
    return s;
  };
  const std::string medium = compiled(100000), large = compiled(kInlineObjectLimit + 1);
  const std::string archive = "!<arch>\n" + compiled(kInlineArchiveLimit);
  put(index, "small", "tiny object");
  put(index, "medium", medium);
  put(index, "large", large);
  put(index, "archive", archive);
  RecordingRemote recorder(remote);
  Uploader uploader(objects, index, recorder, health, 2);
  uploader.wake();
  EXPECT_EQ(uploader.drain(std::nullopt, std::chrono::seconds(20)), 0u);
  // A reader must never find a record whose object is not there yet.
  for (const auto& [action, object] : {std::pair{"large", &large}, std::pair{"archive", &archive}}) {
    const long object_at = recorder.position_of("cas/" + to_hex(Sha256::of(*object)));
    const long record_at = recorder.position_of("ac/" + to_hex(Sha256::of(action)));
    ASSERT_GE(object_at, 0) << action;
    EXPECT_LT(object_at, record_at) << action << ": the record went before its object";
  }
  EXPECT_EQ(recorder.writes().size(), 6u) << "two records alone, two objects each with its record";

  const auto cas_exists = [&](const std::string& object) {
    return std::filesystem::exists(remote_dir / ("cas/" + to_hex(Sha256::of(object))));
  };
  const auto small = remote_record("small");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->inline_bytes, "tiny object");
  EXPECT_EQ(small->put_time_ns, 1234);
  EXPECT_FALSE(cas_exists("tiny object")) << "an inlined object needs no cas entry";

  const auto inlined = remote_record("medium");
  ASSERT_TRUE(inlined);
  EXPECT_EQ(inlined->inline_bytes, medium);
  EXPECT_FALSE(cas_exists(medium));
  EXPECT_LT(std::filesystem::file_size(remote_dir / ("ac/" + to_hex(Sha256::of("medium")))), medium.size() / 2)
      << "compressed inside the record";

  const auto record = remote_record("large");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->size, large.size());
  EXPECT_EQ(record->inline_bytes, large.substr(0, kInlinePrefixLimit));
  EXPECT_EQ(remote_object(large), large);
  const auto archive_record = remote_record("archive");
  ASSERT_TRUE(archive_record);
  EXPECT_EQ(archive_record->inline_bytes, archive.substr(0, kInlinePrefixLimit)) << "a medium archive is not inlined";
  EXPECT_EQ(remote_object(archive), archive);
  EXPECT_LT(uploader.bytes_sent(), (medium.size() + large.size() + archive.size()) / 2) << "compressed on the wire";
  EXPECT_EQ(uploader.object_bytes_sent(),
            std::string("tiny object").size() + medium.size() + large.size() + archive.size());
  EXPECT_EQ(uploader.uploads_sent(), 4u);
}

TEST_F(UploaderTest, QueueOutlivesTheProcessThatFilledIt) {
  {
    Index index(local_dir / "index.sqlite");
    put(index, "a", "object a");
    put(index, "b", "object b");
  }  // "killed" before any upload
  Index index(local_dir / "index.sqlite");
  EXPECT_EQ(index.pending_uploads(), 2u);
  Uploader uploader(objects, index, remote, health, 1);
  EXPECT_EQ(uploader.drain(std::nullopt, std::chrono::seconds(20)), 0u);
  EXPECT_TRUE(remote_record("a"));
  EXPECT_TRUE(remote_record("b"));
}

TEST_F(UploaderTest, FailingRemoteKeepsTheQueueAndDrainGivesUp) {
  write_file(remote_dir / "file", "");
  FileRemote broken(remote_dir / "file");  // nothing can be written under a file
  Index index(local_dir / "index.sqlite");
  put(index, "a", "object a");
  {
    Uploader uploader(objects, index, broken, health, 1);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(uploader.drain(std::nullopt, std::chrono::seconds(2)), 1u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  }
  EXPECT_EQ(index.pending_uploads(), 1u);
}

TEST_F(UploaderTest, DrainWaitsForItsOwnUploadsOnly) {
  Index index(local_dir / "index.sqlite");
  // Theirs is held for an hour by another process's uploader; mine is free.
  put(index, "theirs", "an object another go command queued");
  const std::int64_t now = now_unix_ns(), hour = 3600LL * 1000 * 1000 * 1000;
  ASSERT_EQ(index.claim_uploads(now, now, now + hour, 10).size(), 1u);
  put(index, "mine", "my object");
  Uploader uploader(objects, index, remote, health, 1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(uploader.drain(std::vector<Id>{Sha256::of("mine")}, std::chrono::seconds(30)), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20)) << "waited for someone else's upload";
  // Without a list, drain waits for the whole queue: theirs stays, so it gives up.
  EXPECT_EQ(uploader.drain(std::nullopt, std::chrono::milliseconds(300)), 1u);
  EXPECT_TRUE(remote_record("mine"));
  EXPECT_EQ(index.still_queued({Sha256::of("mine"), Sha256::of("theirs")}), std::vector<Id>{Sha256::of("theirs")});
}

std::string large_compiled_object(const std::string& seed) {
  std::string s;
  for (int i = 0; s.size() < 2 * kInlineObjectLimit; ++i) s += seed + " compiled " + std::to_string(i) + "\n";
  return s;
}

// HTTP 413 from nginx's default body limit: the upload can never succeed.
TEST_F(UploaderTest, AnUploadRefusedForGoodIsDroppedAndTheOthersGo) {
  Index index(local_dir / "index.sqlite");
  const std::string big = large_compiled_object("big");
  put(index, "big", big);
  put(index, "small", "a small object");
  RecordingRemote recorder(remote);
  const std::string big_key = "cas/" + to_hex(Sha256::of(big));
  recorder.intercept = [&](const std::string& key) -> std::optional<RemoteResult> {
    if (key == big_key) return RemoteResult{RemoteResult::kRejected, "PUT " + key + ": HTTP 413"};
    return std::nullopt;
  };
  Uploader uploader(objects, index, recorder, health, 1);
  EXPECT_EQ(uploader.drain(std::nullopt, std::chrono::seconds(20)), 0u) << "the refused upload stayed queued";
  EXPECT_FALSE(remote_record("big")) << "a record without its object";
  EXPECT_TRUE(remote_record("small"));
  const auto writes = recorder.writes();
  EXPECT_EQ(std::count(writes.begin(), writes.end(), big_key), 1) << "a refused upload was tried again";
  EXPECT_TRUE(health.allow()) << "a refusal is not the remote failing";
}

// An attempt that throws (an unreadable object, a full temp dir) gives its
// lease back with an attempt counted: it is retried, not held for minutes.
TEST_F(UploaderTest, AnAttemptThatThrowsIsRetriedNotKept) {
  Index index(local_dir / "index.sqlite");
  const std::string big = large_compiled_object("throws once");
  put(index, "a", big);
  RecordingRemote recorder(remote);
  std::atomic<int> throws{1};
  recorder.intercept = [&](const std::string& key) -> std::optional<RemoteResult> {
    if (key.starts_with("cas/") && throws-- > 0) throw std::runtime_error("injected: no space left on device");
    return std::nullopt;
  };
  Uploader uploader(objects, index, recorder, health, 1);
  // The retry comes after its backoff (about a second), not after the lease (minutes).
  EXPECT_EQ(uploader.drain(std::nullopt, std::chrono::seconds(30)), 0u);
  EXPECT_TRUE(remote_record("a"));
  EXPECT_EQ(recorder.writes().size(), 3u) << "the failed object, then the object and its record";
}

TEST_F(UploaderTest, AnUploadThatKeepsFailingIsDroppedAfterBoundedAttempts) {
  Index index(local_dir / "index.sqlite");
  put(index, "a", "an object the remote never takes");
  // Nine attempts already failed (earlier go commands).
  for (int i = 0; i < 9; ++i) index.retry_upload_at(Sha256::of("a"), 0);
  RecordingRemote recorder(remote);
  recorder.intercept = [](const std::string& key) -> std::optional<RemoteResult> {
    return RemoteResult::failed("PUT " + key + ": operation timed out");
  };
  Uploader uploader(objects, index, recorder, health, 1);
  EXPECT_EQ(uploader.drain(std::nullopt, std::chrono::seconds(20)), 0u);
  EXPECT_EQ(index.pending_uploads(), 0u) << "the tenth failure drops it";
  EXPECT_EQ(recorder.writes().size(), 1u);
}

TEST_F(UploaderTest, ABreakerHeldBackUploadIsNotCountedAsAnAttempt) {
  Index index(local_dir / "index.sqlite");
  put(index, "a", "object a");
  for (int i = 0; i < CircuitBreaker::kTripAfter; ++i) health.failed(RemoteResult::failed("HTTP 500"));
  ASSERT_TRUE(health.cooling_down());
  {
    Uploader uploader(objects, index, remote, health, 1);
    EXPECT_EQ(uploader.drain(std::nullopt, std::chrono::seconds(5)), 1u) << "drain stops while the remote is failing";
  }
  EXPECT_EQ(index.upload_attempts(Sha256::of("a")), 0);
  EXPECT_EQ(index.pending_uploads(), 1u);
}

}  // namespace
}  // namespace gocachefs
