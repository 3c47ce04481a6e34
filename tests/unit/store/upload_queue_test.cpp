// The upload queue in the index (store/index.h): claims, leases, retries,
// and two processes claiming from one store.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "store/index.h"
#include "store/sha256.h"
#include "tests/support/subprocess.h"

namespace gocachefs {
namespace {

using testing::TempDir;

constexpr std::int64_t kSecond = 1000LL * 1000 * 1000;
constexpr std::int64_t kNow = 1700000000 * kSecond;
constexpr std::int64_t kLease = 120 * kSecond;

class UploadQueueTest : public ::testing::Test {
 protected:
  void queue(Index& index, const std::string& action) {
    index.record_put(Sha256::of(action), ActionEntry{Sha256::of("object of " + action), 10, kNow}, true);
  }
  std::vector<Id> claim(Index& index, std::int64_t now, int limit = 10) {
    return index.claim_uploads(now, now, now + kLease, limit);
  }
  TempDir dir;
  Index index{dir / "index.sqlite"};
};

// cmd/go puts each link's "link-stdout" after every link: on a machine
// warmed from the remote, the same action and object again.
TEST_F(UploadQueueTest, APutOfWhatTheActionAlreadyNamesIsNotSentAgain) {
  const ActionEntry entry{Sha256::of("empty"), 0, kNow};
  index.record_put(Sha256::of("fetched"), entry);  // from the remote: not queued
  index.record_put(Sha256::of("fetched"), entry, true);
  EXPECT_EQ(index.pending_uploads(), 0u);

  queue(index, "sent");
  ASSERT_EQ(claim(index, kNow), std::vector<Id>{Sha256::of("sent")});
  index.finish_upload(Sha256::of("sent"));
  queue(index, "sent");
  EXPECT_EQ(index.pending_uploads(), 0u) << "on the remote already";

  // Another object, or the same name with another size, is sent.
  index.record_put(Sha256::of("fetched"), ActionEntry{Sha256::of("other"), 0, kNow}, true);
  index.record_put(Sha256::of("sent"), ActionEntry{Sha256::of("object of sent"), 11, kNow}, true);
  EXPECT_EQ(index.pending_uploads(), 2u);
}

TEST_F(UploadQueueTest, AClaimLeasesUntilTheLeaseEnds) {
  queue(index, "a");
  EXPECT_EQ(claim(index, kNow), std::vector<Id>{Sha256::of("a")});
  EXPECT_EQ(claim(index, kNow + kSecond), std::vector<Id>{}) << "held by the first claim";
  EXPECT_EQ(claim(index, kNow + kLease - 1), std::vector<Id>{});
  // Its holder died: the lease runs out and another uploader takes it over.
  EXPECT_EQ(claim(index, kNow + kLease), std::vector<Id>{Sha256::of("a")});
  EXPECT_EQ(index.pending_uploads(), 1u);
}

TEST_F(UploadQueueTest, FinishedUploadsLeaveTheQueue) {
  queue(index, "a");
  queue(index, "b");
  ASSERT_EQ(claim(index, kNow).size(), 2u);
  index.finish_upload(Sha256::of("a"));
  EXPECT_EQ(index.pending_uploads(), 1u);
  EXPECT_EQ(index.still_queued({Sha256::of("a"), Sha256::of("b")}), std::vector<Id>{Sha256::of("b")});
}

TEST_F(UploadQueueTest, ARetryCountsAnAttemptAndWaitsOutItsBackoff) {
  queue(index, "a");
  EXPECT_EQ(index.upload_attempts(Sha256::of("a")), 0);
  ASSERT_EQ(claim(index, kNow).size(), 1u);
  index.retry_upload_at(Sha256::of("a"), kNow + 10 * kSecond);
  EXPECT_EQ(index.upload_attempts(Sha256::of("a")), 1);
  EXPECT_EQ(claim(index, kNow + 9 * kSecond), std::vector<Id>{}) << "still backing off";
  // The lease was given back: due once the backoff ends, not when the lease would have.
  EXPECT_EQ(claim(index, kNow + 10 * kSecond), std::vector<Id>{Sha256::of("a")});
  // Draining: due_by in the future takes it early.
  index.retry_upload_at(Sha256::of("a"), kNow + 100 * kSecond);
  EXPECT_EQ(index.upload_attempts(Sha256::of("a")), 2);
  EXPECT_EQ(index.claim_uploads(kNow + 11 * kSecond, kNow + 600 * kSecond, kNow + kLease, 10).size(), 1u);
}

TEST_F(UploadQueueTest, AReleaseGivesTheLeaseBackWithoutCountingAnAttempt) {
  queue(index, "a");
  ASSERT_EQ(claim(index, kNow).size(), 1u);
  index.release_upload(Sha256::of("a"));
  EXPECT_EQ(index.upload_attempts(Sha256::of("a")), 0);
  EXPECT_EQ(claim(index, kNow + 1), std::vector<Id>{Sha256::of("a")});
}

TEST_F(UploadQueueTest, ClaimsTakeTheLongestWaitingFirstUpToTheLimit) {
  for (const char* action : {"a", "b", "c"}) queue(index, action);
  ASSERT_EQ(claim(index, kNow).size(), 3u);
  index.retry_upload_at(Sha256::of("a"), kNow + 3 * kSecond);
  index.retry_upload_at(Sha256::of("b"), kNow + 1 * kSecond);
  index.retry_upload_at(Sha256::of("c"), kNow + 2 * kSecond);
  auto first = claim(index, kNow + 5 * kSecond, 2);  // RETURNING gives no order: compared as sets
  std::sort(first.begin(), first.end());
  auto expected = std::vector<Id>{Sha256::of("b"), Sha256::of("c")};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(first, expected);
  EXPECT_EQ(claim(index, kNow + 5 * kSecond, 2), std::vector<Id>{Sha256::of("a")});
}

TEST_F(UploadQueueTest, RequeuingAPutKeepsOneEntry) {
  queue(index, "a");
  queue(index, "a");
  EXPECT_EQ(index.pending_uploads(), 1u);
}

// Two go commands on one store: each upload is claimed by one of them only,
// whoever asks first, however they interleave.
TEST_F(UploadQueueTest, TwoClaimersOnOneStoreNeverShareAnUpload) {
  constexpr int kUploads = 200;
  for (int i = 0; i < kUploads; ++i) queue(index, "action " + std::to_string(i));
  Index other(dir / "index.sqlite");
  std::vector<Id> mine, theirs;
  std::thread second([&] {
    for (;;) {
      const auto batch = other.claim_uploads(kNow, kNow, kNow + kLease, 4);
      if (batch.empty()) break;
      theirs.insert(theirs.end(), batch.begin(), batch.end());
    }
  });
  for (;;) {
    const auto batch = index.claim_uploads(kNow, kNow, kNow + kLease, 4);
    if (batch.empty()) break;
    mine.insert(mine.end(), batch.begin(), batch.end());
  }
  second.join();
  std::vector<Id> all = mine;
  all.insert(all.end(), theirs.begin(), theirs.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "an upload was claimed twice";
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kUploads)) << "an upload was claimed by nobody";
  // One finishes what the other claimed: it is gone for both. (Under load
  // one claimer may have taken everything.)
  ASSERT_FALSE(all.empty());
  if (mine.empty()) {
    index.finish_upload(theirs.front());
  } else {
    other.finish_upload(mine.front());
  }
  EXPECT_EQ(index.pending_uploads(), static_cast<std::uint64_t>(kUploads - 1));
}

}  // namespace
}  // namespace gocachefs
