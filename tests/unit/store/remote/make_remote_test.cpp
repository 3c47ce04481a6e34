// make_remote's choice of backend, URL redaction and the S3 settings.
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>

#include "store/remote/remote.h"
#include "store/remote/s3_remote.h"
#include "tests/support/aws_env.h"
#include "tests/support/subprocess.h"

namespace gocachefs {
namespace {

using testing::TempDir;
using testing::write_file;

// A clean AWS environment (no machine credentials, no IMDS) with these.
using ScopedEnv = testing::ScopedAwsEnv;

const std::map<std::string, std::string> kKeys = {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                                                  {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-secret"}};

// What the S3 remote signs its next request with.
HttpRequestCredentials request_credentials(const HttpConfig& config) {
  HttpRequestCredentials credentials;
  EXPECT_TRUE(config.userpwd.empty()) << "S3 credentials must be taken per request";
  EXPECT_TRUE(config.credentials && config.credentials(&credentials).ok());
  return credentials;
}

TEST(MakeRemoteTest, ChoosesTheBackendByScheme) {
  TempDir dir;
  EXPECT_EQ(make_remote("file://" + dir.path(), {})->describe(), "file://" + dir.path());
  EXPECT_EQ(make_remote("http://cache.example:8080/team/", {})->describe(), "http://cache.example:8080/team");
  ScopedEnv env(kKeys);
  EXPECT_NE(make_remote("s3://bucket/prefix", {})->describe().find("s3://bucket/prefix"), std::string::npos);
}

TEST(MakeRemoteTest, RejectsWhatItCannotUse) {
  EXPECT_THROW(make_remote("file://relative/path", {}), std::invalid_argument);
  EXPECT_THROW(make_remote("s3:///prefix", {}), std::invalid_argument);
  try {
    make_remote("ftp://user:hunter2@host/cache", {});
    FAIL() << "ftp accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

TEST(MakeRemoteTest, PasswordsNeverAppearInDescriptions) {
  EXPECT_EQ(make_remote("https://ci:hunter2@cache.example/x", {})->describe(), "https://REDACTED@cache.example/x");
}

TEST(RedactUrlTest, RemovesCredentialsKeepsTheRest) {
  EXPECT_EQ(redact_url("https://user:pw@host:1/p?a=1"), "https://REDACTED@host:1/p?a=1");
  EXPECT_EQ(redact_url("https://host/p?token=abc&region=eu"), "https://host/p?token=REDACTED&region=eu");
  EXPECT_EQ(redact_url("s3://b/p?access_key=AK&secret_key=SK&endpoint=http://m:9000"),
            "s3://b/p?access_key=REDACTED&secret_key=REDACTED&endpoint=http://m:9000");
  EXPECT_EQ(redact_url("http://host/plain"), "http://host/plain");
}

// Whatever the password holds, none of it survives (more may go: a path
// with an '@' loses its start, which is fine).
TEST(RedactUrlTest, NoPartOfAnyPasswordSurvives) {
  for (const std::string password : {"p@ss", "a/b", "x:y:z", "@/:@", "p@ss/word@", "%40enc", "q?x=1#f@"}) {
    for (const std::string prefix : {"https://", "http://ci:", "s3://", ""}) {
      const std::string url = (prefix == "http://ci:" ? prefix : prefix + "user:") + password + "@cache.example/go";
      const std::string redacted = redact_url(url);
      EXPECT_EQ(redacted.find(password), std::string::npos) << url << " -> " << redacted;
      // Nor a piece of it: the part after its first '@', '/' or ':'.
      const auto cut = password.find_first_of("@/:");
      if (cut != std::string::npos && cut + 1 < password.size()) {
        EXPECT_EQ(redacted.find(password.substr(cut + 1) + "@"), std::string::npos) << url << " -> " << redacted;
      }
      EXPECT_NE(redacted.find("cache.example/go"), std::string::npos) << url << " -> " << redacted;
    }
  }
  EXPECT_EQ(redact_url("https://ci:p@ss@host/go"), "https://REDACTED@host/go");
  EXPECT_EQ(redact_url("https://ci:a/b@host/go"), "https://REDACTED@host/go");
}

TEST(S3ConfigTest, DescriptionHidesCredentialsInTheEndpoint) {
  ScopedEnv env(kKeys);
  const HttpConfig c = s3_http_config("s3://builds/go?endpoint=http://admin:se@cr/et@minio:9000", {});
  EXPECT_EQ(c.description.find("se@cr"), std::string::npos) << c.description;
  EXPECT_EQ(c.description.find("et@"), std::string::npos) << c.description;
  EXPECT_TRUE(c.s3_error_codes);
}

TEST(S3ConfigTest, EndpointMeansPathStyle) {
  ScopedEnv env(kKeys);
  const HttpConfig c = s3_http_config("s3://builds/go/cache?endpoint=http://127.0.0.1:9000/&region=eu-west-3", {});
  EXPECT_EQ(c.base_url, "http://127.0.0.1:9000/builds/go/cache");
  EXPECT_EQ(c.aws_sigv4, "aws:amz:eu-west-3:s3");
  EXPECT_EQ(request_credentials(c).userpwd, "AKIDEXAMPLE:wJalrXUtnFEMI-secret");
  EXPECT_FALSE(c.zstd_headers);
  EXPECT_EQ(c.description.find("wJalrXUtnFEMI"), std::string::npos);
}

TEST(S3ConfigTest, AwsHostedBucketIsVirtualHostStyle) {
  ScopedEnv env({{"AWS_ACCESS_KEY_ID", "A"}, {"AWS_SECRET_ACCESS_KEY", "S"}, {"AWS_REGION", "ap-south-1"}});
  const HttpConfig c = s3_http_config("s3://builds/prefix/", {});
  EXPECT_EQ(c.base_url, "https://builds.s3.ap-south-1.amazonaws.com/prefix");
  EXPECT_EQ(c.aws_sigv4, "aws:amz:ap-south-1:s3");
  const HttpConfig path_style = s3_http_config("s3://builds?path_style=1", {});
  EXPECT_EQ(path_style.base_url, "https://s3.ap-south-1.amazonaws.com/builds");
}

TEST(S3ConfigTest, CredentialsFromTheProfileInTheCredentialsFile) {
  TempDir dir;
  write_file(dir / "credentials",
             "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = defaultsecret\n\n"
             "# the team's\n[ci]\naws_access_key_id=CIKEY\naws_secret_access_key = cisecret\n"
             "aws_session_token = citoken\n");
  {
    ScopedEnv env({{"AWS_SHARED_CREDENTIALS_FILE", dir / "credentials"}});
    EXPECT_EQ(request_credentials(s3_http_config("s3://b", {})).userpwd, "DEFAULTKEY:defaultsecret");
  }
  ScopedEnv env({{"AWS_SHARED_CREDENTIALS_FILE", dir / "credentials"}, {"AWS_PROFILE", "ci"}});
  const HttpRequestCredentials c = request_credentials(s3_http_config("s3://b", {}));
  EXPECT_EQ(c.userpwd, "CIKEY:cisecret");
  EXPECT_NE(std::find(c.headers.begin(), c.headers.end(), "x-amz-security-token: citoken"), c.headers.end());
}

TEST(S3ConfigTest, NoCredentialsIsAClearError) {
  TempDir dir;
  ScopedEnv env({{"AWS_SHARED_CREDENTIALS_FILE", dir / "missing"}});
  try {
    s3_http_config("s3://b", {});
    FAIL() << "no credentials accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("AWS_ACCESS_KEY_ID"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gocachefs
