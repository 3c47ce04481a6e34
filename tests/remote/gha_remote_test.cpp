// The gha:// remote against the project's emulator of the GitHub Actions
// cache service v2 (tests/gha_emulator/, kept honest by go-actions-cache in
// tests/scripts/gha_client_test.sh): packs by exact key, pointers as the
// newest of a prefix, blocks for large entries, ranges, and the service's
// refusals (a wrong token, the rate limit, immutable keys).
#include "store/remote/gha_remote.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "store/sha256.h"
#include "tests/support/remote_fetch.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_bytes.h"
#include "tests/support/test_server.h"

namespace gocachefs::testing {
namespace {

std::string cas_key(const std::string& bytes) { return "cas/" + to_hex(Sha256::of(bytes)); }

nlohmann::json emulator_stats(const TestServer& server) {
  return nlohmann::json::parse(run_command({"curl", "-sf", server.url() + "/_emulator/stats"}).out);
}

class GhaRemoteTest : public ::testing::Test {
 protected:
  void start(const std::vector<std::string>& args = {}) {
    std::string why;
    server_ = TestServer::start("gha", args, &why);
    if (!server_) GTEST_SKIP() << "SKIPPED: " << why;
  }
  GhaConfig config(const std::string& token = "") const {
    GhaConfig c;
    c.results_url = server_->url();
    c.token = token.empty() ? server_->get("token") : token;
    c.prefix = "test";
    c.retry_pause = std::chrono::milliseconds(10);
    return c;
  }
  std::unique_ptr<TestServer> server_;
};

TEST_F(GhaRemoteTest, PacksRoundTripWholeAndByRange) {
  start();
  GhaRemote remote(config());
  // Larger than a block: Put Block and Put Block List.
  const std::string big = random_bytes((32 << 20) + 12345, 1);
  const std::string small = random_bytes(1000, 2);
  const TempDir dir;
  write_file(dir.path() + "/big", big);
  ASSERT_TRUE(remote.store_file(cas_key(big), dir.path() + "/big", {}).ok());
  ASSERT_TRUE(remote.store_bytes(cas_key(small), small).ok());
  EXPECT_GE(emulator_stats(*server_)["blob_put_requests"].get<int>(), 3) << "blocks, their list, one blob";

  std::string out;
  ASSERT_TRUE(fetch_all(remote, cas_key(big), &out).ok());
  EXPECT_TRUE(out == big);
  ASSERT_TRUE(fetch_all(remote, cas_key(small), &out).ok());
  EXPECT_EQ(out, small);
  out.clear();
  const auto gets_before = emulator_stats(*server_)["lookup_calls"].get<int>();
  const RemoteResult range = remote.fetch_range(cas_key(big), {(32 << 20) + 100, 100}, [&](const char* d, std::size_t n) {
    out.append(d, n);
    return true;
  });
  ASSERT_TRUE(range.ok()) << range.error;
  EXPECT_EQ(out, big.substr((32 << 20) + 100, 100)) << "across the blocks' seam";
  EXPECT_EQ(emulator_stats(*server_)["lookup_calls"].get<int>(), gets_before) << "a pack's URL is asked for once";
  EXPECT_TRUE(remote.exists(cas_key(small)).ok());

  // Immutable, content-addressed: storing a pack again is no error.
  EXPECT_TRUE(remote.store_bytes(cas_key(small), small).ok());
  EXPECT_EQ(remote.exists(cas_key("never stored")).status, RemoteResult::kNotFound);
  EXPECT_EQ(fetch_all(remote, cas_key("never stored"), &out).status, RemoteResult::kNotFound);
}

TEST_F(GhaRemoteTest, APointerReadsAsTheNewestWritten) {
  start();
  GhaRemote remote(config());
  const std::string pointer = "ac/" + to_hex(Sha256::of("a pack key"));
  std::string out;
  EXPECT_EQ(fetch_all(remote, pointer, &out).status, RemoteResult::kNotFound);
  ASSERT_TRUE(remote.store_bytes(pointer, "first").ok());
  ASSERT_TRUE(remote.store_bytes(pointer, "second").ok());
  ASSERT_TRUE(fetch_all(remote, pointer, &out).ok());
  EXPECT_EQ(out, "second");
  EXPECT_NE(remote.entry_key_for(pointer), remote.entry_key_for(pointer)) << "each write is a new entry";
  // Another pointer with a longer name under the same prefix is not this one.
  EXPECT_EQ(fetch_all(remote, "ac/" + to_hex(Sha256::of("another key")), &out).status, RemoteResult::kNotFound);
}

TEST_F(GhaRemoteTest, HoldsPacksOnlyAndSaysWhatItIs) {
  start();
  GhaRemote remote(config());
  EXPECT_TRUE(remote.holds_packs_only());
  EXPECT_EQ(remote.store_bytes("other/key", "x").status, RemoteResult::kRejected);
  const std::string description = remote.describe();
  EXPECT_NE(description.find("gha://test"), std::string::npos) << description;
  EXPECT_EQ(description.find(server_->get("token")), std::string::npos) << "the token never shows";
}

TEST_F(GhaRemoteTest, RefusalsAreTold) {
  start({"2"});  // two uploads a minute
  GhaRemote wrong_token(config("not-the-token"));
  const RemoteResult refused = wrong_token.store_bytes(cas_key("a"), "a");
  EXPECT_EQ(refused.status, RemoteResult::kUnauthorized) << refused.error;
  EXPECT_EQ(refused.error.find(server_->get("token")), std::string::npos);
  std::string out;
  EXPECT_EQ(fetch_all(wrong_token, cas_key("a"), &out).status, RemoteResult::kUnauthorized);

  GhaRemote remote(config());
  ASSERT_TRUE(remote.store_bytes(cas_key("1"), "1").ok());
  ASSERT_TRUE(remote.store_bytes(cas_key("2"), "2").ok());
  const RemoteResult limited = remote.store_bytes(cas_key("3"), "3");
  EXPECT_EQ(limited.status, RemoteResult::kRejected) << "a 429 drops the upload, it is not retried";
  EXPECT_NE(limited.error.find("rate limit"), std::string::npos) << limited.error;
  EXPECT_EQ(emulator_stats(*server_)["rate_limited"].get<int>(), 1) << "asked once";
  EXPECT_TRUE(fetch_all(remote, cas_key("1"), &out).ok()) << "reads go on";
}

// As @actions/cache: 5 attempts on a 5xx, then the call fails.
TEST_F(GhaRemoteTest, ServerErrorsAreRetriedFiveTimes) {
  start();
  GhaRemote remote(config());
  const auto fail_next = [&](int count) {
    run_command({"curl", "-sf", "-X", "POST", server_->url() + "/_emulator/fail-twirp?count=" + std::to_string(count)});
  };
  fail_next(4);
  ASSERT_TRUE(remote.store_bytes(cas_key("after four failures"), "after four failures").ok());
  fail_next(5);
  const RemoteResult failed = remote.store_bytes(cas_key("after five"), "after five");
  EXPECT_EQ(failed.status, RemoteResult::kFailed) << failed.error;
  EXPECT_NE(failed.error.find("HTTP 500"), std::string::npos) << failed.error;
  std::string out;
  ASSERT_TRUE(fetch_all(remote, cas_key("after four failures"), &out).ok()) << "the next call is answered";
  EXPECT_EQ(out, "after four failures");
}

TEST_F(GhaRemoteTest, ACacheThatIsNotThereCostsOneTry) {
  start();
  GhaConfig c = config();
  server_->stop();
  c.retry_pause = std::chrono::milliseconds(2000);
  GhaRemote remote(c);
  const auto begin = std::chrono::steady_clock::now();
  std::string out;
  EXPECT_EQ(fetch_all(remote, cas_key("x"), &out).status, RemoteResult::kFailed);
  EXPECT_EQ(remote.store_bytes(cas_key("x"), "x").status, RemoteResult::kFailed);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::milliseconds(1900)) << "no retry pauses";
}

TEST(GhaConfigTest, NeedsTheVariablesThatActionsGet) {
  const char* saved_url = std::getenv("ACTIONS_RESULTS_URL");
  const char* saved_token = std::getenv("ACTIONS_RUNTIME_TOKEN");
  const std::string url = saved_url ? saved_url : "", token = saved_token ? saved_token : "";
  unsetenv("ACTIONS_RESULTS_URL");
  unsetenv("ACTIONS_RUNTIME_TOKEN");
  try {
    make_remote("gha://", {});
    ADD_FAILURE() << "no error without the variables";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("scripts/github-action"), std::string::npos) << e.what();
  }
  setenv("ACTIONS_RESULTS_URL", "http://127.0.0.1:1/", 1);
  setenv("ACTIONS_RUNTIME_TOKEN", "secret-token", 1);
  EXPECT_EQ(make_remote("gha://", {})->describe(), "gha://gocachefs at http://127.0.0.1:1");
  EXPECT_EQ(make_remote("gha://my-repo_1.x", {})->describe(), "gha://my-repo_1.x at http://127.0.0.1:1");
  EXPECT_THROW(make_remote("gha://a/b", {}), std::invalid_argument);
  if (saved_url) setenv("ACTIONS_RESULTS_URL", url.c_str(), 1); else unsetenv("ACTIONS_RESULTS_URL");
  if (saved_token) setenv("ACTIONS_RUNTIME_TOKEN", token.c_str(), 1); else unsetenv("ACTIONS_RUNTIME_TOKEN");
}

}  // namespace
}  // namespace gocachefs::testing
