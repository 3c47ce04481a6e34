// Each Remote backend against a real server: nginx with WebDAV (plain and
// with basic auth), MinIO (S3, signatures checked), bazel-remote, and a
// fault-injecting proxy in front of nginx. Servers come from
// scripts/test_server.sh on free loopback ports.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>

#include "store/remote/cas_encoding.h"
#include "store/remote/remote.h"
#include "store/sha256.h"
#include "tests/support/test_server.h"

namespace gocachefs::testing {
namespace {

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 random(seed);
  std::string bytes(n, '\0');
  for (auto& c : bytes) c = static_cast<char>(random());
  return bytes;
}

RemoteResult fetch_all(Remote& remote, const std::string& key, std::string* out) {
  out->clear();
  return remote.fetch(key, [&](const char* data, std::size_t size) {
    out->append(data, size);
    return true;
  });
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

TEST_F(RemoteFaultTest, PassingThroughWorks) {
  std::string fetched;
  ASSERT_TRUE(fetch_with("pass", &fetched).ok());
  EXPECT_TRUE(fetched == bytes_);
}

}  // namespace
}  // namespace gocachefs::testing
