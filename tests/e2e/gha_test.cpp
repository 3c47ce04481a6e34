// End to end: the GitHub Actions cache as the remote (gha://), with the real
// go command and the project's emulator of the service
// (tests/gha_emulator/). A job on main saves its packs; a pull request's job
// on another machine starts from main's, compiling nothing; a burst of
// uploads past the service's rate limit leaves every build green.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <regex>

#include "tests/e2e/machine.h"
#include "tests/support/go_output.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_server.h"

namespace gocachefs::testing {
namespace {

nlohmann::json emulator_stats(const TestServer& server) {
  return nlohmann::json::parse(run_command({"curl", "-sf", server.url() + "/_emulator/stats"}).out);
}

// What GitHub gives a job (the two variables through scripts/github-action),
// on a branch; `pull_request_into` makes it a pull request's.
class GithubJob {
 public:
  GithubJob(const TestServer& server, const std::string& branch, const std::string& pull_request_into = "") {
    write_file(event_.path() + "/event.json", R"({"repository": {"default_branch": "main"}})");
    env_ = {{"ACTIONS_RESULTS_URL", server.url()},
            {"ACTIONS_RUNTIME_TOKEN", server.get("token")},
            {"GITHUB_ACTIONS", "true"},
            {"GITHUB_EVENT_PATH", event_.path() + "/event.json"},
            {"CI", "true"},
            {"GOCACHEFS_PACKS", "auto"}};
    if (pull_request_into.empty()) {
      env_["GITHUB_REF_NAME"] = branch;
    } else {
      env_["GITHUB_REF_NAME"] = "7/merge";
      env_["GITHUB_HEAD_REF"] = branch;
      env_["GITHUB_BASE_REF"] = pull_request_into;
    }
  }
  Environment env(const std::string& lazy) const {
    Environment e = env_;
    e["GOCACHEFS_LAZY"] = lazy;
    e["GOCACHEFS_DAEMON_IDLE"] = "60";
    return e;
  }

 private:
  TempDir event_;
  Environment env_;
};

class GhaJobTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GhaJobTest, APullRequestStartsFromMainsPackCompilingNothing) {
  const std::string lazy = GetParam();
  if (lazy == "on" && !fuse_usable()) GTEST_SKIP() << "SKIPPED: no usable /dev/fuse or fusermount3 here";
  std::string why;
  const auto server = TestServer::start("gha", {}, &why);
  if (!server) GTEST_SKIP() << "SKIPPED: " << why;

  // Job 1, on main: builds and tests from nothing, saves its packs.
  const GithubJob on_main(*server, "main");
  const Machine first("gha://");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"build", "./..."}, {"test", "./..."}}) {
    const auto r = first.go(args, SAMPLE_MODULE_DIR, on_main.env("off"));
    expect_success(r, "job 1: go " + args[0]);
    EXPECT_EQ(gocachefs_lines(r.err), 0) << r.err;
  }
  const auto saved = emulator_stats(*server);
  EXPECT_GE(saved["entries"].get<int>(), 2) << "a pack and its pointer: " << saved.dump();
  EXPECT_LE(saved["create_calls"].get<int>(), 4) << "a few entries per job, never one per object: " << saved.dump();

  // Job 2, a pull request from "feature" into main, on an empty machine.
  const GithubJob pull_request(*server, "feature", "main");
  const Machine second("gha://");
  const auto build = second.go({"build", "-x", "./..."}, SAMPLE_MODULE_DIR, pull_request.env(lazy));
  expect_success(build, "job 2: go build -x ./...");
  EXPECT_EQ(compiles(build.err), std::vector<std::string>{});
  const auto test = second.go({"test", "./..."}, SAMPLE_MODULE_DIR, pull_request.env(lazy));
  expect_success(test, "job 2: go test ./...");
  const TestSummary summary = summarize_tests(test.out);
  EXPECT_GE(summary.passed, 4) << test.out;
  EXPECT_EQ(summary.cached, summary.passed) << test.out;
  const auto after = emulator_stats(*server);
  const int lookups = after["lookup_calls"].get<int>() - saved["lookup_calls"].get<int>();
  const int downloads = after["blob_get_requests"].get<int>() - saved["blob_get_requests"].get<int>();
  const std::string stats = run_command({GOCACHEFS_BINARY, "stats", "--dir", second.store()}).out;
  std::printf("[ figures  ] lazy=%s: job 2 made %d lookups and %d blob downloads\n%s", lazy.c_str(), lookups,
              downloads, stats.c_str());
  // Per go command: the feature key's pointer (none), main's, its packs.
  EXPECT_LE(lookups, 12) << after.dump();
  EXPECT_LE(downloads, 10) << after.dump();
  EXPECT_NE(stats.find("actions warmed"), std::string::npos) << stats;
  run_command({GOCACHEFS_BINARY, "stop", "--dir", second.store()});
  second.expect_only_verified_objects();
  EXPECT_EQ(second.log().find("holds packs only"), std::string::npos) << "nothing asked per action";
}

INSTANTIATE_TEST_SUITE_P(Eager, GhaJobTest, ::testing::Values("off"));
INSTANTIATE_TEST_SUITE_P(Lazy, GhaJobTest, ::testing::Values("on"));

// Through the lazy mount, a job's pack carries what its tools did not read
// beyond the head last, cold; the next job's stream stops before those,
// and a tool that does read one (the linker) gets it by a range request.
TEST(GhaTest, WhatAJobLeftColdIsReadByRangeWhenATooWantsIt) {
  if (!fuse_usable()) GTEST_SKIP() << "SKIPPED: no usable /dev/fuse or fusermount3 here";
  std::string why;
  const auto server = TestServer::start("gha", {}, &why);
  if (!server) GTEST_SKIP() << "SKIPPED: " << why;
  // The library packages only: nothing is linked, so a cached build reads
  // only heads (cmd/go checks build IDs).
  const std::vector<std::string> build_libraries = {"build", "./internal/..."};
  const GithubJob on_main(*server, "main");
  {
    const Machine cold_job("gha://");  // compiles everything, packs every body
    expect_success(cold_job.go(build_libraries, SAMPLE_MODULE_DIR, on_main.env("off")), "job 1");
  }
  {
    // Reads no body: rewrites the pack with them cold, at the close of its
    // second go command (at the first, the stream that stores the bodies
    // may still run: the pack then stays as it is).
    const Machine lazy_job("gha://");
    expect_success(lazy_job.go(build_libraries, SAMPLE_MODULE_DIR, on_main.env("on")), "job 2");
    expect_success(lazy_job.go(build_libraries, SAMPLE_MODULE_DIR, on_main.env("on")), "job 2, again");
    run_command({GOCACHEFS_BINARY, "stop", "--dir", lazy_job.store()});
    EXPECT_NE(lazy_job.log().find("packs: wrote pack"), std::string::npos) << lazy_job.log();
  }
  const Machine m("gha://");
  const auto before = emulator_stats(*server);
  expect_success(m.go(build_libraries, SAMPLE_MODULE_DIR, on_main.env("on")), "job 3: go build ./internal/...");
  const TempDir out;
  const auto linked = m.go({"build", "-o", out.path() + "/", "./cmd/sample"}, SAMPLE_MODULE_DIR, on_main.env("on"));
  expect_success(linked, "job 3: go build -o (the linker reads whole archives)");
  EXPECT_EQ(run_command({out.path() + "/sample"}).exit_code, 0) << "the binary linked from range reads runs";
  run_command({GOCACHEFS_BINARY, "stop", "--dir", m.store()});
  const std::string log = m.log();
  EXPECT_NE(log.find("read up to its cold bodies"), std::string::npos) << log;
  const std::string stats = run_command({GOCACHEFS_BINARY, "stats", "--dir", m.store()}).out;
  std::smatch apart;
  ASSERT_TRUE(std::regex_search(stats, apart, std::regex(R"((\d+) fetched ahead of their stream)"))) << stats;
  EXPECT_GT(std::stol(apart[1].str()), 0) << "cold bodies read by range: " << stats;
  const auto after = emulator_stats(*server);
  std::printf("[ figures  ] job 3: %lld bytes downloaded in %d blob requests\n",
              after["bytes_downloaded"].get<long long>() - before["bytes_downloaded"].get<long long>(),
              after["blob_get_requests"].get<int>() - before["blob_get_requests"].get<int>());
  m.expect_only_verified_objects();
}

// The service takes 200 uploads a minute per repository; here 1. Jobs past
// it lose their packs, never their builds, and say so in one line.
TEST(GhaTest, UploadsPastTheRateLimitLeaveEveryBuildGreen) {
  std::string why;
  const auto server = TestServer::start("gha", {"1"}, &why);
  if (!server) GTEST_SKIP() << "SKIPPED: " << why;
  int said = 0;
  for (const std::string branch : {"main", "a", "b"}) {
    const GithubJob job(*server, branch);
    const Machine m("gha://");
    int job_said = 0;
    for (const std::vector<std::string>& args : {std::vector<std::string>{"build", "./..."}, {"test", "./..."}}) {
      const auto r = m.go(args, SAMPLE_MODULE_DIR, job.env("off"));
      expect_success(r, "go " + args[0] + " on " + branch);
      for (const auto& line : lines_of(r.err)) {
        if (!line.starts_with("gocachefs:")) continue;
        ++job_said;
        EXPECT_NE(line.find("rate limit"), std::string::npos) << line;
        EXPECT_NE(line.find("the build is not affected"), std::string::npos) << line;
      }
    }
    EXPECT_LE(job_said, 1) << "once a job, however many of its go commands lose their packs";
    said += job_said;
  }
  EXPECT_GE(said, 2) << "the jobs past the limit say so";
  EXPECT_GE(emulator_stats(*server)["rate_limited"].get<int>(), 2);
}

// Outside an action the variables are missing: the build goes on locally,
// and the one line says where to get them.
TEST(GhaTest, WithoutTheVariablesTheBuildGoesOnAndSaysWhy) {
  const Machine m("gha://");
  const auto r = m.go({"build", "./..."}, SAMPLE_MODULE_DIR,
                      {{"ACTIONS_RESULTS_URL", ""}, {"ACTIONS_RUNTIME_TOKEN", ""}, {"GOCACHEFS_PACKS", "auto"}});
  expect_success(r, "go build ./...");
  EXPECT_EQ(gocachefs_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("scripts/github-action"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gocachefs::testing
