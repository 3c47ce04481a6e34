// The AWS credential chain without servers: parsing of the shared files,
// credential_process output, STS and metadata answers; the refresh
// schedule; which source is chosen, and what is said when none is.
#include "store/remote/aws_credentials.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "tests/support/aws_env.h"
#include "tests/support/subprocess.h"

namespace gocachefs {
namespace {

using namespace std::chrono_literals;
using testing::ScopedAwsEnv;
using testing::TempDir;
using testing::write_file;

AwsClock::time_point at(const std::string& iso) { return parse_aws_time(iso); }

// The message of the AwsCredentialsError that `f` throws.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const AwsCredentialsError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no AwsCredentialsError";
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(AwsTimeTest, ParsesTheFormsTheSourcesUse) {
  EXPECT_EQ(AwsClock::to_time_t(at("2026-01-02T03:04:05Z")), 1767323045);
  EXPECT_EQ(at("2026-01-02T03:04:05.123Z"), at("2026-01-02T03:04:05Z"));
  EXPECT_EQ(at("2026-01-02T05:04:05+02:00"), at("2026-01-02T03:04:05Z"));
  EXPECT_EQ(at("2026-01-01T22:04:05-0500"), at("2026-01-02T03:04:05Z"));
  EXPECT_THROW(parse_aws_time("tomorrow"), AwsCredentialsError);
  EXPECT_THROW(parse_aws_time("2026-01-02T03:04:05"), AwsCredentialsError);  // no zone: ambiguous
}

TEST(IniTest, SectionsKeysCommentsAndNestedValues) {
  const IniSections s = parse_ini(
      "# comment\n[default]\naws_access_key_id = AK\naws_secret_access_key=SK  \n; other comment\n"
      "[profile ci]\nregion = eu-west-1\ns3 =\n  max_concurrent_requests = 20\ncredential_process = tool --a=b\n"
      "[ spaced ]\nkey = value with = sign\r\n");
  EXPECT_EQ(s.at("default").at("aws_access_key_id"), "AK");
  EXPECT_EQ(s.at("default").at("aws_secret_access_key"), "SK");
  EXPECT_EQ(s.at("profile ci").at("region"), "eu-west-1");
  EXPECT_EQ(s.at("profile ci").count("max_concurrent_requests"), 0u) << "a nested value is not a key of the profile";
  EXPECT_EQ(s.at("profile ci").at("credential_process"), "tool --a=b");
  EXPECT_EQ(s.at("spaced").at("key"), "value with = sign");
}

TEST(CredentialProcessOutputTest, VersionOneWithAndWithoutExpiration) {
  const AwsCredentials c = parse_credential_process_output(
      R"({"Version": 1, "AccessKeyId": "AK", "SecretAccessKey": "SK", "SessionToken": "TOK",
          "Expiration": "2026-01-02T03:04:05Z"})");
  EXPECT_EQ(c.access_key_id, "AK");
  EXPECT_EQ(c.secret_access_key, "SK");
  EXPECT_EQ(c.session_token, "TOK");
  ASSERT_TRUE(c.expiration);
  EXPECT_EQ(*c.expiration, at("2026-01-02T03:04:05Z"));
  const AwsCredentials long_term =
      parse_credential_process_output(R"({"Version": 1, "AccessKeyId": "AK", "SecretAccessKey": "SK"})");
  EXPECT_FALSE(long_term.expiration);
  EXPECT_EQ(long_term.session_token, "");
}

TEST(CredentialProcessOutputTest, RejectsWhatIsNotVersionOne) {
  EXPECT_TRUE(contains(error_of([] { parse_credential_process_output("not json"); }), "not a JSON object"));
  EXPECT_TRUE(contains(
      error_of([] { parse_credential_process_output(R"({"AccessKeyId":"A","SecretAccessKey":"S"})"); }), "Version"));
  EXPECT_TRUE(contains(
      error_of([] { parse_credential_process_output(R"({"Version":2,"AccessKeyId":"A","SecretAccessKey":"S"})"); }),
      "Version"));
  EXPECT_TRUE(contains(error_of([] { parse_credential_process_output(R"({"Version":1,"AccessKeyId":"A"})"); }),
                       "SecretAccessKey"));
  EXPECT_THROW(parse_credential_process_output(
                   R"({"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"soon"})"),
               AwsCredentialsError);
}

TEST(MetadataCredentialsTest, EcsAndImdsAnswers) {
  const AwsCredentials c = parse_metadata_credentials(
      R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIA","SecretAccessKey":"S/k+",
          "Token":"IQo=","Expiration":"2026-11-30T00:07:04Z","RoleArn":"arn:aws:iam::1:role/r"})");
  EXPECT_EQ(c.access_key_id, "ASIA");
  EXPECT_EQ(c.secret_access_key, "S/k+");
  EXPECT_EQ(c.session_token, "IQo=");
  EXPECT_EQ(*c.expiration, at("2026-11-30T00:07:04Z"));
  EXPECT_THROW(parse_metadata_credentials("<html>proxy error</html>"), AwsCredentialsError);
}

TEST(StsAnswerTest, CredentialsOfAnAssumeRoleAnswer) {
  // As MinIO answers AssumeRoleWithWebIdentity.
  const AwsCredentials c = parse_sts_credentials(
      R"(<?xml version="1.0" encoding="UTF-8"?>)"
      R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">)"
      R"(<AssumeRoleWithWebIdentityResult><AssumedRoleUser><Arn></Arn><AssumeRoleId></AssumeRoleId></AssumedRoleUser>)"
      R"(<Credentials><AccessKeyId>VV5A86J6</AccessKeyId><SecretAccessKey>kBml+RSC3&amp;x</SecretAccessKey>)"
      R"(<SessionToken>eyJhbGci.eyJh.teDe</SessionToken><Expiration>2026-11-30T00:06:57Z</Expiration></Credentials>)"
      R"(<SubjectFromWebIdentityToken>builder</SubjectFromWebIdentityToken></AssumeRoleWithWebIdentityResult>)"
      R"(</AssumeRoleWithWebIdentityResponse>)");
  EXPECT_EQ(c.access_key_id, "VV5A86J6");
  EXPECT_EQ(c.secret_access_key, "kBml+RSC3&x");
  EXPECT_EQ(c.session_token, "eyJhbGci.eyJh.teDe");
  EXPECT_EQ(*c.expiration, at("2026-11-30T00:06:57Z"));
}

TEST(StsAnswerTest, AnErrorSaysWhatStsSaid) {
  const std::string message = error_of([] {
    parse_sts_credentials(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
        "<Code>InvalidIdentityToken</Code><Message>Token is expired &amp; unusable</Message></Error>"
        "<RequestId>1</RequestId></ErrorResponse>");
  });
  EXPECT_TRUE(contains(message, "InvalidIdentityToken")) << message;
  EXPECT_TRUE(contains(message, "Token is expired & unusable")) << message;
  EXPECT_THROW(parse_sts_credentials("<AssumeRoleResponse></AssumeRoleResponse>"), AwsCredentialsError);
  EXPECT_THROW(parse_sts_credentials("<Credentials><AccessKeyIdX>A</AccessKeyIdX></Credentials>"),
               AwsCredentialsError);
}

// --- refresh ---

TEST(RefreshTimeTest, FiveMinutesAheadButNotTooEarlyForShortLives) {
  const AwsRefreshPolicy policy;
  const auto now = at("2026-01-01T00:00:00Z");
  EXPECT_EQ(aws_refresh_time(AwsCredentials{"A", "S", "", std::nullopt}, now, policy), AwsClock::time_point::max());
  // An hour: 5 minutes before the end.
  EXPECT_EQ(aws_refresh_time(AwsCredentials{"A", "S", "T", now + 1h}, now, policy), now + 55min);
  // MinIO's and STS's shortest, 15 minutes: at 80% (12 minutes).
  EXPECT_EQ(aws_refresh_time(AwsCredentials{"A", "S", "T", now + 15min}, now, policy), now + 12min);
  // Already expired: due now.
  EXPECT_LE(aws_refresh_time(AwsCredentials{"A", "S", "T", now - 1min}, now, policy), now);
}

// A source that hands out numbered credentials, each valid `lifetime` from
// the fake clock's now, or fails when told to; a fetch can be held.
class FakeSource : public AwsCredentialSource {
 public:
  FakeSource(AwsClock::time_point* clock, std::chrono::seconds lifetime) : clock_(clock), lifetime_(lifetime) {}
  std::string name() const override { return "the fake source"; }
  AwsCredentials fetch() override {
    ++fetches;
    if (hold.valid()) hold.wait();
    if (fail) throw AwsCredentialsError("the fake source: refused");
    const int n = ++issued;
    return AwsCredentials{"KEY" + std::to_string(n), "secret" + std::to_string(n), "token", *clock_ + lifetime_};
  }
  std::atomic<int> fetches{0}, issued{0};
  std::atomic<bool> fail{false};
  std::shared_future<void> hold;

 private:
  AwsClock::time_point* clock_;
  std::chrono::seconds lifetime_;
};

struct ProviderWithFakes {
  explicit ProviderWithFakes(std::chrono::seconds lifetime = 900s) {
    auto fake = std::make_unique<FakeSource>(&clock, lifetime);
    source = fake.get();
    AwsRefreshPolicy policy;
    policy.now = [this] { return clock; };
    AwsCredentials first = fake->fetch();
    provider = std::make_unique<AwsCredentialProvider>(std::move(fake), first, policy);
  }
  std::string key() {
    std::string error;
    const auto c = provider->current(&error);
    return c ? c->access_key_id : "error: " + error;
  }
  AwsClock::time_point clock = at("2026-01-01T00:00:00Z");
  FakeSource* source;
  std::unique_ptr<AwsCredentialProvider> provider;
};

TEST(AwsCredentialProviderTest, RefreshesWhenDueNotBefore) {
  ProviderWithFakes p;  // 15 minutes: due at 12
  EXPECT_EQ(p.key(), "KEY1");
  p.clock += 11min;
  EXPECT_EQ(p.key(), "KEY1");
  EXPECT_EQ(p.provider->refreshes(), 0);
  p.clock += 61s;
  EXPECT_EQ(p.key(), "KEY2");
  EXPECT_EQ(p.key(), "KEY2");
  EXPECT_EQ(p.provider->refreshes(), 1);
  p.clock += 12min + 1s;
  EXPECT_EQ(p.key(), "KEY3");
}

TEST(AwsCredentialProviderTest, FailedRefreshKeepsValidCredentialsAndRetriesLater) {
  ProviderWithFakes p;
  p.clock += 13min;
  p.source->fail = true;
  EXPECT_EQ(p.key(), "KEY1") << "still valid for 2 minutes";
  EXPECT_EQ(p.key(), "KEY1");
  EXPECT_EQ(p.source->fetches, 2) << "a failing source is not asked again at once";
  p.clock += 11s;
  EXPECT_EQ(p.key(), "KEY1");
  EXPECT_EQ(p.source->fetches, 3);
  p.source->fail = false;
  p.clock += 11s;
  EXPECT_EQ(p.key(), "KEY2");
}

TEST(AwsCredentialProviderTest, ExpiredAndUnrefreshableIsAnErrorNamingTheSource) {
  ProviderWithFakes p;
  p.source->fail = true;
  p.clock += 15min;
  const std::string message = p.key();
  EXPECT_TRUE(contains(message, "the fake source")) << message;
  EXPECT_TRUE(contains(message, "expired")) << message;
  EXPECT_FALSE(contains(message, "secret1")) << message;
}

TEST(AwsCredentialProviderTest, OthersGoOnWhileOneRequestRefreshes) {
  ProviderWithFakes p;
  std::promise<void> release;
  p.source->hold = release.get_future().share();
  p.clock += 13min;  // due, still valid
  auto refresher = std::async(std::launch::async, [&] { return p.key(); });
  while (p.source->fetches < 2) std::this_thread::yield();
  // The refresh hangs; other requests sign with the current credentials.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(p.key(), "KEY1");
  release.set_value();
  EXPECT_EQ(refresher.get(), "KEY2");
  EXPECT_EQ(p.key(), "KEY2");
  EXPECT_EQ(p.source->fetches, 2);
}

TEST(AwsCredentialProviderTest, ExpiredCredentialsWaitForTheRefreshInFlight) {
  ProviderWithFakes p;
  std::promise<void> release;
  p.source->hold = release.get_future().share();
  p.clock += 16min;  // expired
  auto first = std::async(std::launch::async, [&] { return p.key(); });
  while (p.source->fetches < 2) std::this_thread::yield();
  auto second = std::async(std::launch::async, [&] { return p.key(); });
  EXPECT_EQ(second.wait_for(100ms), std::future_status::timeout) << "expired credentials were handed out";
  release.set_value();
  EXPECT_EQ(first.get(), "KEY2");
  EXPECT_EQ(second.get(), "KEY2");
  EXPECT_EQ(p.source->fetches, 2) << "one refresh for both";
}

TEST(AwsCredentialProviderTest, LongTermCredentialsAreNeverRefreshed) {
  AwsRefreshPolicy policy;
  auto clock = at("2026-01-01T00:00:00Z");
  policy.now = [&] { return clock; };
  auto fake = std::make_unique<FakeSource>(&clock, 900s);
  FakeSource* source = fake.get();
  AwsCredentialProvider provider(std::move(fake), AwsCredentials{"AK", "SK", "", std::nullopt}, policy);
  clock += 24h * 365;
  std::string error;
  EXPECT_EQ(provider.current(&error)->access_key_id, "AK");
  EXPECT_EQ(source->fetches, 0);
}

// --- the chain, without servers ---

TEST(AwsChainTest, EnvironmentKeysComeFirst) {
  TempDir dir;
  write_file(dir / "credentials", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n");
  ScopedAwsEnv env({{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                    {"AWS_SECRET_ACCESS_KEY", "envsecret"},
                    {"AWS_SESSION_TOKEN", "envtoken"},
                    {"AWS_SHARED_CREDENTIALS_FILE", dir / "credentials"}});
  const auto found = find_aws_credentials();
  EXPECT_EQ(found.credentials.access_key_id, "ENVKEY");
  EXPECT_EQ(found.credentials.session_token, "envtoken");
  EXPECT_TRUE(contains(found.source->name(), "environment"));
}

TEST(AwsChainTest, HalfTheEnvironmentKeysIsAnError) {
  ScopedAwsEnv env({{"AWS_ACCESS_KEY_ID", std::string("ENVKEY")}});
  EXPECT_TRUE(contains(error_of([] { find_aws_credentials(); }), "AWS_SECRET_ACCESS_KEY"));
}

TEST(AwsChainTest, ProfilesInTheConfigFileAndTheCredentialsFileWins) {
  TempDir dir;
  write_file(dir / "config",
             "[default]\nregion = eu-west-1\n[profile ci]\naws_access_key_id = CONFIGKEY\n"
             "aws_secret_access_key = configsecret\n[profile only-config]\naws_access_key_id = ONLYCONFIG\n"
             "aws_secret_access_key = onlyconfigsecret\naws_session_token = tok\n");
  write_file(dir / "credentials", "[ci]\naws_access_key_id = CREDKEY\naws_secret_access_key = credsecret\n");
  {
    ScopedAwsEnv env({{"AWS_CONFIG_FILE", dir / "config"},
                      {"AWS_SHARED_CREDENTIALS_FILE", dir / "credentials"},
                      {"AWS_PROFILE", "ci"}});
    const auto found = find_aws_credentials();
    EXPECT_EQ(found.credentials.access_key_id, "CREDKEY");
    EXPECT_TRUE(contains(found.source->name(), "profile ci")) << found.source->name();
  }
  ScopedAwsEnv env({{"AWS_CONFIG_FILE", dir / "config"},
                    {"AWS_SHARED_CREDENTIALS_FILE", dir / "credentials"},
                    {"AWS_PROFILE", "only-config"}});
  const auto found = find_aws_credentials();
  EXPECT_EQ(found.credentials.access_key_id, "ONLYCONFIG");
  EXPECT_EQ(found.credentials.session_token, "tok");
}

TEST(AwsChainTest, AProfileThatIsNotThereIsAnError) {
  ScopedAwsEnv env({{"AWS_PROFILE", std::string("nightly")}});
  const std::string message = error_of([] { find_aws_credentials(); });
  EXPECT_TRUE(contains(message, "nightly")) << message;
  EXPECT_TRUE(contains(message, "/nonexistent/aws/config")) << message;
}

TEST(AwsChainTest, CredentialProcessOutputIsUsed) {
  TempDir dir;
  write_file(dir / "answer.json",
             R"({"Version":1,"AccessKeyId":"PROCKEY","SecretAccessKey":"procsecret","SessionToken":"proctoken",)"
             R"("Expiration":"2099-01-01T00:00:00Z"})");
  write_file(dir / "config", "[profile tool]\ncredential_process = cat '" + dir / "answer.json" + "'\n");
  ScopedAwsEnv env({{"AWS_CONFIG_FILE", dir / "config"}, {"AWS_PROFILE", "tool"}});
  const auto found = find_aws_credentials();
  EXPECT_EQ(found.credentials.access_key_id, "PROCKEY");
  EXPECT_EQ(found.credentials.session_token, "proctoken");
  EXPECT_EQ(*found.credentials.expiration, at("2099-01-01T00:00:00Z"));
  EXPECT_EQ(found.source->name(), "credential_process of profile tool");
}

TEST(AwsChainTest, AFailingCredentialProcessIsAnErrorNamingIt) {
  TempDir dir;
  write_file(dir / "credentials",
             "[default]\ncredential_process = sh -c 'echo \"token expired, run login\" >&2; exit 3'\n");
  ScopedAwsEnv env({{"AWS_SHARED_CREDENTIALS_FILE", dir / "credentials"}});
  const std::string message = error_of([] { find_aws_credentials(); });
  EXPECT_TRUE(contains(message, "credential_process of profile default")) << message;
  EXPECT_TRUE(contains(message, "exit status 3")) << message;
  EXPECT_TRUE(contains(message, "token expired, run login")) << message;

  write_file(dir / "credentials", "[default]\ncredential_process = echo '{\"Version\": 1}'\n");
  const std::string bad_output = error_of([] { find_aws_credentials(); });
  EXPECT_TRUE(contains(bad_output, "credential_process of profile default")) << bad_output;
  EXPECT_TRUE(contains(bad_output, "AccessKeyId")) << bad_output;
}

TEST(AwsChainTest, WebIdentityNeedsARoleAndAnAnsweringSts) {
  TempDir dir;
  write_file(dir / "token", "header.claims.signature");
  {
    ScopedAwsEnv env({{"AWS_WEB_IDENTITY_TOKEN_FILE", dir / "token"}});
    EXPECT_TRUE(contains(error_of([] { find_aws_credentials(); }), "AWS_ROLE_ARN"));
  }
  // Nothing listens on port 1: the configured source fails, and says so.
  ScopedAwsEnv env({{"AWS_WEB_IDENTITY_TOKEN_FILE", dir / "token"},
                    {"AWS_ROLE_ARN", "arn:aws:iam::1:role/builder"},
                    {"AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1"}});
  const std::string message = error_of([] { find_aws_credentials(); });
  EXPECT_TRUE(contains(message, "web identity")) << message;
  EXPECT_TRUE(contains(message, "http://127.0.0.1:1")) << message;
  EXPECT_FALSE(contains(message, "header.claims.signature")) << message;
}

TEST(AwsChainTest, ContainerEndpointOverPlainHttpMustBeLocal) {
  ScopedAwsEnv env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://credentials.example.com/creds"},
                    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "secret-token"}});
  const std::string message = error_of([] { find_aws_credentials(); });
  EXPECT_TRUE(contains(message, "loopback")) << message;
  EXPECT_FALSE(contains(message, "secret-token")) << message;
}

TEST(AwsChainTest, AnUnreachableContainerEndpointIsAnError) {
  ScopedAwsEnv env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", std::string("http://127.0.0.1:1/creds")}});
  EXPECT_TRUE(contains(error_of([] { find_aws_credentials(); }), "container credentials endpoint"));
}

TEST(AwsChainTest, SsoProfilesAreRefusedWithAWayOut) {
  TempDir dir;
  write_file(dir / "config", "[profile dev]\nsso_session = corp\nsso_account_id = 1\n");
  ScopedAwsEnv env({{"AWS_CONFIG_FILE", dir / "config"}, {"AWS_PROFILE", "dev"}});
  const std::string message = error_of([] { find_aws_credentials(); });
  EXPECT_TRUE(contains(message, "credential_process = aws configure export-credentials")) << message;
}

TEST(AwsChainTest, NothingConfiguredListsWhatWasTriedAndHowToFixIt) {
  ScopedAwsEnv env;  // instance metadata disabled
  const std::string message = error_of([] { find_aws_credentials(); });
  for (const char* part : {"AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE", "profile default",
                           "AWS_CONTAINER_CREDENTIALS", "AWS_EC2_METADATA_DISABLED", "Set AWS_ACCESS_KEY_ID"}) {
    EXPECT_TRUE(contains(message, part)) << part << " missing from: " << message;
  }
}

TEST(AwsChainTest, InstanceMetadataThatDoesNotAnswerIsSkippedQuickly) {
  ScopedAwsEnv env({{"AWS_EC2_METADATA_DISABLED", ""}, {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1"}});
  const auto start = std::chrono::steady_clock::now();
  const std::string message = error_of([] { find_aws_credentials(); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(contains(message, "EC2 instance metadata (IMDSv2) at http://127.0.0.1:1")) << message;
  EXPECT_TRUE(contains(message, "no AWS credentials found")) << message;
}

}  // namespace
}  // namespace gocachefs
