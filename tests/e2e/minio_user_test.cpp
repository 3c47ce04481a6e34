// End to end with a real MinIO user (not an STS session) whose policy grants
// s3:GetObject and s3:PutObject under the cache's prefix, and no
// s3:ListBucket: what a least-privilege CI user has. Builds succeed, misses
// are misses (inside a prefix it may read, MinIO answers 404 for a missing
// key), uploads land, and nothing says the credentials were refused.
//
// The user is made with MinIO's client, mc (`mc admin user add`, `mc admin
// policy create/attach`), which scripts/setup.sh installs into build/tools
// ($GOCACHEFS_TEST_MC names another one).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/e2e/machine.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_server.h"

namespace gocachefs::testing {
namespace {

namespace fs = std::filesystem;

std::string mc_binary() {
  if (const char* named = std::getenv("GOCACHEFS_TEST_MC"); named && *named) return named;
  const std::string installed = scripts_dir() + "/../build/tools/mc";
  return fs::exists(installed) ? installed : "";
}

TEST(MinioUserTest, AUserWithGetAndPutButNoListBucketBuildsUploadsAndShares) {
  const std::string mc = mc_binary();
  if (mc.empty()) GTEST_SKIP() << "SKIPPED: no mc (MinIO's client; scripts/setup.sh installs it)";
  std::string why;
  const auto minio = TestServer::start("minio", {}, &why);
  if (!minio) GTEST_SKIP() << "SKIPPED: " << why;
  const std::string bucket = minio->get("bucket");

  // mc reaches the server as its root user through MC_HOST_<alias>.
  const TempDir mc_config;
  const std::string host = minio->url().substr(minio->url().find("://") + 3);
  const Environment as_root = environment_with(
      {{"MC_HOST_test", "http://" + minio->get("access_key") + ":" + minio->get("secret_key") + "@" + host},
       {"MC_CONFIG_DIR", mc_config.path()}});
  const auto mc_run = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {mc, "--no-color"};
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandResult r = run_command(argv, as_root);
    EXPECT_EQ(r.exit_code, 0) << "mc " << args[0] << " " << args[1] << ":\n" << r.out << r.err;
    return r.exit_code == 0;
  };
  const std::string user = "gocache-ci", secret = "gocache-ci-secret-1234";
  const std::string policy_file = mc_config.path() + "/get-put.json";
  write_file(policy_file, R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
                          R"("Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::)" +
                              bucket + R"(/go/*"]}]})");
  ASSERT_TRUE(mc_run({"admin", "user", "add", "test", user, secret}));
  ASSERT_TRUE(mc_run({"admin", "policy", "create", "test", "gocache-get-put", policy_file}));
  ASSERT_TRUE(mc_run({"admin", "policy", "attach", "test", "gocache-get-put", "--user", user}));

  // The user may not list the bucket: the policy is the least one.
  const auto listing = run_command({"curl", "-sS", "--max-time", "10", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user",
                                    user + ":" + secret, "-w", "\nHTTP %{http_code}",
                                    minio->url() + "/" + bucket + "?list-type=2&prefix=go/"});
  ASSERT_NE(listing.out.find("HTTP 403"), std::string::npos) << listing.out;

  const std::string url = "s3://" + bucket + "/go?endpoint=" + minio->url();
  const Environment keys = {{"AWS_ACCESS_KEY_ID", user}, {"AWS_SECRET_ACCESS_KEY", secret}};
  const auto expect_no_complaint = [](const Machine& m, const CommandResult& built) {
    EXPECT_EQ(built.err.find("refused the credentials"), std::string::npos) << built.err;
    EXPECT_EQ(gocachefs_lines(built.err), 0) << built.err;
    EXPECT_EQ(m.log().find("refused"), std::string::npos) << m.log();
  };
  {
    SCOPED_TRACE("the first machine: every get a miss, every put uploaded");
    const Machine writer(url, keys);
    const auto built = writer.go({"build", "./..."});
    expect_success(built, "go build ./... (writer)");
    expect_no_complaint(writer, built);
    const StoreStats stats = writer.stats();
    EXPECT_GT(stats.misses, 100);
    EXPECT_EQ(stats.remote_hits, 0);
    EXPECT_GT(stats.uploads, 100) << run_command({GOCACHEFS_BINARY, "stats", "--dir", writer.store()}).out;
  }
  {
    SCOPED_TRACE("a second machine: what the first uploaded, fetched");
    const Machine reader(url, keys);
    const auto built = reader.go({"build", "-x", "./..."});
    expect_success(built, "go build ./... (reader)");
    expect_no_complaint(reader, built);
    EXPECT_TRUE(compiles(built.err).empty()) << built.err;
    EXPECT_GT(reader.stats().remote_hits, 100);
    reader.expect_only_verified_objects();
  }
}

}  // namespace
}  // namespace gocachefs::testing
