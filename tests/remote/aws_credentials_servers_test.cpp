// Each AWS credential source signing a real put and get that MinIO checks:
// keys from the environment and the shared files, credential_process, web
// identity through MinIO's STS with a real OpenID provider, the ECS
// container endpoint and IMDSv2 (a loopback server handing out MinIO STS
// keys; IMDSv2 also through amazon-ec2-metadata-mock), and refreshes of
// temporary credentials. Servers come from scripts/test_server.sh.
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "store/remote/aws_credentials.h"
#include "store/remote/http_remote.h"
#include "store/remote/remote.h"
#include "store/remote/s3_remote.h"
#include "tests/support/aws_env.h"
#include "tests/support/test_server.h"

namespace gocachefs::testing {
namespace {

using namespace std::chrono_literals;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// MinIO with an OpenID provider for web identity, and the credential
// endpoints in front of its STS: started once for the suite.
class AwsCredentialServersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      oidc_ = TestServer::start("oidc", {}, &why_);
      if (oidc_) minio_ = TestServer::start("minio", {oidc_->url(), oidc_->get("client_id")}, &why_);
      if (minio_) {
        metadata_ = TestServer::start("aws-metadata", {minio_->url(), root_key(), root_secret()}, &why_);
      }
    } catch (const std::exception& e) {
      why_ = e.what();
      metadata_.reset();
    }
  }
  static void TearDownTestSuite() {
    metadata_.reset();
    minio_.reset();
    oidc_.reset();
  }
  void SetUp() override {
    if (!metadata_) GTEST_SKIP() << "SKIPPED: " << why_;
  }

  static std::string root_key() { return minio_->get("access_key"); }
  static std::string root_secret() { return minio_->get("secret_key"); }
  std::string s3_url() const {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    return "s3://" + minio_->get("bucket") + "/" + test->name() + "?endpoint=" + minio_->url();
  }

  // Temporary keys from MinIO's STS AssumeRole, signed with the root keys.
  AwsCredentials assume_role() const {
    const auto result = run_command({"curl", "-sS", "--max-time", "10", "--aws-sigv4", "aws:amz:us-east-1:sts",
                                     "--user", root_key() + ":" + root_secret(), "-d",
                                     "Action=AssumeRole&Version=2011-06-15&DurationSeconds=900",
                                     minio_->url() + "/"});
    return parse_sts_credentials(result.out);
  }
  // A JWT from the OpenID provider, valid for `lifetime` (negative: expired).
  std::string web_identity_token(int lifetime_seconds = 3600) const {
    return run_command({"curl", "-sS", "--max-time", "10",
                        oidc_->url() + "/token?lifetime=" + std::to_string(lifetime_seconds)})
        .out;
  }
  int credentials_handed_out() const {
    const auto stats = run_command({"curl", "-sS", "--max-time", "10", metadata_->url() + "/stats"});
    return nlohmann::json::parse(stats.out).at("credentials").get<int>();
  }
  std::map<std::string, std::string> web_identity_env(const std::string& token_file) const {
    return {{"AWS_WEB_IDENTITY_TOKEN_FILE", token_file},
            {"AWS_ROLE_ARN", "arn:aws:iam::000000000000:role/gocachefs-builder"},  // MinIO goes by the claim
            {"AWS_ENDPOINT_URL_STS", minio_->url()}};
  }

  static inline std::unique_ptr<TestServer> oidc_, minio_, metadata_;
  static inline std::string why_;
  TempDir dir_;
};

// A put and a get through `remote`, which MinIO accepts only when signed
// with credentials it issued.
::testing::AssertionResult put_and_get(Remote& remote, const std::string& tag = "") {
  static int counter = 0;
  const std::string key = "ac/" + std::to_string(getpid()) + "-" + std::to_string(++counter) + tag;
  const std::string bytes = "entry " + key;
  if (const auto put = remote.store_bytes(key, bytes); !put.ok()) {
    return ::testing::AssertionFailure() << "put: " << put.error;
  }
  std::string fetched;
  const auto got = remote.fetch(key, [&](const char* data, std::size_t size) {
    fetched.append(data, size);
    return true;
  });
  if (!got.ok()) return ::testing::AssertionFailure() << "get: " << got.error;
  if (fetched != bytes) return ::testing::AssertionFailure() << "got back " << fetched;
  return ::testing::AssertionSuccess();
}

// The message of the std::invalid_argument that make_remote throws.
std::string make_remote_error(const std::string& url) {
  try {
    make_remote(url, {});
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "make_remote accepted it";
  return "";
}

TEST_F(AwsCredentialServersTest, EnvironmentWithSessionToken) {
  const AwsCredentials temporary = assume_role();
  ScopedAwsEnv env({{"AWS_ACCESS_KEY_ID", temporary.access_key_id},
                    {"AWS_SECRET_ACCESS_KEY", temporary.secret_access_key},
                    {"AWS_SESSION_TOKEN", temporary.session_token}});
  EXPECT_TRUE(put_and_get(*make_remote(s3_url(), {})));
}

TEST_F(AwsCredentialServersTest, ProfileInTheCredentialsFile) {
  const AwsCredentials temporary = assume_role();
  write_file(dir_ / "credentials", "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n[ci]\n"
                                   "aws_access_key_id = " + temporary.access_key_id +
                                       "\naws_secret_access_key = " + temporary.secret_access_key +
                                       "\naws_session_token = " + temporary.session_token + "\n");
  ScopedAwsEnv env({{"AWS_SHARED_CREDENTIALS_FILE", dir_ / "credentials"}, {"AWS_PROFILE", "ci"}});
  EXPECT_TRUE(put_and_get(*make_remote(s3_url(), {})));
}

TEST_F(AwsCredentialServersTest, DefaultProfileInTheConfigFile) {
  write_file(dir_ / "config", "[default]\nregion = us-east-1\naws_access_key_id = " + root_key() +
                                  "\naws_secret_access_key = " + root_secret() + "\n");
  ScopedAwsEnv env({{"AWS_CONFIG_FILE", dir_ / "config"}});
  EXPECT_TRUE(put_and_get(*make_remote(s3_url(), {})));
}

TEST_F(AwsCredentialServersTest, CredentialProcess) {
  const AwsCredentials temporary = assume_role();
  const nlohmann::json answer = {{"Version", 1},
                                 {"AccessKeyId", temporary.access_key_id},
                                 {"SecretAccessKey", temporary.secret_access_key},
                                 {"SessionToken", temporary.session_token},
                                 {"Expiration", "2099-01-01T00:00:00Z"}};
  write_file(dir_ / "answer.json", answer.dump());
  write_file(dir_ / "config", "[profile tool]\ncredential_process = cat " + dir_ / "answer.json" + "\n");
  ScopedAwsEnv env({{"AWS_CONFIG_FILE", dir_ / "config"}, {"AWS_PROFILE", "tool"}});
  EXPECT_TRUE(put_and_get(*make_remote(s3_url(), {})));
}

TEST_F(AwsCredentialServersTest, WebIdentityFromTheEnvironment) {
  write_file(dir_ / "token", web_identity_token());
  ScopedAwsEnv env(web_identity_env(dir_ / "token"));
  EXPECT_TRUE(put_and_get(*make_remote(s3_url(), {})));
}

TEST_F(AwsCredentialServersTest, WebIdentityFromTheProfile) {
  write_file(dir_ / "token", web_identity_token());
  write_file(dir_ / "config", "[profile oidc]\nweb_identity_token_file = " + dir_ / "token" +
                                  "\nrole_arn = arn:aws:iam::000000000000:role/gocachefs-builder\n"
                                  "role_session_name = ci-job-7\n");
  ScopedAwsEnv env({{"AWS_CONFIG_FILE", dir_ / "config"},
                    {"AWS_PROFILE", "oidc"},
                    {"AWS_ENDPOINT_URL_STS", minio_->url()}});
  EXPECT_TRUE(put_and_get(*make_remote(s3_url(), {})));
}

TEST_F(AwsCredentialServersTest, WebIdentityRefusedByStsIsAClearError) {
  const std::string expired = web_identity_token(-120);
  write_file(dir_ / "token", expired);
  ScopedAwsEnv env(web_identity_env(dir_ / "token"));
  const std::string message = make_remote_error(s3_url());
  EXPECT_TRUE(contains(message, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE")) << message;
  EXPECT_TRUE(contains(message, "STS refused")) << message;
  EXPECT_FALSE(contains(message, expired)) << message;
}

TEST_F(AwsCredentialServersTest, ContainerEndpointWithAuthorizationToken) {
  ScopedAwsEnv env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", metadata_->url() + "/ecs/v2/credentials"},
                    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", metadata_->get("token")}});
  EXPECT_TRUE(put_and_get(*make_remote(s3_url(), {})));
}

TEST_F(AwsCredentialServersTest, ContainerEndpointWithAuthorizationTokenFile) {
  write_file(dir_ / "ecs-token", metadata_->get("token") + "\n");
  ScopedAwsEnv env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", metadata_->url() + "/ecs/v2/credentials"},
                    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "overridden-by-the-file"},
                    {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", dir_ / "ecs-token"}});
  EXPECT_TRUE(put_and_get(*make_remote(s3_url(), {})));
}

TEST_F(AwsCredentialServersTest, ContainerEndpointRefusingTheTokenIsAClearError) {
  ScopedAwsEnv env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", metadata_->url() + "/ecs/v2/credentials"},
                    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "stale-container-token"}});
  const std::string message = make_remote_error(s3_url());
  EXPECT_TRUE(contains(message, "container credentials endpoint")) << message;
  EXPECT_TRUE(contains(message, "HTTP 401")) << message;
  EXPECT_FALSE(contains(message, "stale-container-token")) << message;
}

TEST_F(AwsCredentialServersTest, InstanceMetadataV2) {
  ScopedAwsEnv env({{"AWS_EC2_METADATA_DISABLED", ""}, {"AWS_EC2_METADATA_SERVICE_ENDPOINT", metadata_->url()}});
  EXPECT_TRUE(put_and_get(*make_remote(s3_url(), {})));
}

TEST_F(AwsCredentialServersTest, InstanceMetadataV2FromEc2MetadataMock) {
  std::string why;
  auto mock = TestServer::start("ec2-metadata-mock", {minio_->url(), root_key(), root_secret()}, &why);
  if (!mock) GTEST_SKIP() << "SKIPPED: " << why;
  ScopedAwsEnv env({{"AWS_EC2_METADATA_DISABLED", ""}, {"AWS_EC2_METADATA_SERVICE_ENDPOINT", mock->url()}});
  EXPECT_TRUE(put_and_get(*make_remote(s3_url(), {})));
}

TEST_F(AwsCredentialServersTest, EnvironmentKeysWinOverEverythingElse) {
  ScopedAwsEnv env({{"AWS_ACCESS_KEY_ID", root_key()},
                    {"AWS_SECRET_ACCESS_KEY", root_secret()},
                    {"AWS_CONTAINER_CREDENTIALS_FULL_URI", metadata_->url() + "/ecs/v2/credentials"},
                    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", metadata_->get("token")}});
  const int before = credentials_handed_out();
  EXPECT_TRUE(put_and_get(*make_remote(s3_url(), {})));
  EXPECT_EQ(credentials_handed_out(), before);
}

// A policy that finds every credential due: each request refreshes (MinIO
// will not issue keys for less than 15 minutes, and no test waits that long).
AwsRefreshPolicy refresh_every_request() {
  AwsRefreshPolicy policy;
  policy.margin = 3600s;
  policy.max_lifetime_fraction = 1.0;
  policy.min_interval = 0s;
  return policy;
}

TEST_F(AwsCredentialServersTest, ContainerCredentialsAreRefreshedAndStillSign) {
  ScopedAwsEnv env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", metadata_->url() + "/ecs/v2/credentials"},
                    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", metadata_->get("token")}});
  auto found = find_aws_credentials();
  const std::string first_key = found.credentials.access_key_id;
  auto provider = std::make_shared<AwsCredentialProvider>(std::move(found.source), std::move(found.credentials),
                                                          refresh_every_request());
  HttpRemote remote(s3_http_config(s3_url(), {}, provider));
  const int before = credentials_handed_out();
  EXPECT_TRUE(put_and_get(remote));
  EXPECT_GE(provider->refreshes(), 2);
  EXPECT_GE(credentials_handed_out(), before + 2);
  std::string error;
  EXPECT_NE(provider->current(&error)->access_key_id, first_key) << "the keys were not replaced";

  // Many requests at once while the keys keep changing under them.
  std::vector<std::future<::testing::AssertionResult>> workers;
  for (int i = 0; i < 4; ++i) {
    workers.push_back(std::async(std::launch::async, [&remote, i] {
      for (int j = 0; j < 5; ++j) {
        if (auto result = put_and_get(remote, "-" + std::to_string(i)); !result) return result;
      }
      return ::testing::AssertionSuccess();
    }));
  }
  for (auto& worker : workers) EXPECT_TRUE(worker.get());
}

TEST_F(AwsCredentialServersTest, WebIdentityIsRefreshedWithTheRotatedToken) {
  write_file(dir_ / "token", web_identity_token());
  ScopedAwsEnv env(web_identity_env(dir_ / "token"));
  auto found = find_aws_credentials();
  auto provider = std::make_shared<AwsCredentialProvider>(std::move(found.source), std::move(found.credentials),
                                                          refresh_every_request());
  HttpRemote remote(s3_http_config(s3_url(), {}, provider));
  EXPECT_TRUE(put_and_get(remote));
  // The platform rotates the token file: refreshes read the new one.
  write_file(dir_ / "token", web_identity_token());
  EXPECT_TRUE(put_and_get(remote));
  EXPECT_GE(provider->refreshes(), 4);
  // A token the STS refuses: the refresh fails, and the current keys,
  // still valid, go on signing.
  write_file(dir_ / "token", "not-a-token");
  const int refreshes = provider->refreshes();
  EXPECT_TRUE(put_and_get(remote));
  EXPECT_GT(provider->refreshes(), refreshes);
}

}  // namespace
}  // namespace gocachefs::testing
