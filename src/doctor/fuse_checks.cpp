// FUSE and the daemon: the lazy mount needs /dev/fuse, fusermount3 and the
// right to mount (checked with a real test mount); without them remote hits
// are fetched eagerly, or fail with --lazy=on. The store's daemon, if it
// runs, must answer and its mount must not be hung or stale.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "fuse/mount.h"
#include "src/daemon/daemon.h"
#include "src/daemon/daemon_socket.h"
#include "src/doctor/check.h"

namespace gocachefs::doctor {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr long kFuseSuperMagic = 0x65735546;

// Sends fd 2 to /dev/null while it lives: fusermount3 and libfuse complain
// on stderr, and doctor's findings go to stdout only.
class QuietStderr {
 public:
  QuietStderr() : saved_(dup(STDERR_FILENO)) {
    std::fflush(stderr);
    const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd >= 0) {
      dup2(null_fd, STDERR_FILENO);
      close(null_fd);
    }
  }
  ~QuietStderr() {
    if (saved_ < 0) return;
    dup2(saved_, STDERR_FILENO);
    close(saved_);
  }
  QuietStderr(const QuietStderr&) = delete;
  QuietStderr& operator=(const QuietStderr&) = delete;

 private:
  int saved_;
};

struct MountAnswer {
  bool answered = false;  // false: no answer within the timeout (a hung FUSE server)
  int error = 0;          // errno of statfs, 0 when it worked
  long type = 0;          // f_type when it worked
};

// statfs() of `dir`, given up after `timeout`: a FUSE server that hangs makes
// it wait forever, and doctor must still report. statfs rather than stat:
// the kernel answers stat from attributes it cached while the server lived.
MountAnswer statfs_within(const fs::path& dir, std::chrono::milliseconds timeout) {
  struct Shared {
    std::mutex mutex;
    std::condition_variable done;
    std::optional<MountAnswer> answer;
  };
  auto shared = std::make_shared<Shared>();
  std::thread([shared, path = dir.string()] {
    struct statfs st {};
    MountAnswer answer{.answered = true};
    if (::statfs(path.c_str(), &st) != 0) {
      answer.error = errno;
    } else {
      answer.type = static_cast<long>(st.f_type);
    }
    std::lock_guard lock(shared->mutex);
    shared->answer = answer;
    shared->done.notify_one();
  }).detach();  // left behind if the mount never answers; the process ends soon anyway
  std::unique_lock lock(shared->mutex);
  shared->done.wait_for(lock, timeout, [&] { return shared->answer.has_value(); });
  return shared->answer.value_or(MountAnswer{});
}

bool stale_mount_error(int error) { return error == ENOTCONN || error == ECONNABORTED; }

// The reason FUSE does not work here, or empty.
std::string fuse_problem(std::string* fix) {
  struct stat st {};
  if (::stat("/dev/fuse", &st) != 0) {
    const std::string why = std::strerror(errno);
    *fix = "sudo modprobe fuse; in a container, run it with --device /dev/fuse --cap-add SYS_ADMIN";
    return "no /dev/fuse (" + why + ")";
  }
  if (const int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC); fd >= 0) {
    close(fd);
  } else {
    const std::string why = std::strerror(errno);
    *fix = "sudo chmod 0666 /dev/fuse (the mode Debian's udev rule for fuse3 gives it)";
    return "cannot open /dev/fuse read-write as " + user_name(geteuid()) + " (" + why + "; mode " +
           octal_mode(st.st_mode) + ", owner " + user_name(st.st_uid) + ")";
  }
  // libfuse looks in its install directory first, then on PATH.
  if (access("/usr/bin/fusermount3", X_OK) != 0 && find_on_path("fusermount3").empty()) {
    *fix = "sudo apt-get install fuse3";
    return "fusermount3 is not installed";
  }
  std::string problem;
  {
    QuietStderr quiet;
    problem = probe_fuse();  // a real mount of an empty filesystem in a temp dir
  }
  if (!problem.empty()) {
    *fix = "in a container, run it with --cap-add SYS_ADMIN (and --device /dev/fuse); elsewhere check that "
           "fusermount3 is setuid root (ls -l $(command -v fusermount3))";
  }
  return problem;
}

}  // namespace

std::optional<CheckResult> check_fuse(Context& ctx) {
  if (!ctx.settings) return std::nullopt;
  const Settings& s = *ctx.settings;
  if (s.lazy == LazyMode::kOff) return ok("FUSE", "not used: lazy mode is off (--lazy=off or GOCACHEFS_LAZY=off)");
  std::string fix;
  const std::string problem = fuse_problem(&fix);
  ctx.fuse_fails = !problem.empty();
  if (problem.empty()) {
    return ok("FUSE", "/dev/fuse opens, fusermount3 is installed and a test mount worked: remote hits are served "
                      "lazily");
  }
  if (s.lazy == LazyMode::kOn && !s.remote.url.empty()) {
    return fail("FUSE",
                problem + "; with --lazy=on (or GOCACHEFS_LAZY=on) remote hits then fail",
                fix + "; or use --lazy=auto to fall back to eager fetches");
  }
  const std::string consequence = s.remote.url.empty()
                                      ? "; lazy mode (for remote hits, once a remote is set) would fall back to eager "
                                        "fetches"
                                      : "; lazy mode falls back to eager fetches (each remote hit downloads the "
                                        "whole object)";
  return warn("FUSE", problem + consequence, fix);
}

std::optional<CheckResult> check_daemon(const Context& ctx) {
  if (!ctx.settings || access(ctx.store_dir.c_str(), R_OK | X_OK) != 0) return std::nullopt;
  const Settings& s = *ctx.settings;
  const fs::path socket = daemon_socket_path(s.store_dir);
  if (const int fd = connect_to(socket); fd >= 0) {
    LineConnection daemon(fd);
    const auto status = daemon.send({{"op", "status"}}) ? daemon.receive(3000) : std::nullopt;
    if (!status) {
      return fail("daemon", "a daemon listens on " + socket.string() + " but does not answer within 3 s",
                  stop_command(ctx) + "; if that hangs, kill its `gocachefs daemon` process and run fusermount3 -u -z " +
                      quote(s.mount_dir));
    }
    const fs::path mount = status->value("mount", s.mount_dir.string());
    const MountAnswer answer = statfs_within(mount, 3s);
    const std::string unmount = stop_command(ctx) + ", or fusermount3 -u -z " + quote(mount);
    if (!answer.answered) {
      return fail("daemon", "running, but its mount " + mount.string() + " does not answer within 3 s (hung)",
                  unmount);
    }
    if (stale_mount_error(answer.error)) {
      return fail("daemon",
                  "running, but its mount " + mount.string() + " is stale (" + std::strerror(answer.error) +
                      "): reads of lazily served files fail",
                  unmount);
    }
    if (answer.error != 0) {
      return fail("daemon", "running, but its mount " + mount.string() + " fails: " + std::strerror(answer.error),
                  stop_command(ctx) + " (the next go command starts a new daemon)");
    }
    if (answer.type != kFuseSuperMagic) {
      return fail("daemon", "running, but nothing is mounted at " + mount.string(),
                  stop_command(ctx) + " (the next go command starts a new daemon)");
    }
    return ok("daemon", "running; its mount " + mount.string() + " answers");
  }
  // None runs: a killed one may have left its mount behind.
  const MountAnswer answer = statfs_within(s.mount_dir, 3s);
  if (!answer.answered || stale_mount_error(answer.error)) {
    return warn("daemon",
                "not running, but " + s.mount_dir.string() +
                    (answer.answered ? " is a stale mount left by a killed daemon (" + std::string(std::strerror(answer.error)) + ")"
                                     : " does not answer (a mount left by a hung daemon)") +
                    "; the next daemon unmounts it before mounting",
                "fusermount3 -u -z " + quote(s.mount_dir));
  }
  std::error_code ec;
  const fs::path failure = daemon_failure_path(s.store_dir);
  const auto written = fs::last_write_time(failure, ec);
  if (!ec && fs::file_time_type::clock::now() - written < kDaemonFailureMemory && !s.remote.url.empty() &&
      s.lazy != LazyMode::kOff) {
    std::string reason;
    std::getline(std::ifstream(failure), reason);
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(fs::file_time_type::clock::now() - written);
    return warn("daemon",
                "not running; its last start, " + std::to_string(minutes.count()) + " min ago, failed (" +
                    (reason.empty() ? "no reason recorded" : reason) +
                    "): go commands fetch remote hits eagerly for 10 minutes after that",
                "fix what it names (see the FUSE line), then rm " + quote(failure) + " to retry at once");
  }
  if (s.remote.url.empty() || s.lazy == LazyMode::kOff) {
    return ok("daemon", std::string("not used (") + (s.remote.url.empty() ? "no remote" : "lazy mode off") + ")");
  }
  if (ctx.fuse_fails) return ok("daemon", "not running, and cannot mount while FUSE does not work (see the FUSE line)");
  return ok("daemon", "not running: the first go command with a remote hit starts it");
}

}  // namespace gocachefs::doctor
