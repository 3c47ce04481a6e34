// End to end: a remote that refuses some uploads for good. nginx set up as
// a recipe that forgets client_max_body_size takes bodies up to 1 MiB and
// answers 413 to larger ones. The build stays green, the go command's
// terminal gets one line naming the setting, the refused uploads are
// dropped (not retried by every later go command), and smaller objects
// still reach the remote for the next machine.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "tests/e2e/machine.h"

namespace gocachefs::testing {
namespace {

namespace fs = std::filesystem;

// A module whose `blob` package embeds 3 MiB that do not compress: its
// archive is larger than nginx's default limit, however it is sent. `small`
// is a few bytes of code.
void write_module(const std::string& dir) {
  write_file(dir + "/go.mod", "module example.com/refusal\n\ngo 1.24\n");
  std::mt19937 random(12);
  std::string noise(3u << 20, '\0');
  for (auto& c : noise) c = static_cast<char>(random());
  fs::create_directories(dir + "/blob");
  write_file(dir + "/blob/noise.bin", noise);
  write_file(dir + "/blob/blob.go",
             "package blob\n\nimport _ \"embed\"\n\n//go:embed noise.bin\nvar Noise []byte\n");
  fs::create_directories(dir + "/small");
  write_file(dir + "/small/small.go", "package small\n\nfunc Twice(n int) int { return 2 * n }\n");
}

int count_413(const TestServer& nginx) {
  int n = 0;
  for (const auto& line : lines_of(read_file(nginx.dir() + "/access.log"))) n += line.find("\" 413 ") != std::string::npos;
  return n;
}

TEST(UploadRefusalE2ETest, TooLargeForNginxIsDroppedWithOneClearLine) {
  std::string why;
  auto nginx = TestServer::start("nginx-default-limit", {}, &why);
  if (!nginx) GTEST_SKIP() << "SKIPPED: " << why;
  TempDir module;
  write_module(module.path());
  const std::string url = nginx->url() + "/team-cache";
  const Machine first(url);

  const auto build = first.go({"build", "./..."}, module.path());
  expect_success(build, "go build with uploads refused");
  EXPECT_EQ(gocachefs_lines(build.err), 1) << build.err;
  for (const auto& line : lines_of(build.err)) {
    if (line.starts_with("gocachefs:")) std::printf("[ stderr   ] %s\n", line.c_str());
  }
  EXPECT_NE(build.err.find("client_max_body_size"), std::string::npos) << build.err;
  EXPECT_NE(build.err.find("413"), std::string::npos) << build.err;
  EXPECT_NE(first.log().find("client_max_body_size"), std::string::npos) << "the log says it too";
  EXPECT_EQ(first.stats().queued, 0) << "refused uploads stayed queued";
  const int refused = count_413(*nginx);
  EXPECT_GT(refused, 0) << "nothing was large enough to be refused";

  // Smaller objects went: records and objects under the 1 MiB limit.
  int records = 0;
  for (const auto& entry : fs::directory_iterator(nginx->dir() + "/data/team-cache/ac")) records += entry.is_regular_file();
  EXPECT_GT(records, 10);

  // A later go command on this machine does not try the refused ones again.
  first.forget_gocache();
  const auto again = first.go({"build", "./..."}, module.path());
  expect_success(again, "a later go build");
  EXPECT_EQ(gocachefs_lines(again.err), 0) << again.err;
  EXPECT_EQ(count_413(*nginx), refused) << "a dropped upload was sent again";

  // Another machine gets what went, rebuilds what did not, stays green.
  const Machine second(url);
  const auto fresh = second.go({"build", "./..."}, module.path());
  expect_success(fresh, "go build on a second machine");
  EXPECT_EQ(gocachefs_lines(fresh.err), 1) << "its own refused puts: " << fresh.err;
  EXPECT_GT(second.stats().remote_hits, 0);
  second.expect_only_verified_objects();
}

}  // namespace
}  // namespace gocachefs::testing
