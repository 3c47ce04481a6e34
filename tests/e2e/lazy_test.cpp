// End to end: the lazy mount with the real go command and real servers. A
// first machine fills the remote (eager, as any machine may); a second,
// with an empty store and GOCACHE, is served through its daemon's FUSE
// mount: nothing compiled, DiskPaths on the mount, and far fewer bytes over
// the wire than the objects it was given. Faults: the remote killed after the
// gets were answered, the daemon killed during a build, no FUSE at all.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/support/go_output.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_server.h"
#include "tests/support/dev_fuse_mode.h"

namespace gocachefs::testing {
namespace {

constexpr long kFuseMagic = 0x65735546;

bool on_fuse(const std::string& path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == kFuseMagic;
}

// Reads the whole file as a tool would; false on an error (EIO).
bool reads_whole(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[65536];
  ssize_t n = 0;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) {
  }
  close(fd);
  return n == 0;
}

std::string first_bytes(const std::string& path, std::size_t n) {
  std::string bytes(n, '\0');
  std::ifstream(path, std::ios::binary).read(bytes.data(), static_cast<std::streamsize>(n));
  return bytes;
}

long counter(const std::string& stats, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(stats, m, std::regex(pattern)) ? std::stol(m[1].str()) : -1L;
}

// An empty local store and an empty GOCACHE; lazy unless told otherwise.
class LazyMachine {
 public:
  LazyMachine(std::string remote_url, std::string lazy = "on") : remote_url_(std::move(remote_url)), lazy_(std::move(lazy)) {}
  ~LazyMachine() { stop_daemon(); }

  CommandResult go(const std::vector<std::string>& args, const std::string& cwd = SAMPLE_MODULE_DIR,
                   const std::vector<std::string>& wrapper = {}) const {
    Environment overrides = {{"GOCACHEPROG", std::string(GOCACHEFS_BINARY) + " --dir " + store()},
                             {"GOCACHEFS_REMOTE", remote_url_},
                             {"GOCACHEFS_LAZY", lazy_},
                             {"GOCACHEFS_PACKS", "off"},  // per-action gets: packs are in pack_test.cpp
                             {"GOCACHEFS_DAEMON_IDLE", "120"},
                             {"GOCACHE", dir_ / "gocache"},
                             {"GOTOOLCHAIN", "local"},
                             {"GOPROXY", "off"},
                             {"GOFLAGS", "-mod=mod"},
                             {"CGO_ENABLED", "1"},
                             {"GOENV", "off"}};
    std::vector<std::string> argv = wrapper.empty() ? user_ : wrapper;
    argv.push_back("go");
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, environment_with(overrides), cwd);
  }
  std::string stats() const { return run_command({GOCACHEFS_BINARY, "stats", "--dir", store()}).out; }
  void stop_daemon() const {
    std::vector<std::string> argv = user_;
    argv.insert(argv.end(), {GOCACHEFS_BINARY, "stop", "--dir", store()});
    run_command(argv);
  }
  CommandResult as_user(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), user_.begin(), user_.end());
    return run_command(argv);
  }
  // From now on, go commands (and so gocachefs and its daemon) run as this
  // user, whose home is the machine's directory.
  void run_as(uid_t uid) {
    const std::string id = std::to_string(uid);
    run_command({"chown", "-R", id + ":" + id, dir_.path()});
    // -buildvcs=false: git refuses a checkout that another user owns.
    user_ = {"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups",
             "env", "HOME=" + dir_.path(), "GOFLAGS=-mod=mod -buildvcs=false"};
  }
  void set_remote(std::string url) { remote_url_ = std::move(url); }
  void new_gocache() const { std::filesystem::remove_all(dir_ / "gocache"); }
  std::string store() const { return dir_ / "store"; }

 private:
  TempDir dir_;
  std::string remote_url_;
  std::string lazy_;
  std::vector<std::string> user_;  // a command that runs the rest as another user
};

void expect_success(const CommandResult& r, const std::string& what) {
  ASSERT_EQ(r.exit_code, 0) << what << ":\n" << r.out << r.err;
}

std::string goroot_src() {
  std::string goroot = run_command({"go", "env", "GOROOT"}).out;
  goroot.resize(goroot.find_last_not_of("\n") + 1);
  return goroot + "/src";
}

// Bytes nginx sent in GET answers after line `from` of its access log.
long nginx_bytes_sent(const TestServer& nginx, std::size_t from) {
  long bytes = 0;
  const auto lines = lines_of(read_file(nginx.dir() + "/access.log"));
  static const std::regex get(R"re("GET [^"]*" \d+ (\d+))re");
  for (std::size_t i = from; i < lines.size(); ++i) {
    std::smatch m;
    if (std::regex_search(lines[i], m, get)) bytes += std::stol(m[1].str());
  }
  return bytes;
}

std::size_t log_lines(const TestServer& nginx) { return lines_of(read_file(nginx.dir() + "/access.log")).size(); }

struct Remote {
  std::unique_ptr<TestServer> server;
  std::string url;
};

Remote start(const std::string& kind, std::string* why) {
  Remote r;
  r.server = TestServer::start(kind, {}, why);
  if (!r.server) return r;
  r.url = kind == "nginx" ? r.server->url() + "/team-cache"
                          : "s3://" + r.server->get("bucket") + "/go?endpoint=" + r.server->url();
  return r;
}

Environment s3_credentials(const Remote& r) {
  return {{"AWS_ACCESS_KEY_ID", r.server->get("access_key")}, {"AWS_SECRET_ACCESS_KEY", r.server->get("secret_key")}};
}

class LazyE2EBase : public ::testing::Test {
 protected:
  void start_remote(const std::string& kind) {
    kind_ = kind;
    if (run_command({"go", "version"}).exit_code != 0) GTEST_SKIP() << "SKIP: the go command is not installed";
    std::string why;
    remote_ = start(kind, &why);
    if (!remote_.server) GTEST_SKIP() << "SKIP: " << why;
    if (kind == "minio") {
      for (const auto& [k, v] : s3_credentials(remote_)) setenv(k.c_str(), v.c_str(), 1);
    }
  }
  const std::string& kind() const { return kind_; }
  Remote remote_;
  std::string kind_;
};

// Every backend: the second machine.
class LazyE2ETest : public LazyE2EBase, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override { start_remote(GetParam()); }
};

// Faults, on one backend (nginx): what they test is not the backend's.
class LazyFaultTest : public LazyE2EBase {
 protected:
  void SetUp() override { start_remote("nginx"); }
};

TEST_P(LazyE2ETest, SecondMachineIsServedFromTheMount) {
  const LazyMachine first(remote_.url, "off");
  expect_success(first.go({"build", "./..."}), "first machine: go build");
  expect_success(first.go({"test", "./..."}), "first machine: go test");
  expect_success(first.go({"vet", "./..."}), "first machine: go vet");
  if (kind() == "nginx") expect_success(first.go({"build", "std"}, goroot_src()), "first machine: go build std");

  const LazyMachine second(remote_.url);
  const std::size_t log_from = kind() == "nginx" ? log_lines(*remote_.server) : 0;
  const auto build = second.go({"build", "-x", "./internal/..."});
  expect_success(build, "second machine: go build");
  EXPECT_EQ(build_actions(build.err), std::vector<std::string>{}) << "compiled with a warm remote";
  const auto test = second.go({"test", "./..."});
  expect_success(test, "second machine: go test");
  EXPECT_EQ(summarize_tests(test.out).cached, summarize_tests(test.out).passed) << test.out;
  const auto vet = second.go({"vet", "-x", "./..."});
  expect_success(vet, "second machine: go vet");
  EXPECT_EQ(build_actions(vet.err), std::vector<std::string>{});
  if (kind() == "nginx") {
    const auto std_build = second.go({"build", "-x", "std"}, goroot_src());
    expect_success(std_build, "second machine: go build std");
    EXPECT_EQ(build_actions(std_build.err), std::vector<std::string>{});
  }

  // Paths in the mount outlive the go command that was given them.
  // With their dependencies: std's large archives are the ones served lazily
  // (records carry small objects whole, and those are stored at once).
  const auto list = second.go({"list", "-export", "-deps", "-f", "{{.Export}}", "./internal/..."});
  expect_success(list, "go list -export");
  int lazy_paths = 0;
  for (const auto& path : lines_of(list.out)) {
    if (path.empty()) continue;
    EXPECT_EQ(first_bytes(path, 8), "!<arch>\n") << path;  // as cmd/go reads a build ID
    if (on_fuse(path) && ++lazy_paths == 1) {
      EXPECT_TRUE(reads_whole(path)) << path;
    }
  }
  // The linker reads every archive it links: read ahead, all at once.
  const TempDir out;
  const auto link = second.go({"build", "-o", out / "app", "./cmd/..."});
  expect_success(link, "second machine: go build -o (links)");
  EXPECT_EQ(run_command({out / "app"}).exit_code, 0);
  EXPECT_GT(counter(second.stats(), R"((\d+) objects read ahead)"), 0) << second.stats();

  const std::string stats = second.stats();
  std::cout << stats;
  EXPECT_NE(stats.find("daemon:   up"), std::string::npos) << stats;
  EXPECT_GT(counter(stats, R"(lazy:\s+(\d+) hits)"), 0) << stats;
  EXPECT_EQ(counter(stats, R"((\d+) fetches failed)"), 0) << stats;
  if (kind() == "nginx") {
    const long sent = nginx_bytes_sent(*remote_.server, log_from);
    std::cout << "nginx sent " << sent << " bytes to the lazy machine\n";
    EXPECT_GT(sent, 0);
  }
  EXPECT_GT(lazy_paths, 0) << list.out;
}

TEST_F(LazyFaultTest, RemoteKilledAfterTheGetsTheNextRunSucceeds) {
  const LazyMachine first(remote_.url, "off");
  expect_success(first.go({"build", "./..."}), "first machine: go build");
  LazyMachine second(remote_.url);
  // The gets are answered with paths in the mount (std's large packages)...
  const auto list = second.go({"list", "-export", "-deps", "-f", "{{.Export}}", "./..."});
  expect_success(list, "go list -export -deps");
  std::vector<std::string> lazy_paths;
  for (const auto& path : lines_of(list.out)) {
    if (!path.empty() && on_fuse(path)) lazy_paths.push_back(path);
  }
  ASSERT_FALSE(lazy_paths.empty()) << list.out;
  // ...then the remote dies before anything reads them whole: the reads
  // fail (after bounded retries) instead of showing wrong or partial bytes.
  remote_.server->stop();
  int failed_reads = 0;
  for (const auto& path : lazy_paths) failed_reads += reads_whole(path) ? 0 : 1;
  EXPECT_GT(failed_reads, 0);
  // The next run rebuilds what failed and succeeds; its terminal is told why.
  second.new_gocache();
  const auto next = second.go({"build", "./..."});
  expect_success(next, "the next go build");
  EXPECT_NE(next.err.find("could not be fetched"), std::string::npos) << next.err;
  EXPECT_GT(counter(second.stats(), R"((\d+) fetches failed)"), 0) << second.stats();
}

TEST_F(LazyFaultTest, DaemonKilledDuringABuildTheNextGoCommandSucceeds) {
  const LazyMachine first(remote_.url, "off");
  expect_success(first.go({"build", "std"}, goroot_src()), "first machine: go build std");
  const LazyMachine second(remote_.url);
  std::thread killer([&] {
    for (int i = 0; i < 500; ++i) {
      const auto pids = run_command({"pgrep", "-f", "gocachefs daemon --dir " + second.store()}).out;
      if (!pids.empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        run_command({"pkill", "-KILL", "-f", "gocachefs daemon --dir " + second.store()});
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const auto during = second.go({"build", "std"}, goroot_src());
  killer.join();
  EXPECT_EQ(during.err.find("error reading JSON"), std::string::npos) << during.err;
  second.new_gocache();
  expect_success(second.go({"build", "std"}, goroot_src()), "the next go build std");
}

TEST_F(LazyFaultTest, WithoutFuseTheSameWorksEagerly) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIP: hiding /dev/fuse needs a mount namespace of our own (root)";
  const LazyMachine first(remote_.url, "off");
  expect_success(first.go({"build", "./..."}), "first machine: go build");
  expect_success(first.go({"test", "./..."}), "first machine: go test");
  const LazyMachine second(remote_.url, "auto");
  // A container without FUSE: /dev/fuse is not there.
  const std::vector<std::string> no_fuse = {"unshare", "--mount", "sh", "-c",
                                            "mount --bind /dev/null /dev/fuse && exec \"$@\"", "sh"};
  const auto build = second.go({"build", "-x", "./internal/..."}, SAMPLE_MODULE_DIR, no_fuse);
  expect_success(build, "go build without FUSE");
  EXPECT_EQ(build_actions(build.err), std::vector<std::string>{});
  const auto test = second.go({"test", "./..."}, SAMPLE_MODULE_DIR, no_fuse);
  expect_success(test, "go test without FUSE");
  EXPECT_EQ(summarize_tests(test.out).cached, summarize_tests(test.out).passed) << test.out;
  EXPECT_EQ(build.err.find("gocachefs:"), std::string::npos) << "auto falls back quietly: " << build.err;
  EXPECT_EQ(counter(second.stats(), R"(lazy:\s+(\d+) hits)"), -1) << second.stats();
}

// Go commands at once (each with its own GOCACHE) share one daemon and mount.
TEST_F(LazyFaultTest, GoCommandsAtOnceShareOneDaemon) {
  const LazyMachine first(remote_.url, "off");
  expect_success(first.go({"build", "./..."}), "first machine: go build");
  const LazyMachine second(remote_.url);
  const TempDir caches;
  std::vector<CommandResult> results(3);
  std::vector<std::thread> commands;
  for (std::size_t i = 0; i < results.size(); ++i) {
    commands.emplace_back([&, i] {
      results[i] = second.go({"build", "-x", "./internal/..."}, SAMPLE_MODULE_DIR,
                             {"env", "GOCACHE=" + (caches / std::to_string(i))});
    });
  }
  for (auto& command : commands) command.join();
  for (const auto& result : results) {
    expect_success(result, "go build at once");
    EXPECT_EQ(build_actions(result.err), std::vector<std::string>{});
  }
  EXPECT_EQ(run_command({"pgrep", "-c", "-f", "gocachefs daemon --dir " + second.store()}).out, "1\n");
  EXPECT_GT(counter(second.stats(), R"(lazy:\s+(\d+) hits)"), 0) << second.stats();
}

// The daemon serves the remote it was started for; a go command set up for
// another one must not get hits from it (it fetches eagerly instead).
TEST_F(LazyFaultTest, AClientWithAnotherRemoteIsNotServedByTheDaemon) {
  const LazyMachine first(remote_.url, "off");
  expect_success(first.go({"build", "./..."}), "first machine: go build");
  LazyMachine second(remote_.url);
  expect_success(second.go({"build", "./internal/..."}), "go build with the first remote");
  EXPECT_GT(counter(second.stats(), R"(lazy:\s+(\d+) hits)"), 0) << second.stats();
  second.set_remote(remote_.url + "-elsewhere");  // empty
  second.new_gocache();
  const auto build = second.go({"build", "-x", "./internal/..."});
  expect_success(build, "go build with another remote");
  EXPECT_FALSE(build_actions(build.err).empty()) << "hits from the daemon's remote, not this one's";
  EXPECT_NE(read_file(second.store() + "/gocachefs.log").find("serves another remote"), std::string::npos);
}

// A workstation user, not root: the daemon mounts through the setuid
// fusermount3, with /dev/fuse as Debian's udev rule leaves it (0666).
TEST_F(LazyFaultTest, AnOrdinaryUserIsServedThroughTheDaemon) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIP: needs root to become another user";
  const LazyMachine first(remote_.url, "off");
  expect_success(first.go({"build", "./..."}), "first machine: go build");
  DevFuseMode workstation(0666);
  LazyMachine second(remote_.url, "on");
  second.run_as(65534);
  // Not the main package: with another user's checkout, its VCS stamp differs.
  const auto build = second.go({"build", "-x", "./internal/..."});
  expect_success(build, "go build as an ordinary user");
  EXPECT_EQ(build_actions(build.err), std::vector<std::string>{});
  const auto list = second.go({"list", "-export", "-deps", "-f", "{{.Export}}", "./internal/..."});
  expect_success(list, "go list -export as an ordinary user");
  // Only the user may look into the mount (no allow_other): not even root.
  const auto read = second.as_user({"sh", "-c",
                                    "for p in $0; do [ -n \"$p\" ] || continue; "
                                    "echo \"$(stat -f -c %T \"$p\") $(cat \"$p\" | wc -c)\"; done",
                                    list.out});
  expect_success(read, "reading the paths as the user");
  const auto lines = lines_of(read.out);
  const auto on_the_mount = std::count_if(lines.begin(), lines.end(), [](const std::string& line) {
    return line.starts_with("fuse");  // fuse, fuseblk or fuse.gocachefs, by coreutils version
  });
  std::cout << on_the_mount << " of " << lines.size() << " export files read through the mount as user 65534\n";
  EXPECT_GT(on_the_mount, 0) << read.out << read.err;
  for (const auto& line : lines) EXPECT_FALSE(line.ends_with(" 0")) << "an empty or unreadable file: " << line;
}

INSTANTIATE_TEST_SUITE_P(Servers, LazyE2ETest, ::testing::Values("nginx", "minio"));

}  // namespace
}  // namespace gocachefs::testing
