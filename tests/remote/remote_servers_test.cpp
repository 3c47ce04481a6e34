// Each Remote backend against a real server: nginx with WebDAV (plain and
// with basic auth), MinIO (S3, signatures checked), bazel-remote, and a
// fault-injecting proxy in front of nginx. Servers come from
// scripts/test_server.sh on free loopback ports.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <sstream>

#include "src/remote_health.h"
#include "store/remote/aws_credentials.h"
#include "store/remote/cas_encoding.h"
#include "store/remote/remote.h"
#include "store/sha256.h"
#include "tests/support/remote_fetch.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_server.h"

namespace gocachefs::testing {
namespace {

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 random(seed);
  std::string bytes(n, '\0');
  for (auto& c : bytes) c = static_cast<char>(random());
  return bytes;
}

// Keys as bazel-remote wants them: 64 hex; under cas/, the SHA-256 of the
// entry (bazel-remote checks it).
std::string ac_key() {
  static int counter = 0;
  return "ac/" + to_hex(Sha256::of(std::to_string(getpid()) + "/" + std::to_string(++counter)));
}
std::string cas_key(const std::string& bytes) { return "cas/" + to_hex(Sha256::of(bytes)); }

// A remote on a real server, by backend name.
struct Backend {
  std::unique_ptr<TestServer> server;
  std::unique_ptr<Remote> remote;
  std::string skip_reason;
};

Backend start_backend(const std::string& name, const RemoteOptions& options = {}) {
  Backend b;
  if (name == "nginx") {
    b.server = TestServer::start("nginx", {}, &b.skip_reason);
    if (b.server) b.remote = make_remote(b.server->url() + "/prefix", options);
  } else if (name == "nginx-basic-auth") {
    b.server = TestServer::start("nginx", {"builder:s3cr3t-pass"}, &b.skip_reason);
    if (b.server) {
      const std::string url = b.server->url();
      b.remote = make_remote("http://builder:s3cr3t-pass@" + url.substr(7), options);
    }
  } else if (name == "minio") {
    b.server = TestServer::start("minio", {}, &b.skip_reason);
    if (b.server) {
      setenv("AWS_ACCESS_KEY_ID", b.server->get("access_key").c_str(), 1);
      setenv("AWS_SECRET_ACCESS_KEY", b.server->get("secret_key").c_str(), 1);
      b.remote = make_remote("s3://" + b.server->get("bucket") + "/team?endpoint=" + b.server->url(), options);
      unsetenv("AWS_ACCESS_KEY_ID");
      unsetenv("AWS_SECRET_ACCESS_KEY");
    }
  } else if (name == "bazel-remote") {
    b.server = TestServer::start("bazel-remote", {}, &b.skip_reason);
    if (b.server) b.remote = make_remote(b.server->url(), options);
  }
  return b;
}

class RemoteServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = start_backend(GetParam());
    if (!backend_.remote) GTEST_SKIP() << "SKIPPED: " << backend_.skip_reason;
  }
  Remote& remote() { return *backend_.remote; }
  Backend backend_;
};

TEST_P(RemoteServerTest, StoredBytesComeBack) {
  const std::string key = ac_key();
  const std::string bytes = random_bytes(3000, 1);
  ASSERT_TRUE(remote().store_bytes(key, bytes).ok());
  std::string fetched;
  ASSERT_TRUE(fetch_all(remote(), key, &fetched).ok());
  EXPECT_EQ(fetched, bytes);
}

TEST_P(RemoteServerTest, MissingKeyIsNotFound) {
  std::string fetched;
  EXPECT_EQ(fetch_all(remote(), ac_key(), &fetched).status, RemoteResult::kNotFound);
  EXPECT_EQ(fetched, "");
}

TEST_P(RemoteServerTest, CompressedObjectComesBackWhole) {
  // A 2 MiB object that compresses: stored as zstd, read back through
  // CasDecoder as the object.
  TempDir dir;
  std::string object;
  for (int i = 0; object.size() < (2u << 20); ++i) object += "line " + std::to_string(i % 977) + " of an object\n";
  write_file(dir / "object", object);
  const CasUpload upload(dir / "object", object.size(), dir.path());
  ASSERT_TRUE(upload.encoding().zstd);
  const std::string key = cas_key(object);
  ASSERT_TRUE(remote().store_file(key, upload.file(), upload.encoding()).ok());
  std::string decoded;
  CasDecoder decoder([&](const char* data, std::size_t size) {
    decoded.append(data, size);
    return true;
  });
  std::uint64_t on_the_wire = 0;
  ASSERT_TRUE(remote()
                  .fetch(key,
                         [&](const char* data, std::size_t size) {
                           on_the_wire += size;
                           return decoder.feed(data, size);
                         })
                  .ok());
  ASSERT_TRUE(decoder.finish());
  EXPECT_EQ(decoded, object);
  EXPECT_LT(on_the_wire, object.size() / 4) << "the object crossed the wire uncompressed";
}

TEST_P(RemoteServerTest, RangeReadsReturnExactlyTheRange) {
  const std::string bytes = random_bytes(100000, 2);
  const std::string key = cas_key(bytes);
  ASSERT_TRUE(remote().store_bytes(key, bytes).ok());
  for (const ByteRange range : {ByteRange{0, 10}, ByteRange{12345, 4096}, ByteRange{99990, 100}}) {
    std::string got;
    ASSERT_TRUE(remote()
                    .fetch_range(key, range,
                                 [&](const char* data, std::size_t size) {
                                   got.append(data, size);
                                   return true;
                                 })
                    .ok());
    EXPECT_EQ(got, bytes.substr(range.offset, range.length)) << range.offset;
  }
}

// The lazy mount's proof that an object is there: HEAD, no body on the wire
// (bazel-remote ignores Range, so a 1-byte range read would send it whole).
TEST_P(RemoteServerTest, ExistsAnswersWithoutTheBody) {
  const std::string bytes = random_bytes(100000, 4);
  const std::string key = cas_key(bytes);
  ASSERT_TRUE(remote().store_bytes(key, bytes).ok());
  const RemoteResult there = remote().exists(key);
  EXPECT_TRUE(there.ok()) << there.error;
  // Its length, which the lazy mount compares with the record's.
  EXPECT_EQ(there.length, bytes.size());
  EXPECT_EQ(remote().exists(cas_key(random_bytes(10, 5))).status, RemoteResult::kNotFound);
}

TEST_P(RemoteServerTest, OverwriteReplacesTheEntry) {
  const std::string key = ac_key();
  ASSERT_TRUE(remote().store_bytes(key, "first").ok());
  ASSERT_TRUE(remote().store_bytes(key, "second version").ok());
  std::string fetched;
  ASSERT_TRUE(fetch_all(remote(), key, &fetched).ok());
  EXPECT_EQ(fetched, "second version");
}

TEST_P(RemoteServerTest, LargeFileUpload) {
  TempDir dir;
  const std::string bytes = random_bytes(8u << 20, 3);
  write_file(dir / "big", bytes);
  const std::string key = cas_key(bytes);
  ASSERT_TRUE(remote().store_file(key, dir / "big", StoredEncoding{}).ok());
  // The server may hand it back compressed (bazel-remote stores zstd).
  std::string fetched;
  CasDecoder decoder([&](const char* data, std::size_t size) {
    fetched.append(data, size);
    return true;
  });
  ASSERT_TRUE(remote().fetch(key, [&](const char* data, std::size_t size) { return decoder.feed(data, size); }).ok());
  ASSERT_TRUE(decoder.finish());
  EXPECT_TRUE(fetched == bytes);
}

INSTANTIATE_TEST_SUITE_P(Servers, RemoteServerTest,
                         ::testing::Values("nginx", "nginx-basic-auth", "minio", "bazel-remote"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::erase(name, '-');
                           return name;
                         });

TEST(RemoteCredentialsTest, WrongBasicAuthPasswordIsUnauthorized) {
  std::string why;
  auto server = TestServer::start("nginx", {"builder:right"}, &why);
  if (!server) GTEST_SKIP() << "SKIPPED: " << why;
  auto remote = make_remote("http://builder:wrong-password@" + server->url().substr(7), {});
  std::string fetched;
  const auto result = fetch_all(*remote, "ac/" + std::string(64, '0'), &fetched);
  EXPECT_EQ(result.status, RemoteResult::kUnauthorized);
  EXPECT_EQ(result.error.find("wrong-password"), std::string::npos) << result.error;
  EXPECT_EQ(remote->describe().find("wrong-password"), std::string::npos) << remote->describe();
  EXPECT_EQ(remote->store_bytes("ac/" + std::string(64, '0'), "x").status, RemoteResult::kUnauthorized);
}

TEST(RemoteCredentialsTest, BearerTokenFromOptionsOrAnExtraHeader) {
  std::string why;
  auto server = TestServer::start("nginx", {"bearer:team-token"}, &why);
  if (!server) GTEST_SKIP() << "SKIPPED: " << why;
  const std::string key = ac_key();
  auto with_token = make_remote(server->url(), RemoteOptions{.bearer_token = "team-token"});
  EXPECT_TRUE(with_token->store_bytes(key, "record").ok());
  auto with_header = make_remote(server->url(), RemoteOptions{.extra_headers = {"Authorization: Bearer team-token"}});
  std::string fetched;
  EXPECT_TRUE(fetch_all(*with_header, key, &fetched).ok());
  EXPECT_EQ(fetched, "record");
  auto wrong = make_remote(server->url(), RemoteOptions{.bearer_token = "stale-token"});
  const auto result = fetch_all(*wrong, key, &fetched);
  EXPECT_EQ(result.status, RemoteResult::kUnauthorized);
  EXPECT_EQ(result.error.find("stale-token"), std::string::npos) << result.error;
}

TEST(RemoteCredentialsTest, WrongS3SecretIsUnauthorized) {
  std::string why;
  auto server = TestServer::start("minio", {}, &why);
  if (!server) GTEST_SKIP() << "SKIPPED: " << why;
  setenv("AWS_ACCESS_KEY_ID", server->get("access_key").c_str(), 1);
  setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key", 1);
  auto remote = make_remote("s3://" + server->get("bucket") + "?endpoint=" + server->url(), {});
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  const auto result = remote->store_bytes("ac/" + std::string(64, '1'), "x");
  EXPECT_EQ(result.status, RemoteResult::kUnauthorized);
  EXPECT_EQ(result.error.find("not-the-secret-key"), std::string::npos) << result.error;
}

// nginx as a recipe that forgets client_max_body_size: 1 MiB at most.
TEST(RemoteRefusalTest, NginxDefaultBodyLimitRefusesLargeUploadsForGood) {
  std::string why;
  auto server = TestServer::start("nginx-default-limit", {}, &why);
  if (!server) GTEST_SKIP() << "SKIPPED: " << why;
  auto remote = make_remote(server->url() + "/team", {});
  TempDir dir;
  const std::string large = random_bytes(2u << 20, 7);
  write_file(dir / "large", large);
  const RemoteResult refused = remote->store_file(cas_key(large), dir / "large", StoredEncoding{});
  EXPECT_EQ(refused.status, RemoteResult::kRejected) << refused.error;
  EXPECT_NE(refused.error.find("413"), std::string::npos) << refused.error;
  EXPECT_NE(refused.error.find("client_max_body_size"), std::string::npos) << refused.error;
  const std::string small = random_bytes(100000, 8);
  EXPECT_TRUE(remote->store_bytes(cas_key(small), small).ok()) << "smaller objects still go";
}

// Temporary keys from MinIO's STS whose session policy grants GetObject and
// PutObject under team/ only, without ListBucket. AWS S3 then answers a key
// that does not exist with 403 AccessDenied; MinIO answers 404 for a missing
// key it may read, and 403 AccessDenied where the policy does not let it
// read: a remote under another prefix gets what AWS sends for a miss.
class S3LeastPrivilegeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    minio_ = TestServer::start("minio", {}, &why);
    if (!minio_) GTEST_SKIP() << "SKIPPED: " << why;
    keys_ = keys_allowed(R"("s3:GetObject","s3:PutObject")");
    ASSERT_FALSE(keys_.access_key_id.empty());
  }
  // Temporary keys that may do `actions` (JSON strings) on team/*.
  AwsCredentials keys_allowed(const std::string& actions) {
    const std::string policy = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
                               R"("Action":[)" + actions + R"(],"Resource":["arn:aws:s3:::)" +
                               minio_->get("bucket") + R"(/team/*"]}]})";
    const auto answer = run_command({"curl", "-sS", "--max-time", "10", "--aws-sigv4", "aws:amz:us-east-1:sts",
                                     "--user", minio_->get("access_key") + ":" + minio_->get("secret_key"), "-d",
                                     "Action=AssumeRole&Version=2011-06-15&DurationSeconds=900", "--data-urlencode",
                                     "Policy=" + policy, minio_->url() + "/"});
    AwsCredentials keys = parse_sts_credentials(answer.out);
    EXPECT_FALSE(keys.access_key_id.empty()) << answer.out << answer.err;
    return keys;
  }
  std::unique_ptr<Remote> remote_with(const std::string& secret, const std::string& prefix = "team") {
    return remote_with_keys({keys_.access_key_id, secret, keys_.session_token}, prefix);
  }
  std::unique_ptr<Remote> remote_with_keys(const AwsCredentials& keys, const std::string& prefix = "team") {
    setenv("AWS_ACCESS_KEY_ID", keys.access_key_id.c_str(), 1);
    setenv("AWS_SECRET_ACCESS_KEY", keys.secret_access_key.c_str(), 1);
    setenv("AWS_SESSION_TOKEN", keys.session_token.c_str(), 1);
    auto remote = make_remote("s3://" + minio_->get("bucket") + "/" + prefix + "?endpoint=" + minio_->url(), {});
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    return remote;
  }
  // A signed GET with the temporary keys, as curl sees it.
  std::string raw_get(const std::string& path) {
    return run_command({"curl", "-sS", "--max-time", "10", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user",
                        keys_.access_key_id + ":" + keys_.secret_access_key, "-H",
                        "x-amz-security-token: " + keys_.session_token, "-w", "\nHTTP %{http_code}",
                        minio_->url() + "/" + minio_->get("bucket") + "/" + path})
        .out;
  }
  std::unique_ptr<TestServer> minio_;
  AwsCredentials keys_;
};

TEST_F(S3LeastPrivilegeTest, AMissingKeyIsAMissNotRefusedCredentials) {
  const std::string missing = ac_key();
  // What AWS answers for a missing key without ListBucket, from MinIO.
  const std::string raw = raw_get("elsewhere/" + missing);
  ASSERT_NE(raw.find("HTTP 403"), std::string::npos) << raw;
  ASSERT_NE(raw.find("<Code>AccessDenied</Code>"), std::string::npos) << raw;

  for (const std::string prefix : {"elsewhere", "team"}) {
    auto remote = remote_with(keys_.secret_access_key, prefix);
    RemoteHealth health(remote->describe());
    for (int i = 0; i < 2 * CircuitBreaker::kTripAfter; ++i) {
      std::string fetched;
      const RemoteResult get = fetch_all(*remote, missing, &fetched);
      EXPECT_EQ(get.status, RemoteResult::kNotFound) << prefix << ": " << get.error;
      const RemoteResult head = remote->exists(missing);
      EXPECT_EQ(head.status, RemoteResult::kNotFound) << prefix << ": " << head.error;
      for (const RemoteResult& r : {get, head}) {
        if (r.status != RemoteResult::kNotFound) health.failed(r);  // as the fetcher and the lazy mount do
      }
    }
    EXPECT_TRUE(health.allow()) << prefix << ": misses tripped the breaker";
  }
  // What exists is found, by GET and by HEAD, with these keys.
  auto remote = remote_with(keys_.secret_access_key);
  const std::string key = ac_key();
  ASSERT_TRUE(remote->store_bytes(key, "a record").ok());
  std::string fetched;
  EXPECT_TRUE(fetch_all(*remote, key, &fetched).ok());
  EXPECT_EQ(fetched, "a record");
  EXPECT_TRUE(remote->exists(key).ok());
}

TEST_F(S3LeastPrivilegeTest, AWrongSecretIsStillRefusedCredentials) {
  auto remote = remote_with("not-the-secret-key");
  std::string fetched;
  const RemoteResult get = fetch_all(*remote, ac_key(), &fetched);
  EXPECT_EQ(get.status, RemoteResult::kUnauthorized) << get.error;
  EXPECT_NE(get.error.find("SignatureDoesNotMatch"), std::string::npos) << get.error;
  const RemoteResult head = remote->exists(ac_key());
  EXPECT_EQ(head.status, RemoteResult::kUnauthorized) << head.error;
  EXPECT_EQ(remote->store_bytes(ac_key(), "x").status, RemoteResult::kUnauthorized);
  for (const auto& error : {get.error, head.error, remote->describe()}) {
    EXPECT_EQ(error.find("not-the-secret-key"), std::string::npos) << error;
    EXPECT_EQ(error.find(minio_->url() + "/" + minio_->get("bucket") + "/team/ac"), std::string::npos)
        << "an S3 message shows the raw URL: " << error;
  }
}

// Keys that may read and not write (s3:GetObject only) and no read-only
// setting: each upload is refused for good with the likely cause, and the
// remote is not given up on, reads included.
TEST_F(S3LeastPrivilegeTest, AnUploadDeniedIsRefusedForGoodAndReadsGoOn) {
  const std::string key = ac_key();
  ASSERT_TRUE(remote_with(keys_.secret_access_key)->store_bytes(key, "a record").ok());
  auto remote = remote_with_keys(keys_allowed(R"("s3:GetObject")"));
  RemoteHealth health(remote->describe());
  for (int i = 0; i < 2 * CircuitBreaker::kTripAfter; ++i) {
    ASSERT_TRUE(health.allow()) << "upload " << i << ": the breaker opened";
    const RemoteResult put = remote->store_bytes(ac_key(), "an upload");
    EXPECT_EQ(put.status, RemoteResult::kRejected) << put.error;
    EXPECT_NE(put.error.find("AccessDenied"), std::string::npos) << put.error;
    EXPECT_NE(put.error.find("s3:PutObject"), std::string::npos) << put.error;
    EXPECT_NE(put.error.find("GOCACHEFS_REMOTE_READ_ONLY"), std::string::npos) << put.error;
    // As the uploader settles it.
    if (put.status == RemoteResult::kRejected) {
      health.succeeded();
    } else {
      health.failed(put);
    }
  }
  EXPECT_TRUE(health.allow()) << "uploads denied disabled the remote";
  std::string fetched;
  EXPECT_TRUE(fetch_all(*remote, key, &fetched).ok());
  EXPECT_EQ(fetched, "a record");
}

// What the log says: reads answered AccessDenied are misses, said once
// however many there are (a policy without s3:GetObject must not be
// silent forever, nor fill the log).
TEST_F(S3LeastPrivilegeTest, ReadsDeniedAreMissesSaidOnceInTheLog) {
  const std::string key = ac_key();
  auto writer = remote_with_keys(keys_allowed(R"("s3:PutObject")"));
  ASSERT_TRUE(writer->store_bytes(key, "a record").ok());
  std::ostringstream log;
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  for (int i = 0; i < 5; ++i) {
    std::string fetched;
    EXPECT_EQ(fetch_all(*writer, key, &fetched).status, RemoteResult::kNotFound);
    EXPECT_EQ(writer->exists(key).status, RemoteResult::kNotFound);
  }
  spdlog::set_default_logger(previous);
  const std::string said = log.str();
  const std::string line = "S3 answers AccessDenied to reads";
  const auto first = said.find(line);
  ASSERT_NE(first, std::string::npos) << said;
  EXPECT_EQ(said.find(line, first + 1), std::string::npos) << "said more than once:\n" << said;
  EXPECT_NE(said.find("s3:GetObject"), std::string::npos) << said;
}

TEST(RemoteDownTest, ServerThatIsDownFailsFast) {
  // A port nothing listens on.
  std::string why;
  auto server = TestServer::start("nginx", {}, &why);
  if (!server) GTEST_SKIP() << "SKIPPED: " << why;
  const std::string url = server->url();
  server->stop();
  auto remote = make_remote(url, {});
  std::string fetched;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(fetch_all(*remote, "ac/" + std::string(64, '2'), &fetched).status, RemoteResult::kFailed);
  EXPECT_EQ(remote->store_bytes("ac/" + std::string(64, '2'), "x").status, RemoteResult::kFailed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

class RemoteFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    nginx_ = TestServer::start("nginx", {}, &why);
    if (nginx_) proxy_ = TestServer::start("fault", {nginx_->url()}, &why);
    if (!proxy_) GTEST_SKIP() << "SKIPPED: " << why;
    remote_ = make_remote(proxy_->url(), RemoteOptions{.request_timeout_ms = 3000});
    ASSERT_TRUE(remote_->store_bytes(key_, bytes_).ok());
  }
  RemoteResult fetch_with(const std::string& mode, std::string* fetched) {
    proxy_->set_fault(mode);
    return fetch_all(*remote_, key_, fetched);
  }
  std::unique_ptr<TestServer> nginx_, proxy_;
  std::unique_ptr<Remote> remote_;
  const std::string bytes_ = random_bytes(200000, 4);
  const std::string key_ = cas_key(bytes_);
};

TEST_F(RemoteFaultTest, ServerErrorsFail) {
  std::string fetched;
  EXPECT_EQ(fetch_with("error500", &fetched).status, RemoteResult::kFailed);
  EXPECT_EQ(remote_->store_bytes(key_, "x").status, RemoteResult::kFailed);
}

TEST_F(RemoteFaultTest, HungServerTimesOut) {
  std::string fetched;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(fetch_with("hang", &fetched).status, RemoteResult::kFailed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

TEST_F(RemoteFaultTest, TruncatedBodyFails) {
  std::string fetched;
  EXPECT_EQ(fetch_with("truncate", &fetched).status, RemoteResult::kFailed);
}

TEST_F(RemoteFaultTest, ClosedConnectionFails) {
  std::string fetched;
  EXPECT_EQ(fetch_with("reset", &fetched).status, RemoteResult::kFailed);
}

// A range answer must be the range: never more bytes than asked reach the
// sink, and a 206 for another range is a failure.
// A 206 for another range fails; one longer than its Content-Range gives
// the range and no byte beyond it (a server that ignores Range is read so
// too).
TEST_F(RemoteFaultTest, RangeAnswersAreCheckedAgainstTheRange) {
  const ByteRange range{1000, 4096};
  const auto fetch = [&](std::string* got) {
    return remote_->fetch_range(key_, range, [got](const char* data, std::size_t size) {
      got->append(data, size);
      return true;
    });
  };
  proxy_->set_fault("range_shifted");
  std::string shifted;
  const RemoteResult result = fetch(&shifted);
  EXPECT_EQ(result.status, RemoteResult::kFailed) << result.error;
  EXPECT_NE(result.error.find("206"), std::string::npos) << result.error;
  EXPECT_EQ(shifted, "") << "bytes of another range reached the sink";
  for (const std::string mode : {"range_long", "pass"}) {
    proxy_->set_fault(mode);
    std::string got;
    ASSERT_TRUE(fetch(&got).ok()) << mode;
    EXPECT_TRUE(got == bytes_.substr(range.offset, range.length)) << mode << ": " << got.size() << " bytes";
  }
  proxy_->set_fault("pass");
}

// A sink that throws (our disk failed) stops the fetch as a local error,
// which is not the remote's fault; the exception never crosses libcurl.
TEST_F(RemoteFaultTest, ASinkThatThrowsIsALocalError) {
  proxy_->set_fault("pass");
  const RemoteResult result = remote_->fetch(key_, [](const char*, std::size_t) -> bool {
    throw std::runtime_error("injected: No space left on device");
  });
  EXPECT_EQ(result.status, RemoteResult::kLocalError) << result.error;
  EXPECT_NE(result.error.find("No space left"), std::string::npos) << result.error;
  std::string fetched;
  EXPECT_TRUE(fetch_all(*remote_, key_, &fetched).ok()) << "the connection is still usable";
}

TEST_F(RemoteFaultTest, PassingThroughWorks) {
  std::string fetched;
  ASSERT_TRUE(fetch_with("pass", &fetched).ok());
  EXPECT_TRUE(fetched == bytes_);
}

}  // namespace
}  // namespace gocachefs::testing
