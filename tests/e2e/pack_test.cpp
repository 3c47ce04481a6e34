// End to end: warming through packs (src/warming/), with the real go command
// and real servers. A first machine runs a job with packs written; a second,
// empty one replays them: nothing compiled, in a handful of requests (counted
// by nginx), eagerly or through the lazy mount. A changed module replays what
// still matches; a damaged, truncated or missing pack costs misses, never a
// wrong byte; two jobs writing one key at once both succeed.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "src/warming/pack_keys.h"
#include "tests/e2e/machine.h"
#include "tests/support/go_output.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_server.h"

namespace gocachefs::testing {
namespace {

const Environment kWritePacks = {{"GOCACHEFS_PACKS", "on"}};
// A key the test can name (the automatic one includes the go command's version).
const char* const kKey = "sample-job";
const Environment kWriteKeyedPacks = {{"GOCACHEFS_PACKS", "on"}, {"GOCACHEFS_PACK_KEY", kKey}};
const Environment kReplayKeyedPacks = {{"GOCACHEFS_PACKS", "replay"}, {"GOCACHEFS_PACK_KEY", kKey}};

long counter(const std::string& text, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(text, m, std::regex(pattern)) ? std::stol(m[1].str()) : -1L;
}

std::vector<std::string> requests_logged(const TestServer& nginx) {
  return lines_of(read_file(nginx.dir() + "/access.log"));
}

long requests_served(const TestServer& nginx) { return static_cast<long>(requests_logged(nginx).size()); }

// The requests after the first `skip`, for a failure message.
std::string requests_after(const TestServer& nginx, long skip) {
  std::string text;
  const auto lines = requests_logged(nginx);
  for (std::size_t i = static_cast<std::size_t>(skip); i < lines.size(); ++i) text += lines[i] + "\n";
  return text;
}

// The sample module, copied so that a test may change it (action IDs depend
// on the directory, so both machines build the copy).
class ModuleCopy {
 public:
  ModuleCopy() { fs::copy(SAMPLE_MODULE_DIR, dir(), fs::copy_options::recursive); }
  std::string dir() const { return root_.path() + "/sample"; }

 private:
  TempDir root_;
};

// A job as CI runs it: build, then test, with packs written.
void run_job(const Machine& m, const std::string& module, const Environment& env = kWritePacks) {
  expect_success(m.go({"build", "./..."}, module, env), "go build ./...");
  expect_success(m.go({"test", "./..."}, module, env), "go test ./...");
}

// The same job on a machine that should find everything: no compile, tests cached.
void expect_job_all_cached(const Machine& m, const std::string& module, const Environment& env) {
  const auto build = m.go({"build", "-x", "./..."}, module, env);
  expect_success(build, "go build -x ./...");
  EXPECT_EQ(compiles(build.err), std::vector<std::string>{});
  const auto test = m.go({"test", "./..."}, module, env);
  expect_success(test, "go test ./...");
  const TestSummary summary = summarize_tests(test.out);
  EXPECT_GE(summary.passed, 4) << test.out;
  EXPECT_EQ(summary.cached, summary.passed) << test.out;
}

std::string stats_of(const Machine& m) { return run_command({GOCACHEFS_BINARY, "stats", "--dir", m.store()}).out; }

// The pack IDs the pointer of `key` names, read from a file:// remote.
std::vector<std::string> packs_named(const std::string& remote_dir, const std::string& key) {
  const auto pointer = decode_pack_pointer(read_file(remote_dir + "/" + pointer_remote_key(key)));
  std::vector<std::string> ids;
  if (pointer) {
    for (const auto& ref : pointer->packs) ids.push_back(to_hex(ref.id));
  }
  return ids;
}

class PackReplayTest : public ::testing::TestWithParam<std::string> {};

// nginx counts every request: the second machine's whole job must cost a
// handful, against hundreds one action at a time.
TEST_P(PackReplayTest, SecondMachineReplaysTheJobInAFewRequests) {
  const std::string lazy = GetParam();
  if (lazy == "on" && !fuse_usable()) GTEST_SKIP() << "SKIPPED: no usable /dev/fuse or fusermount3 here";
  std::string why;
  auto nginx = TestServer::start("nginx", {}, &why);
  if (!nginx) GTEST_SKIP() << "SKIPPED: " << why;
  const std::string url = nginx->url() + "/team-cache";
  const ModuleCopy module;
  const Machine first(url);
  run_job(first, module.dir());
  EXPECT_GT(counter(stats_of(first), R"(([\d.]+) \w*B of packs written)"), 0) << stats_of(first);

  // The same job, per action, for comparison.
  const Machine per_action(url);
  const long before_per_action = requests_served(*nginx);
  expect_job_all_cached(per_action, module.dir(), {{"GOCACHEFS_PACKS", "off"}, {"GOCACHEFS_LAZY", lazy}});
  const long per_action_requests = requests_served(*nginx) - before_per_action;

  const Machine second(url);
  const long before = requests_served(*nginx);
  const Environment env = {{"GOCACHEFS_PACKS", "on"}, {"GOCACHEFS_LAZY", lazy}, {"GOCACHEFS_DAEMON_IDLE", "60"}};
  expect_job_all_cached(second, module.dir(), env);
  const long requests = requests_served(*nginx) - before;
  const std::string stats = stats_of(second);
  std::printf("[ figures  ] lazy=%s: the job took %ld requests with packs, %ld per action\n%s", lazy.c_str(), requests,
              per_action_requests, stats.c_str());
  EXPECT_LE(requests, 12) << requests_after(*nginx, before);
  EXPECT_LT(requests * 10, per_action_requests);
  EXPECT_GT(counter(stats, R"((\d+) actions warmed)"), 0) << stats;
  if (lazy == "off") {
    EXPECT_NE(stats.find(" 0 B of packs written"), std::string::npos) << "the job used what the packs held";
    // Nor does it upload entries: cmd/go puts each link's output text after
    // the link, cached or not, and the packs brought those same entries. (The
    // pointer may be rewritten once: the cold job journalled more actions.)
    const auto puts_an_entry = [&](const std::string& line) {
      std::smatch put;
      if (!std::regex_search(line, put, std::regex(R"("PUT /team-cache/(\S+) )"))) return false;
      return !decode_pack_pointer(read_file(nginx->dir() + "/data/team-cache/" + put[1].str()));
    };
    const auto lines = requests_logged(*nginx);
    EXPECT_EQ(std::count_if(lines.begin() + before, lines.end(), puts_an_entry), 0) << requests_after(*nginx, before);
  }  // through the mount, the job may rewrite the cold job's pack with heads only (see below)
  run_command({GOCACHEFS_BINARY, "stop", "--dir", second.store()});
  second.expect_only_verified_objects();
}

INSTANTIATE_TEST_SUITE_P(Modes, PackReplayTest, ::testing::Values("off", "on"),
                         [](const auto& info) { return info.param == "on" ? std::string("Lazy") : "Eager"; });

// A pack written by a cold job carries every body. The next job, through
// the lazy mount, sees which objects are read beyond their head: its pack
// carries only the heads of the others, and the job after it fetches less.
TEST(PackE2ETest, ALazyJobRewritesThePackWithTheHeadsOfWhatNobodyRead) {
  if (!fuse_usable()) GTEST_SKIP() << "SKIPPED: no usable /dev/fuse or fusermount3 here";
  const TempDir remote;
  const std::string url = "file://" + remote.path();
  const ModuleCopy module;
  run_job(Machine(url), module.dir(), kWriteKeyedPacks);  // cold: every body
  const auto cold = packs_named(remote.path(), kKey);

  Environment lazy = kWriteKeyedPacks;
  lazy["GOCACHEFS_LAZY"] = "on";
  lazy["GOCACHEFS_DAEMON_IDLE"] = "60";
  const Machine second(url), third(url);
  expect_job_all_cached(second, module.dir(), lazy);
  const auto refined = packs_named(remote.path(), kKey);
  EXPECT_NE(refined, cold) << "the second job rewrote the pack";
  expect_job_all_cached(third, module.dir(), lazy);
  const long second_bytes = counter(stats_of(second), R"(([\d.]+) KiB of packs fetched)");
  const std::string third_stats = stats_of(third);
  std::printf("[ figures  ] packs fetched: cold %s, refined %s\n",
              std::regex_replace(stats_of(second), std::regex(R"([\s\S]*packs:\s+)"), "").c_str(),
              std::regex_replace(third_stats, std::regex(R"([\s\S]*packs:\s+)"), "").c_str());
  EXPECT_EQ(packs_named(remote.path(), kKey), refined) << "the third job used what the pack held: nothing to write";
  (void)second_bytes;
  for (const auto* m : {&second, &third}) {
    run_command({GOCACHEFS_BINARY, "stop", "--dir", m->store()});
    m->expect_only_verified_objects();
  }
}

// Where FUSE cannot be had (a container), --lazy=auto fetches eagerly, and
// the packs are replayed in the go command's own gocachefs.
TEST(PackE2ETest, WithoutFuseThePacksAreReplayedEagerly) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIP: hiding /dev/fuse needs a mount namespace of our own (root)";
  const TempDir remote;
  const std::string url = "file://" + remote.path();
  const ModuleCopy module;
  run_job(Machine(url), module.dir(), kWriteKeyedPacks);
  const Machine second(url);
  Environment env = kReplayKeyedPacks;
  env["GOCACHEFS_LAZY"] = "auto";
  const std::vector<std::string> no_fuse = {"unshare", "--mount", "sh", "-c",
                                            "mount --bind /dev/null /dev/fuse && exec \"$@\"", "sh"};
  const auto build = second.go({"build", "-x", "./..."}, module.dir(), env, no_fuse);
  expect_success(build, "go build without FUSE");
  EXPECT_EQ(compiles(build.err), std::vector<std::string>{});
  const std::string stats = stats_of(second);
  EXPECT_GT(counter(stats, R"((\d+) objects stored from them)"), 0) << stats;
  EXPECT_EQ(counter(stats, R"(lazy:\s+(\d+) hits)"), -1) << stats;
  second.expect_only_verified_objects();
}

// Every backend the layout must work on: the pack goes to cas/ under its
// hash (bazel-remote checks it), the pointer to ac/.
class PackBackendTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PackBackendTest, PacksWorkOnEveryBackend) {
  std::string why;
  const Backend backend = start_backend(GetParam(), &why);
  if (backend.url.empty()) GTEST_SKIP() << "SKIPPED: " << why;
  const ModuleCopy module;
  run_job(Machine(backend.url, backend.env), module.dir());
  const Machine second(backend.url, backend.env);
  expect_job_all_cached(second, module.dir(), {{"GOCACHEFS_PACKS", "replay"}});
  const std::string stats = stats_of(second);
  EXPECT_GT(counter(stats, R"((\d+) objects stored from them)"), 0) << stats;
  second.expect_only_verified_objects();
}

INSTANTIATE_TEST_SUITE_P(Backends, PackBackendTest, ::testing::Values("file", "minio", "bazel-remote"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::erase(name, '-');
                           return name;
                         });

TEST(PackE2ETest, AChangedModuleReplaysWhatStillMatchesAndBuildsTheRest) {
  const TempDir remote;
  const std::string url = "file://" + remote.path();
  const ModuleCopy module;
  run_job(Machine(url), module.dir(), kWriteKeyedPacks);

  // A change in one package: it and what imports it compile again.
  const std::string file = module.dir() + "/cmd/sample/main.go";
  write_file(file, read_file(file) + "\nfunc addedByTheTest() int { return 42 }\n");
  const Machine second(url);
  const auto build = second.go({"build", "-x", "./..."}, module.dir(), kWriteKeyedPacks);
  expect_success(build, "go build -x ./... of the changed module");
  const auto compiled = compiles(build.err);
  EXPECT_EQ(compiled.size(), 1u) << "the changed package, and nothing else, compiles";
  const auto test = second.go({"test", "./..."}, module.dir(), kWriteKeyedPacks);
  expect_success(test, "go test ./... of the changed module");
  const std::string stats = stats_of(second);
  EXPECT_GT(counter(stats, R"(warmed, (\d+) used)"), 0) << stats;
  // Its job wrote what was new, and kept the first job's pack.
  EXPECT_GE(packs_named(remote.path(), kKey).size(), 2u);
  // A third machine replays the changed module whole.
  expect_job_all_cached(Machine(url), module.dir(), kReplayKeyedPacks);
}

// Damage on the remote: the pack's bytes flipped, cut short, or gone.
class DamagedPackTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DamagedPackTest, CostsMissesNeverAWrongByte) {
  const TempDir remote;
  const std::string url = "file://" + remote.path();
  const ModuleCopy module;
  run_job(Machine(url), module.dir(), kWriteKeyedPacks);
  const auto packs = packs_named(remote.path(), kKey);
  ASSERT_FALSE(packs.empty());
  for (const auto& id : packs) {
    const std::string path = remote.path() + "/cas/" + id;
    std::string bytes = read_file(path);
    if (GetParam() == "flipped") {
      for (std::size_t i = bytes.size() / 3; i < bytes.size(); i += bytes.size() / 7) bytes[i] ^= 0x5a;
      write_file(path, bytes);
    } else if (GetParam() == "truncated") {
      write_file(path, bytes.substr(0, bytes.size() / 2));
    } else if (GetParam() == "missing") {
      fs::remove(path);
    } else if (GetParam() == "garbage") {
      write_file(path, std::string(bytes.size(), 'x'));
    }
  }
  const Machine second(url);
  expect_job_all_cached(second, module.dir(), kReplayKeyedPacks);
  second.expect_only_verified_objects();
  EXPECT_EQ(gocachefs_lines(second.go({"build", "./..."}, module.dir()).err), 0);
}

INSTANTIATE_TEST_SUITE_P(Damage, DamagedPackTest, ::testing::Values("flipped", "truncated", "missing", "garbage"));

// A pack under the key that holds none of this job's actions (here, the
// module built with -trimpath): abandoned once the job's gets show it, and
// never a wrong answer.
TEST(PackE2ETest, APackOfAnotherJobIsNeverAWrongAnswer) {
  const TempDir remote;
  const std::string url = "file://" + remote.path();
  const ModuleCopy module;
  expect_success(Machine(url).go({"build", "-trimpath", "./..."}, module.dir(),
                                 {{"GOCACHEFS_PACKS", "on"}, {"GOCACHEFS_PACK_KEY", "shared"}}),
                 "go build -trimpath ./...");
  run_job(Machine(url), module.dir(), {{"GOCACHEFS_PACKS", "off"}});  // per action only

  const Machine second(url);
  expect_job_all_cached(second, module.dir(), {{"GOCACHEFS_PACKS", "on"}, {"GOCACHEFS_PACK_KEY", "shared"}});
  const std::string stats = stats_of(second);
  EXPECT_GT(counter(stats, R"(remote:\s+(\d+) hits)"), 0) << "the job's own actions come per action";
  std::printf("[ figures  ] another job's pack: %ld of its actions used, %s\n", counter(stats, R"(warmed, (\d+) used)"),
              second.log().find("covers too little") != std::string::npos ? "abandoned" : "read whole (it was small)");
  second.expect_only_verified_objects();
}

TEST(PackE2ETest, TheFallbackKeyIsReadWhenTheKeyHasNoPointer) {
  const TempDir remote;
  const std::string url = "file://" + remote.path();
  const ModuleCopy module;
  run_job(Machine(url), module.dir(), {{"GOCACHEFS_PACKS", "on"}, {"GOCACHEFS_PACK_KEY", "main"}});
  const Machine second(url);
  const Environment branch = {{"GOCACHEFS_PACKS", "on"},
                              {"GOCACHEFS_PACK_KEY", "feature"},
                              {"GOCACHEFS_PACK_FALLBACK", "nothing-here, main"}};
  expect_job_all_cached(second, module.dir(), branch);
  EXPECT_GT(counter(stats_of(second), R"((\d+) objects stored from them)"), 0) << stats_of(second);
  // The branch's own key now names the packs it used.
  EXPECT_EQ(packs_named(remote.path(), "feature"), packs_named(remote.path(), "main"));
}

TEST(PackE2ETest, TwoJobsWritingPacksForOneKeyAtOnceBothSucceed) {
  std::string why;
  auto nginx = TestServer::start("nginx", {}, &why);
  if (!nginx) GTEST_SKIP() << "SKIPPED: " << why;
  const std::string url = nginx->url() + "/team-cache";
  const ModuleCopy module;
  const Machine a(url), b(url);
  std::thread other([&] { run_job(a, module.dir()); });
  run_job(b, module.dir());
  other.join();
  const Machine third(url);
  expect_job_all_cached(third, module.dir(), {{"GOCACHEFS_PACKS", "replay"}});
  EXPECT_GT(counter(stats_of(third), R"((\d+) objects stored from them)"), 0) << stats_of(third);
}

}  // namespace
}  // namespace gocachefs::testing
