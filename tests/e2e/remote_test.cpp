// End to end with a remote: the real go command, gocachefs and real servers.
// A "machine" is an empty local store plus an empty GOCACHE; machines share
// only the remote.
//
// - Every backend: a first machine builds `std` and builds and tests the
//   sample module; a second finds every action in the remote.
// - Faults (nginx behind scripts/fault_proxy.py): down, killed mid-build,
//   500s, hangs, truncated, corrupted and garbage bodies, wrong credentials.
//   The go command always succeeds, the store holds only verified objects,
//   and uploads that could not be sent are sent by a later run.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <regex>
#include <thread>

#include "store/ids.h"
#include "store/sha256.h"
#include "tests/support/go_output.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_server.h"
#include "tests/e2e/machine.h"

namespace gocachefs::testing {
namespace {

namespace fs = std::filesystem;

// First machine: the sample module built and tested; optionally std built.
void fill(const Machine& m, bool with_std) {
  expect_success(m.go({"build", "./..."}), "go build ./...");
  expect_success(m.go({"test", "./..."}), "go test ./...");
  if (with_std) expect_success(m.go({"build", "std"}, goroot_src()), "go build std");
}

// Second machine: nothing to compile, tests cached.
void expect_all_from_remote(const Machine& m, bool with_std) {
  const auto libraries = m.go({"build", "-x", "./internal/..."});
  expect_success(libraries, "go build -x ./internal/...");
  EXPECT_EQ(build_actions(libraries.err), std::vector<std::string>{});
  const auto test = m.go({"test", "./..."});
  expect_success(test, "go test ./...");
  const TestSummary summary = summarize_tests(test.out);
  EXPECT_GE(summary.passed, 4) << test.out;
  EXPECT_EQ(summary.cached, summary.passed) << test.out;
  if (with_std) {
    const auto std_build = m.go({"build", "-x", "std"}, goroot_src());
    expect_success(std_build, "go build -x std");
    EXPECT_EQ(build_actions(std_build.err), std::vector<std::string>{});
  }
}

class RemoteBackendTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RemoteBackendTest, SecondMachineFindsEverythingInTheRemote) {
  std::string why;
  const Backend backend = start_backend(GetParam(), &why);
  if (backend.url.empty()) GTEST_SKIP() << "SKIPPED: " << why;
  const Machine first(backend.url, backend.env);
  fill(first, /*with_std=*/true);
  EXPECT_EQ(first.stats().queued, 0) << "close did not wait for the uploads";

  const Machine second(backend.url, backend.env);
  expect_all_from_remote(second, /*with_std=*/true);
  const StoreStats s = second.stats();
  EXPECT_GT(s.remote_hits, 0);
  std::printf("[ figures  ] %s: second machine %ld hits (%ld from the remote), %ld misses\n", GetParam().c_str(),
              s.hits, s.remote_hits, s.misses);
  second.expect_only_verified_objects();
}

INSTANTIATE_TEST_SUITE_P(Backends, RemoteBackendTest, ::testing::Values("file", "nginx", "minio", "bazel-remote"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::erase(name, '-');
                           return name;
                         });

// ---- Faults ----

TEST(RemoteFaultE2ETest, RemoteDownFromTheStartThenBack) {
  std::string why;
  auto nginx = TestServer::start("nginx", {}, &why);
  if (!nginx) GTEST_SKIP() << "SKIPPED: " << why;
  nginx->stop();  // its port now refuses connections
  Machine machine(nginx->url());
  const auto build = machine.go({"build", "./..."});
  expect_success(build, "go build with the remote down");
  EXPECT_LE(gocachefs_lines(build.err), 1) << build.err;
  expect_success(machine.go({"test", "./..."}), "go test with the remote down");
  EXPECT_GT(machine.stats().queued, 0);

  // The remote comes back: a later run sends what was queued.
  nginx->restart();
  machine.set_remote(nginx->url());
  const auto later = machine.go({"build", "./..."});
  expect_success(later, "go build with the remote back");
  EXPECT_EQ(gocachefs_lines(later.err), 0) << later.err;
  EXPECT_EQ(machine.stats().queued, 0);
  expect_all_from_remote(Machine(nginx->url()), false);
}

TEST(RemoteFaultE2ETest, RemoteKilledInTheMiddleOfABuild) {
  std::string why;
  auto nginx = TestServer::start("nginx", {}, &why);
  if (!nginx) GTEST_SKIP() << "SKIPPED: " << why;
  Machine machine(nginx->url());
  // Kill the server once the first uploads have arrived.
  std::thread killer([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (std::chrono::steady_clock::now() < deadline) {
      std::error_code ec;
      if (fs::exists(nginx->dir() + "/data/ac", ec)) {
        int entries = 0;
        for (auto it = fs::directory_iterator(nginx->dir() + "/data/ac", ec); it != fs::directory_iterator(); ++it) {
          ++entries;
        }
        if (entries >= 20) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    nginx->stop();
  });
  const auto build = machine.go({"build", "std"}, goroot_src());
  killer.join();
  expect_success(build, "go build std with the remote killed");
  EXPECT_LE(gocachefs_lines(build.err), 1) << build.err;
  EXPECT_GT(machine.stats().queued, 0) << "the remote was killed after the build";

  nginx->restart();
  machine.set_remote(nginx->url());
  expect_success(machine.go({"build", "std"}, goroot_src()), "a later go build");
  EXPECT_EQ(machine.stats().queued, 0);
  const Machine second(nginx->url());
  const auto std_build = second.go({"build", "-x", "std"}, goroot_src());
  expect_success(std_build, "go build -x std on a second machine");
  EXPECT_EQ(build_actions(std_build.err), std::vector<std::string>{});
}

// What `gocachefs stats --json` and the debug log say of a misbehaving remote.
void expect_remote_counted(const Machine& machine, const std::string& fault) {
  const auto stats = run_command({GOCACHEFS_BINARY, "stats", "--json", "--dir", machine.store()});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const auto remote = nlohmann::json::parse(stats.out)["remote"];
  EXPECT_GT(remote["requests"].get<long>(), 0) << stats.out;
  EXPECT_FALSE(remote["latency_ms_under"]["p50"].is_null()) << stats.out;
  if (fault == "error500" || fault == "reset") {
    EXPECT_GT(remote["failures"].get<long>(), 0) << stats.out;
  }
  if (fault == "hang") {
    EXPECT_GT(remote["timeouts"].get<long>(), 0) << stats.out;
  }
  // At debug, one line per request with its timing.
  EXPECT_TRUE(std::regex_search(machine.log(), std::regex(R"(remote (GET|HEAD|PUT)[^\n]* in [0-9.]+ ms)")))
      << "no request lines in the debug log";
}

// A remote filled by one machine, read by others through a misbehaving proxy.
class RemoteFetchFaultTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    std::string why;
    nginx_ = TestServer::start("nginx", {}, &why).release();
    if (!nginx_) return;
    proxy_ = TestServer::start("fault", {nginx_->url()}, &why).release();
    fill(Machine(nginx_->url()), false);
  }
  static void TearDownTestSuite() {
    delete proxy_;
    delete nginx_;
  }
  static TestServer* nginx_;
  static TestServer* proxy_;
};
TestServer* RemoteFetchFaultTest::nginx_ = nullptr;
TestServer* RemoteFetchFaultTest::proxy_ = nullptr;

TEST_P(RemoteFetchFaultTest, BuildSucceedsAndNothingCorruptIsKept) {
  if (!proxy_) GTEST_SKIP() << "SKIPPED: nginx or python3 missing";
  proxy_->set_fault(GetParam());
  Machine machine(proxy_->url(), {});
  const auto build = machine.go({"build", "./..."}, SAMPLE_MODULE_DIR,
                                {{"GOCACHEFS_UPLOAD_WAIT", "2"}, {"GOCACHEFS_LOG_LEVEL", "debug"}});
  expect_success(build, "go build through a " + GetParam() + " remote");
  EXPECT_LE(gocachefs_lines(build.err), 1) << build.err;
  const auto test = machine.go({"test", "./..."}, SAMPLE_MODULE_DIR, {{"GOCACHEFS_UPLOAD_WAIT", "2"}});
  expect_success(test, "go test through a " + GetParam() + " remote");
  machine.expect_only_verified_objects();
  if (GetParam() == "corrupt" || GetParam() == "garbage") {
    EXPECT_EQ(machine.stats().remote_hits, 0) << "bytes that failed verification were served";
  }
  expect_remote_counted(machine, GetParam());
  // Healed: the remote serves again, and puts that failed are sent.
  proxy_->set_fault("pass");
  expect_success(machine.go({"build", "./..."}), "go build after the remote healed");
  EXPECT_EQ(machine.stats().queued, 0);
}

INSTANTIATE_TEST_SUITE_P(Faults, RemoteFetchFaultTest,
                         ::testing::Values("error500", "hang", "truncate", "corrupt", "garbage", "reset"));

TEST(RemoteFaultE2ETest, WrongCredentialsSayOneClearThing) {
  std::string why;
  auto nginx = TestServer::start("nginx", {"ci:right-password"}, &why);
  if (!nginx) GTEST_SKIP() << "SKIPPED: " << why;
  const std::string host = nginx->url().substr(7);
  Machine machine("http://ci:wrong-password@" + host);
  const auto build = machine.go({"build", "./..."});
  expect_success(build, "go build with wrong credentials");
  EXPECT_EQ(gocachefs_lines(build.err), 1) << build.err;
  EXPECT_NE(build.err.find("refused the credentials"), std::string::npos) << build.err;
  EXPECT_EQ(build.err.find("wrong-password"), std::string::npos) << "the password leaked: " << build.err;
  EXPECT_EQ(machine.log().find("wrong-password"), std::string::npos) << "the password leaked into the log";
  EXPECT_GT(machine.stats().queued, 0);

  machine.set_remote("http://ci:right-password@" + host);
  expect_success(machine.go({"build", "./..."}), "go build with the right credentials");
  EXPECT_EQ(machine.stats().queued, 0);
}

}  // namespace
}  // namespace gocachefs::testing
