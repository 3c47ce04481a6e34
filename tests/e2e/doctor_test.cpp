// End to end: `gocachefs doctor`, the real binary, against real faults: no
// FUSE for an ordinary user, an unreadable store, another user's store, a
// damaged index, wrong credentials (nginx basic auth, a MinIO secret), a
// remote that is down, a clock off from S3's, GOCACHEPROG unset or wrong,
// and a healthy setup that is all OK. Each checks the line that names the
// fault, the fix it gives, and the exit status (1 for FAIL, 0 for WARN).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "fuse/mount.h"
#include "store/index.h"
#include "store/sha256.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_server.h"

namespace gocachefs::testing {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;

// A store, a HOME and a go setup of their own, GOCACHEPROG naming this
// store; nothing from the environment that runs the tests leaks in.
class DoctorSetup {
 public:
  DoctorSetup() {
    chmod(dir_.path().c_str(), 0755);  // other users must reach inside
    fs::create_directories(store());
    fs::create_directories(home());
    binary_ = GOCACHEFS_BINARY;
  }

  std::string store() const { return dir_ / "store"; }
  std::string home() const { return dir_ / "home"; }
  std::string path(const std::string& name) const { return dir_ / name; }
  const std::string& binary() const { return binary_; }

  // From now on doctor runs as `uid`, from a copy of the binary that user
  // can reach, and owns the setup's files.
  void run_as(uid_t uid) {
    binary_ = dir_ / "gocachefs";
    fs::copy_file(GOCACHEFS_BINARY, binary_);
    const std::string id = std::to_string(uid);
    run_command({"chown", "-R", id + ":" + id, dir_.path()});
    as_user_ = {"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups"};
  }

  // `gocachefs doctor --dir <store> args...`; `wrapper` runs it (before the
  // user switch: unshare needs root).
  CommandResult doctor(const std::vector<std::string>& args = {}, const Environment& extra = {},
                       const std::vector<std::string>& wrapper = {}) const {
    Environment env = {{"HOME", home()},
                       {"GOENV", "off"},
                       {"GOTOOLCHAIN", "local"},
                       {"GOCACHEPROG", binary_ + " --dir " + store()},
                       {"GOCACHEFS_DIR", ""},
                       {"GOCACHEFS_REMOTE", ""},
                       {"GOCACHEFS_REMOTE_READ_ONLY", ""},
                       {"GOCACHEFS_REMOTE_TOKEN", ""},
                       {"GOCACHEFS_LAZY", ""},
                       {"GOCACHEFS_PACKS", ""},
                       {"AWS_ACCESS_KEY_ID", ""},
                       {"AWS_SECRET_ACCESS_KEY", ""},
                       {"AWS_SESSION_TOKEN", ""},
                       {"AWS_PROFILE", ""}};
    for (const auto& [name, value] : extra) env[name] = value;
    std::vector<std::string> argv = wrapper;
    argv.insert(argv.end(), as_user_.begin(), as_user_.end());
    argv.insert(argv.end(), {binary_, "doctor", "--dir", store()});
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, environment_with(env), dir_.path(), std::chrono::seconds(60));
  }

  // Queues an upload in the store's index, as a put with a remote does.
  void queue_upload() const {
    Index index(store() + "/index.sqlite");
    index.record_put(Sha256::of("doctor test action"),
                     ActionEntry{.output_id = Sha256::of("doctor test output"), .size = 18, .put_time_ns = 1},
                     /*queue_upload=*/true);
  }

 private:
  TempDir dir_;
  std::string binary_;
  std::vector<std::string> as_user_;  // a command that runs the rest as another user
};

// The line of check `name` ("FAIL  store: ..."), or "" when there is none.
std::string line_of(const std::string& report, const std::string& name) {
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > 6 && line.substr(6).starts_with(name + ": ")) return line;
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Every check line but those of `allowed_warnings` says OK.
void expect_all_ok(const CommandResult& result, const std::vector<std::string>& allowed_warnings = {}) {
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("doctor: ")) continue;  // the summary
    bool allowed = line.starts_with("OK  ");
    for (const auto& name : allowed_warnings) allowed |= line.starts_with("WARN  " + name + ": ");
    EXPECT_TRUE(allowed) << line << "\n\nwhole report:\n" << result.out;
  }
}

// What the FUSE and free space checks would rightly warn about on this
// machine, so that a healthy setup can be told from this machine's limits.
std::vector<std::string> warnings_of_this_machine(const std::string& store) {
  std::vector<std::string> names;
  if (!probe_fuse().empty()) names.push_back("FUSE");
  struct statvfs st {};
  statvfs(store.c_str(), &st);
  const double free_bytes = static_cast<double>(st.f_bavail) * st.f_frsize;
  if (free_bytes < (1 << 30) || free_bytes < 0.05 * static_cast<double>(st.f_blocks) * st.f_frsize) {
    names.push_back("free space");
  }
  return names;
}

// A loopback port nothing listens on.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

std::unique_ptr<TestServer> start_server(const std::string& kind, const std::vector<std::string>& args = {}) {
  std::string why;
  auto server = TestServer::start(kind, args, &why);
  if (!server) ADD_FAILURE() << kind << " did not start: " << why;
  return server;
}

TEST(DoctorTest, AHealthySetupIsAllOk) {
  auto nginx = start_server("nginx");
  if (!nginx) return;
  DoctorSetup setup;
  { Index index(setup.store() + "/index.sqlite"); }  // a store gocachefs has used
  const auto machine_warnings = warnings_of_this_machine(setup.store());
  const auto result = setup.doctor({"--remote", nginx->url() + "/go"});
  EXPECT_EQ(result.exit_code, 0) << result.out;
  EXPECT_EQ(result.err, "");
  expect_all_ok(result, machine_warnings);
  for (const char* check : {"settings", "go", "GOCACHEPROG", "store", "store owner", "free space", "index", "FUSE",
                            "daemon", "remote read", "remote write", "upload backlog"}) {
    EXPECT_NE(line_of(result.out, check), "") << "no line for " << check << ":\n" << result.out;
  }
  EXPECT_TRUE(contains(line_of(result.out, "GOCACHEPROG"), "runs this gocachefs")) << result.out;
  EXPECT_TRUE(contains(line_of(result.out, "index"), "passes SQLite's quick_check")) << result.out;
  // The write probe is a real entry, under the SHA-256 of its bytes.
  const std::string probe = "gocachefs doctor: write probe\n";
  EXPECT_EQ(read_file(nginx->dir() + "/data/go/cas/" + to_hex(Sha256::of(probe))), probe);
  if (machine_warnings.empty()) {
    EXPECT_TRUE(contains(result.out, "doctor: all 12 checks OK")) << result.out;
  }
}

// The children of `pid` (its fusermount3).
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> children;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::istringstream in(read_file(task.path().string() + "/children"));
    for (pid_t child = 0; in >> child;) children.push_back(child);
  }
  return children;
}

// The store's daemon: up with its mount answering (OK), hung (FAIL), then
// killed together with the fusermount3 that would have unmounted after it,
// which leaves a stale mount (WARN: the next daemon unmounts it).
TEST(DoctorTest, TheDaemonUpHungAndKilled) {
  if (const std::string problem = probe_fuse(); !problem.empty()) GTEST_SKIP() << "SKIP: no FUSE here: " << problem;
  DoctorSetup setup;
  const std::string remote = "file://" + setup.path("remote");
  const std::string mount = setup.store() + "/mnt";
  Child daemon({GOCACHEFS_BINARY, "daemon", "--dir", setup.store(), "--daemon-idle", "60"},
               environment_with({{"GOCACHEFS_REMOTE", remote}}));
  for (int i = 0; i < 500 && !fs::exists(setup.store() + "/daemon.sock"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto up = setup.doctor({"--remote", remote});
  EXPECT_EQ(up.exit_code, 0) << up.out;
  EXPECT_TRUE(contains(line_of(up.out, "daemon"), "running; its mount " + mount + " answers")) << up.out;

  kill(daemon.pid(), SIGSTOP);
  const auto hung = setup.doctor({"--remote", remote});
  kill(daemon.pid(), SIGCONT);
  EXPECT_EQ(hung.exit_code, 1) << hung.out;
  const std::string hung_line = line_of(hung.out, "daemon");
  EXPECT_TRUE(hung_line.starts_with("FAIL")) << hung.out;
  EXPECT_TRUE(contains(hung_line, "listens on " + setup.store() + "/daemon.sock but does not answer within 3 s"))
      << hung_line;
  EXPECT_TRUE(contains(hung_line, "fix: gocachefs stop --dir " + setup.store())) << hung_line;

  for (const pid_t child : children_of(daemon.pid())) kill(child, SIGKILL);  // its auto_unmount fusermount3
  kill(daemon.pid(), SIGKILL);
  daemon.wait();
  const auto stale = setup.doctor({"--remote", remote});
  umount2(mount.c_str(), MNT_DETACH);
  EXPECT_EQ(stale.exit_code, 0) << stale.out;
  const std::string stale_line = line_of(stale.out, "daemon");
  EXPECT_TRUE(stale_line.starts_with("WARN")) << stale.out;
  EXPECT_TRUE(contains(stale_line, "not running, but " + mount +
                                       " is a stale mount left by a killed daemon (Transport endpoint is not connected)"))
      << stale_line;
  EXPECT_TRUE(contains(stale_line, "fix: fusermount3 -u -z " + mount)) << stale_line;
}

// An ordinary user for whom /dev/fuse does not open (a CI machine's 0600):
// lazy mode falls back to eager fetches, a warning; with --lazy=on remote
// hits fail, a failure. The /dev/fuse the user sees is a root-only file bound
// over it in a mount namespace of its own, whatever this machine's mode.
TEST(DoctorTest, NoFuseWarnsWithLazyAutoAndFailsWithLazyOn) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIP: needs root to bind over /dev/fuse and become another user";
  DoctorSetup setup;
  const std::string root_only = setup.path("no-fuse");
  write_file(root_only, "");
  chmod(root_only.c_str(), 0600);
  const std::string remote = "file://" + setup.path("remote");
  fs::create_directories(setup.path("remote"));
  setup.run_as(kNobody);
  chown(root_only.c_str(), 0, 0);
  const std::vector<std::string> without_fuse = {"unshare", "--mount", "sh", "-c",
                                                 "mount --bind \"$0\" /dev/fuse && exec \"$@\"", root_only};
  if (run_command({"unshare", "--mount", "true"}).exit_code != 0) GTEST_SKIP() << "SKIP: unshare --mount fails here";

  const auto with_auto = setup.doctor({"--remote", remote}, {}, without_fuse);
  EXPECT_EQ(with_auto.exit_code, 0) << with_auto.out << with_auto.err;
  EXPECT_EQ(with_auto.err, "");
  const std::string fuse = line_of(with_auto.out, "FUSE");
  EXPECT_TRUE(fuse.starts_with("WARN")) << with_auto.out;
  EXPECT_TRUE(contains(fuse, "cannot open /dev/fuse read-write as nobody (uid 65534) (Permission denied"))
      << with_auto.out;
  EXPECT_TRUE(contains(fuse, "lazy mode falls back to eager fetches")) << fuse;
  EXPECT_TRUE(contains(fuse, "fix: sudo chmod 0666 /dev/fuse")) << fuse;
  expect_all_ok(with_auto, {"FUSE"});

  const auto with_on = setup.doctor({"--remote", remote, "--lazy", "on"}, {}, without_fuse);
  EXPECT_EQ(with_on.exit_code, 1) << with_on.out;
  const std::string fuse_on = line_of(with_on.out, "FUSE");
  EXPECT_TRUE(fuse_on.starts_with("FAIL")) << with_on.out;
  EXPECT_TRUE(contains(fuse_on, "with --lazy=on (or GOCACHEFS_LAZY=on) remote hits then fail")) << fuse_on;
  EXPECT_TRUE(contains(fuse_on, "or use --lazy=auto")) << fuse_on;
}

// chmod 000 on the user's own store: every go command would fail to start
// gocachefs. Root reads anything, so the user is nobody.
TEST(DoctorTest, AnUnreadableStoreFails) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIP: needs root to become another user";
  DoctorSetup setup;
  setup.run_as(kNobody);
  chmod(setup.store().c_str(), 0);
  const auto result = setup.doctor({"--lazy", "off"});
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_EQ(result.err, "");
  const std::string store = line_of(result.out, "store");
  EXPECT_TRUE(store.starts_with("FAIL")) << result.out;
  EXPECT_TRUE(contains(store, "cannot read " + setup.store() + " (Permission denied; mode 0000, owner nobody (uid 65534)"))
      << store;
  EXPECT_TRUE(contains(store, "every go command fails to start gocachefs")) << store;
  EXPECT_TRUE(contains(store, "fix: chmod u+rwx " + setup.store())) << store;
}

// The write probe is a temp file where gocachefs writes its own, tmp/ (where
// start-up removes those of a writer that died), and leaves nothing behind.
TEST(DoctorTest, TheWriteProbeGoesWhereGocachefsWritesAndLeavesNothing) {
  DoctorSetup setup;
  fs::create_directories(setup.store() + "/tmp");
  const auto healthy = setup.doctor({"--lazy", "off"});
  EXPECT_TRUE(line_of(healthy.out, "store").starts_with("OK")) << healthy.out;
  for (const auto& dir : {setup.store(), setup.store() + "/tmp"}) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      EXPECT_EQ(entry.path().filename().string().find("probe"), std::string::npos) << entry.path();
    }
  }
  if (geteuid() != 0) GTEST_SKIP() << "SKIP: needs root to become another user";
  // A root that takes new files and a tmp/ that does not: gocachefs cannot
  // store what it fetches or builds, and the probe says so.
  setup.run_as(kNobody);
  chmod((setup.store() + "/tmp").c_str(), 0555);
  const auto result = setup.doctor({"--lazy", "off"});
  const std::string store = line_of(result.out, "store");
  EXPECT_TRUE(store.starts_with("WARN")) << result.out;
  EXPECT_TRUE(contains(store, "cannot write in " + setup.store() + "/tmp (Permission denied")) << store;
}

// Root checking a store that belongs to someone else: a warning (builds work).
TEST(DoctorTest, AnotherUsersStoreWarns) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIP: needs root to give the store away";
  DoctorSetup setup;
  chown(setup.store().c_str(), kNobody, kNobody);
  const auto result = setup.doctor({"--lazy", "off"});
  EXPECT_EQ(result.exit_code, 0) << result.out;
  const std::string owner = line_of(result.out, "store owner");
  EXPECT_TRUE(owner.starts_with("WARN")) << result.out;
  EXPECT_TRUE(contains(owner, setup.store() + " belongs to nobody (uid 65534), not to you, root (uid 0)")) << owner;
  EXPECT_TRUE(contains(owner, "fix: sudo chown -R root " + setup.store())) << owner;
}

TEST(DoctorTest, ADamagedIndexFails) {
  DoctorSetup setup;
  write_file(setup.store() + "/index.sqlite", std::string(8192, 'x'));  // garbage where SQLite's header goes
  const auto result = setup.doctor({"--lazy", "off"});
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_EQ(result.err, "");
  const std::string index = line_of(result.out, "index");
  EXPECT_TRUE(index.starts_with("FAIL")) << result.out;
  EXPECT_TRUE(contains(index, setup.store() + "/index.sqlite is damaged (file is not a database)")) << index;
  EXPECT_TRUE(contains(index, "the next go command moves it aside")) << index;
  EXPECT_TRUE(contains(index, "fix: to do it now: gocachefs stop --dir " + setup.store() + " && mv " + setup.store() +
                                  "/index.sqlite " + setup.store() + "/index.sqlite.damaged"))
      << index;
  // Doctor only reports: the damaged file is still there.
  EXPECT_EQ(read_file(setup.store() + "/index.sqlite"), std::string(8192, 'x'));
}

TEST(DoctorTest, AWrongPasswordForAnHttpRemoteFails) {
  auto nginx = start_server("nginx", {"ci:right-password"});
  if (!nginx) return;
  DoctorSetup setup;
  std::string url = nginx->url();
  url.insert(url.find("://") + 3, "ci:wrong-password@");
  const auto result = setup.doctor({"--lazy", "off"}, {{"GOCACHEFS_REMOTE", url}});
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_EQ(result.err, "");
  const std::string read = line_of(result.out, "remote read");
  EXPECT_TRUE(read.starts_with("FAIL")) << result.out;
  EXPECT_TRUE(contains(read, "refuses our credentials")) << read;
  EXPECT_TRUE(contains(read, "HTTP 401")) << read;
  EXPECT_TRUE(contains(read, "fix: check the user:password in the URL")) << read;
  EXPECT_FALSE(contains(result.out, "wrong-password")) << "a secret in the report:\n" << result.out;

  // The right one: reads and writes.
  url = nginx->url();
  url.insert(url.find("://") + 3, "ci:right-password@");
  const auto right = setup.doctor({"--lazy", "off"}, {{"GOCACHEFS_REMOTE", url}});
  EXPECT_EQ(right.exit_code, 0) << right.out;
  EXPECT_TRUE(line_of(right.out, "remote write").starts_with("OK")) << right.out;
}

TEST(DoctorTest, AWrongSecretForS3FailsAndTheRightOneChecksTheClock) {
  auto minio = start_server("minio");
  if (!minio) return;
  DoctorSetup setup;
  const std::string url = "s3://" + minio->get("bucket") + "/go?endpoint=" + minio->url();
  const auto wrong = setup.doctor({"--remote", url, "--lazy", "off"},
                                  {{"AWS_ACCESS_KEY_ID", minio->get("access_key")},
                                   {"AWS_SECRET_ACCESS_KEY", "not-the-secret"}});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out;
  EXPECT_EQ(wrong.err, "");
  const std::string read = line_of(wrong.out, "remote read");
  EXPECT_TRUE(read.starts_with("FAIL")) << wrong.out;
  EXPECT_TRUE(contains(read, "refuses our credentials (")) << read;
  EXPECT_TRUE(contains(read, "HTTP 403")) << read;
  EXPECT_TRUE(contains(read, "fix: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")) << read;
  EXPECT_FALSE(contains(wrong.out, "not-the-secret")) << wrong.out;
  EXPECT_TRUE(line_of(wrong.out, "clock").starts_with("OK")) << wrong.out;

  const auto right = setup.doctor({"--remote", url, "--lazy", "off"},
                                  {{"AWS_ACCESS_KEY_ID", minio->get("access_key")},
                                   {"AWS_SECRET_ACCESS_KEY", minio->get("secret_key")}});
  EXPECT_EQ(right.exit_code, 0) << right.out;
  expect_all_ok(right, warnings_of_this_machine(setup.store()));
  EXPECT_TRUE(contains(line_of(right.out, "clock"), "(S3 signatures allow 15 minutes)")) << right.out;
  EXPECT_TRUE(line_of(right.out, "remote write").starts_with("OK")) << right.out;
}

// An S3 endpoint with user:password@ in it: the checks that name the
// endpoint (the clock's) show it redacted.
TEST(DoctorTest, AnS3EndpointsPasswordNeverShows) {
  auto minio = start_server("minio");
  if (!minio) return;
  DoctorSetup setup;
  const std::string password = "endpoint-pw-4711";
  ASSERT_TRUE(minio->url().starts_with("http://")) << minio->url();
  const std::string endpoint = "http://someone:" + password + "@" + minio->url().substr(7);
  const auto result = setup.doctor({"--remote", "s3://" + minio->get("bucket") + "/go?endpoint=" + endpoint, "--lazy", "off"},
                                   {{"AWS_ACCESS_KEY_ID", minio->get("access_key")},
                                    {"AWS_SECRET_ACCESS_KEY", minio->get("secret_key")}});
  const std::string clock = line_of(result.out, "clock");
  EXPECT_NE(clock, "") << result.out;
  EXPECT_TRUE(contains(clock, "http://REDACTED@" + minio->url().substr(7))) << clock;
  EXPECT_FALSE(contains(result.out, password)) << result.out;
  EXPECT_FALSE(contains(result.err, password)) << result.err;
}

// A remote that is down: a failure, and the queued uploads wait for it.
TEST(DoctorTest, ARemoteThatIsDownFails) {
  DoctorSetup setup;
  setup.queue_upload();
  const std::string url = "http://127.0.0.1:" + std::to_string(free_port()) + "/go";
  const auto result = setup.doctor({"--remote", url, "--lazy", "off"});
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_EQ(result.err, "");
  const std::string read = line_of(result.out, "remote read");
  EXPECT_TRUE(read.starts_with("FAIL")) << result.out;
  EXPECT_TRUE(contains(read, "cannot reach " + url + " (")) << read;
  EXPECT_TRUE(contains(read, "Couldn't connect to server")) << read;
  EXPECT_TRUE(contains(read, "fix: start the server or correct the URL in GOCACHEFS_REMOTE or --remote")) << read;
  EXPECT_EQ(line_of(result.out, "remote write"), "") << "not tried when the remote cannot be reached";
  const std::string backlog = line_of(result.out, "upload backlog");
  EXPECT_TRUE(backlog.starts_with("WARN")) << result.out;
  EXPECT_TRUE(contains(backlog, "1 upload queued, and the remote fails")) << backlog;
}

// An S3 endpoint whose clock is an hour behind ours (a server answering 403
// with a Date of an hour ago): SigV4 cannot work, whatever the keys.
TEST(DoctorTest, AClockFarFromS3sFails) {
  const std::string server = R"(
import email.utils, http.server, time
class Skewed(http.server.BaseHTTPRequestHandler):
    def date_time_string(self, timestamp=None):
        return email.utils.formatdate(time.time() - 3600, usegmt=True)
    def do_GET(self):
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_HEAD = do_PUT = do_GET
    def log_message(self, *args):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), Skewed)
print(s.server_address[1], flush=True)
s.serve_forever()
)";
  Child skewed({"python3", "-c", server});
  const auto port = skewed.read_line(std::chrono::seconds(10));
  ASSERT_TRUE(port) << skewed.stderr_text();
  DoctorSetup setup;
  const std::string endpoint = "http://127.0.0.1:" + *port;
  const auto result = setup.doctor({"--remote", "s3://bucket?endpoint=" + endpoint, "--lazy", "off"},
                                   {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"}, {"AWS_SECRET_ACCESS_KEY", "secret"}});
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_EQ(result.err, "");
  const std::string clock = line_of(result.out, "clock");
  EXPECT_TRUE(clock.starts_with("FAIL")) << result.out;
  EXPECT_TRUE(contains(clock, "this machine's clock is 60 min ahead of " + endpoint + "/bucket's")) << clock;
  EXPECT_TRUE(contains(clock, "S3 refuses requests signed more than 15 minutes off")) << clock;
  EXPECT_TRUE(contains(clock, "fix: synchronise this machine's clock: sudo timedatectl set-ntp true")) << clock;
}

// No go command, then a go too old for GOCACHEPROG (a script that answers
// as go1.22 does).
TEST(DoctorTest, NoGoOrAnOldGoFails) {
  DoctorSetup setup;
  const auto no_go = setup.doctor({"--lazy", "off"}, {{"PATH", "/nonexistent"}});
  EXPECT_EQ(no_go.exit_code, 1) << no_go.out;
  EXPECT_EQ(no_go.err, "");
  const std::string missing = line_of(no_go.out, "go");
  EXPECT_TRUE(missing.starts_with("FAIL")) << no_go.out;
  EXPECT_TRUE(contains(missing, "no go command on PATH (/nonexistent)")) << missing;
  EXPECT_TRUE(contains(missing, "fix: install Go 1.24 or newer")) << missing;

  const std::string bin = setup.path("old-go");
  fs::create_directories(bin);
  write_file(bin + "/go",
             "#!/bin/sh\n"
             "if [ \"$*\" = \"env GOVERSION GOCACHEPROG\" ]; then echo go1.22.5; echo; else echo bad; exit 2; fi\n");
  chmod((bin + "/go").c_str(), 0755);
  const auto old_go = setup.doctor({"--lazy", "off"}, {{"PATH", bin + ":/usr/bin:/bin"}});
  EXPECT_EQ(old_go.exit_code, 1) << old_go.out;
  const std::string old = line_of(old_go.out, "go");
  EXPECT_TRUE(old.starts_with("FAIL")) << old_go.out;
  EXPECT_TRUE(contains(old, "go1.22.5 at " + bin + "/go is older than go1.24, the first to run GOCACHEPROG")) << old;
  EXPECT_TRUE(contains(old, "or set GOTOOLCHAIN=go1.24.0 (or newer)")) << old;
}

TEST(DoctorTest, GocacheprogUnsetWarnsAndAMissingProgramFails) {
  DoctorSetup setup;
  const auto unset = setup.doctor({"--lazy", "off"}, {{"GOCACHEPROG", ""}});
  EXPECT_EQ(unset.exit_code, 0) << unset.out;
  const std::string not_set = line_of(unset.out, "GOCACHEPROG");
  EXPECT_TRUE(not_set.starts_with("WARN")) << unset.out;
  EXPECT_TRUE(contains(not_set, "not set in `go env`: go commands use their own GOCACHE")) << not_set;
  EXPECT_TRUE(contains(not_set, "fix: go env -w GOCACHEPROG=gocachefs")) << not_set;

  const auto missing = setup.doctor({"--lazy", "off"}, {{"GOCACHEPROG", "/nonexistent/gocachefs"}});
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  const std::string absent = line_of(missing.out, "GOCACHEPROG");
  EXPECT_TRUE(absent.starts_with("FAIL")) << missing.out;
  EXPECT_TRUE(contains(absent, "/nonexistent/gocachefs is not an executable file, so every go command fails")) << absent;

  // The go command's gocachefs uses another store: say how to check that one.
  const auto elsewhere =
      setup.doctor({"--lazy", "off"}, {{"GOCACHEPROG", setup.binary() + " --dir '" + setup.path("other store") + "'"}});
  EXPECT_EQ(elsewhere.exit_code, 0) << elsewhere.out;
  EXPECT_TRUE(contains(line_of(elsewhere.out, "GOCACHEPROG"),
                       "fix: check that setup: gocachefs doctor --dir '" + setup.path("other store") + "'"))
      << elsewhere.out;
}

}  // namespace
}  // namespace gocachefs::testing
