// `gocachefs doctor` (see doctor.h). Each check is a small function that
// returns what it found: OK, WARN or FAIL, the finding, and for the latter
// two the command or setting that fixes it. run_doctor() runs them in order,
// printing each as it finishes, and shares what earlier checks learned
// (settings, whether the remote answers) through a Context.
//
// Doctor changes nothing in the user's setup. What it does touch: a probe
// file created and removed in the store (to see it is writable, as a
// read-only mount fools access() for root), a test FUSE mount in a temp dir,
// and, unless the remote is read-only, one small content-addressed entry
// uploaded to the remote (cas/<its SHA-256>, so it can never be mistaken for
// anything else).
#include "src/doctor.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <strings.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fuse/mount.h"
#include "src/cache_program.h"
#include "src/daemon/daemon.h"
#include "src/daemon/daemon_socket.h"
#include "store/index.h"
#include "store/remote/remote.h"
#include "store/remote/s3_remote.h"
#include "store/sha256.h"

extern char** environ;

namespace gocachefs {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Go 1.24 is the first to run GOCACHEPROG without GOEXPERIMENT=cacheprog.
constexpr int kMinGoMinor = 24;
// Below either, builds may soon fail to store their outputs.
constexpr std::uint64_t kLowFreeBytes = 1ULL << 30;
constexpr double kLowFreeFraction = 0.05;
// Uploads queued in the index: beyond this, worth a look.
constexpr std::uint64_t kLargeUploadBacklog = 1000;
// AWS Signature V4 refuses requests signed with a clock this far off.
constexpr auto kSigV4MaxSkew = 15min;
constexpr auto kSkewWarning = 5min;
constexpr long kFuseSuperMagic = 0x65735546;
// The remote checks must not take a minute each against a black hole.
constexpr long kRemoteConnectTimeoutMs = 3000;
constexpr long kRemoteRequestTimeoutMs = 15000;
// Bytes of the write probe: content addressed, the same entry every time.
constexpr std::string_view kWriteProbe = "gocachefs doctor: write probe\n";
// Text of the read probe's key: no build output hashes to it.
constexpr std::string_view kReadProbeSeed = "gocachefs doctor: a key no entry has";

// ---- What a check finds ----------------------------------------------------

enum class Verdict { kOk, kWarn, kFail };

struct CheckResult {
  std::string name;  // "store", "FUSE", ...
  Verdict verdict = Verdict::kOk;
  std::string found;  // what the check found: paths, values, errors
  std::string fix;    // the command or setting that fixes it (WARN and FAIL)
};

CheckResult ok(std::string name, std::string found) { return {std::move(name), Verdict::kOk, std::move(found), ""}; }
CheckResult warn(std::string name, std::string found, std::string fix) {
  return {std::move(name), Verdict::kWarn, std::move(found), std::move(fix)};
}
CheckResult fail(std::string name, std::string found, std::string fix) {
  return {std::move(name), Verdict::kFail, std::move(found), std::move(fix)};
}

// What the checks share.
struct Context {
  Flags flags;
  std::optional<Settings> settings;  // empty when they do not resolve (the settings check says why)
  fs::path store_dir;                // empty when not even the store resolves
  bool index_readable = false;       // the index check opened it and found it sound
  bool fuse_fails = false;           // the FUSE check found it does not work here
  std::unique_ptr<Remote> remote;    // when one is configured and its URL makes sense
  std::optional<RemoteResult::Status> remote_read;  // what the read probe got
  bool remote_failing() const {
    return remote_read && *remote_read != RemoteResult::kOk && *remote_read != RemoteResult::kNotFound;
  }
};

// ---- Small helpers -----------------------------------------------------------

// `text` as one shell word, for fix commands the user may paste.
std::string shell_quote(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                              "/._-+=:,@%") == std::string::npos) {
    return text;
  }
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string quote(const fs::path& path) { return shell_quote(path.string()); }

// "alice (uid 1000)"
std::string user_name(uid_t uid) {
  const passwd* entry = getpwuid(uid);
  const std::string id = "uid " + std::to_string(uid);
  return entry ? std::string(entry->pw_name) + " (" + id + ")" : id;
}

// A name for chown commands: the login name, else the number.
std::string chown_name(uid_t uid) {
  const passwd* entry = getpwuid(uid);
  return entry ? entry->pw_name : std::to_string(uid);
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string format_bytes(std::uint64_t bytes) {
  char text[32];
  if (bytes >= (1ULL << 30)) {
    std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1ULL << 30));
  } else {
    std::snprintf(text, sizeof text, "%.0f MiB", static_cast<double>(bytes) / (1ULL << 20));
  }
  return text;
}

// `name` on PATH, as the shell would find it; empty when it is not there.
std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

// The closest directory at or above `path` that exists: where a store that
// does not exist yet would be created.
fs::path nearest_existing(fs::path path) {
  std::error_code ec;
  while (!fs::exists(path, ec) && path.has_parent_path() && path != path.parent_path()) path = path.parent_path();
  return path;
}

struct ProgramOutput {
  int exit_code = -1;
  std::string out;
};

// Runs `argv` with stdin and stderr on /dev/null (doctor's stderr stays
// quiet); its stdout. Empty when it cannot start or outlives `timeout`.
std::optional<ProgramOutput> run_program(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = argv;
  std::vector<char*> arg_pointers;
  for (auto& arg : args) arg_pointers.push_back(arg.data());
  arg_pointers.push_back(nullptr);
  pid_t pid = -1;
  const int error = posix_spawnp(&pid, args[0].c_str(), &actions, nullptr, arg_pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  if (error != 0) {
    close(out_pipe[0]);
    return std::nullopt;
  }
  ProgramOutput output;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd readable{out_pipe[0], POLLIN, 0};
    const int ready = left.count() > 0 ? poll(&readable, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    char buffer[4096];
    const ssize_t n = read(out_pipe[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.out.append(buffer, static_cast<std::size_t>(n));
  }
  close(out_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return std::nullopt;
  output.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return output;
}

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

// `gocachefs stop`, with the flags that name this store.
std::string stop_command(const Context& ctx) {
  return ctx.flags.dir.empty() ? "gocachefs stop" : "gocachefs stop --dir " + quote(ctx.store_dir);
}

std::string lazy_mode_name(LazyMode mode) {
  switch (mode) {
    case LazyMode::kOn:
      return "on";
    case LazyMode::kOff:
      return "off";
    case LazyMode::kAuto:
      break;
  }
  return "auto";
}

// ---- The go command ------------------------------------------------------------

// `go env` once: the go check and the GOCACHEPROG check share it.
struct GoEnv {
  std::string go_path;  // empty: no go on PATH
  bool ran = false;     // `go env` ran and succeeded
  int exit_code = -1;
  std::string version;    // "go1.26.8"
  std::string cacheprog;  // `go env GOCACHEPROG`
};

GoEnv read_go_env() {
  GoEnv go;
  go.go_path = find_on_path("go");
  if (go.go_path.empty()) return go;
  const auto result = run_program({go.go_path, "env", "GOVERSION", "GOCACHEPROG"}, 30s);
  if (!result) return go;
  go.exit_code = result->exit_code;
  if (result->exit_code != 0) return go;
  go.ran = true;
  std::istringstream lines(result->out);
  std::getline(lines, go.version);
  std::getline(lines, go.cacheprog);
  if (go.version.empty()) {  // a go from before GOVERSION: "go version go1.15.2 linux/amd64"
    if (const auto version = run_program({go.go_path, "version"}, 30s)) go.version = version->out;
  }
  return go;
}

CheckResult check_go_version(const GoEnv& go) {
  const std::string install = "install Go 1.24 or newer (https://go.dev/dl) and put its bin directory on PATH";
  if (go.go_path.empty()) {
    const char* path = std::getenv("PATH");
    return fail("go", std::string("no go command on PATH (") + (path ? path : "PATH is not set") + ")", install);
  }
  if (!go.ran) {
    return fail("go", go.go_path + " env failed" + (go.exit_code >= 0 ? " (exit " + std::to_string(go.exit_code) + ")" : ""),
                "run `go env` to see why (a bad GOENV file or GOTOOLCHAIN setting, say)");
  }
  std::smatch match;
  static const std::regex version_pattern(R"(go(\d+)\.(\d+))");
  if (go.version.find("devel") != std::string::npos) return ok("go", go.version + " at " + go.go_path + " (a development build)");
  if (!std::regex_search(go.version, match, version_pattern)) {
    return warn("go", "cannot tell the version of " + go.go_path + " from \"" + go.version + "\"",
                "make sure `go version` says go1.24 or newer");
  }
  const int major = std::stoi(match[1].str());
  const int minor = std::stoi(match[2].str());
  if (major == 1 && minor < kMinGoMinor) {
    return fail("go",
                go.version + " at " + go.go_path + " is older than go1.24, the first to run GOCACHEPROG: " +
                    "it ignores gocachefs",
                install + ", or set GOTOOLCHAIN=go1.24.0 (or newer) to have go fetch one");
  }
  return ok("go", go.version + " at " + go.go_path);
}

// GOCACHEPROG split into words as cmd/go splits it (cmd/internal/quoted):
// spaces separate, and a word may be quoted whole with ' or ".
std::vector<std::string> split_like_go(const std::string& text) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    if (text[i] == '\'' || text[i] == '"') {
      const std::size_t end = text.find(text[i], i + 1);
      words.push_back(text.substr(i + 1, end == std::string::npos ? std::string::npos : end - i - 1));
      i = end == std::string::npos ? text.size() : end + 1;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
    words.push_back(text.substr(i, end - i));
    i = end;
  }
  return words;
}

// The value of `--name X` or `--name=X` among `words`, if given.
std::optional<std::string> flag_value(const std::vector<std::string>& words, const std::string& name) {
  for (std::size_t i = 1; i < words.size(); ++i) {
    if (words[i] == name && i + 1 < words.size()) return words[i + 1];
    if (words[i].starts_with(name + "=")) return words[i].substr(name.size() + 1);
  }
  return std::nullopt;
}

// Whether the go command runs gocachefs, and with the store checked here.
// Not set is a warning, not a failure: GOCACHEPROG is often set per command
// or by CI rather than in `go env`, and go commands without it still build
// (with their own GOCACHE). Set to a program that is not there is a failure:
// every go command then stops with an error.
std::optional<CheckResult> check_gocacheprog(const GoEnv& go, const Context& ctx) {
  if (!go.ran) return std::nullopt;  // the go check said why
  const std::string set_it = "go env -w GOCACHEPROG=gocachefs (or set GOCACHEPROG for each go command)";
  if (go.cacheprog.empty()) {
    return warn("GOCACHEPROG", "not set in `go env`: go commands use their own GOCACHE, not gocachefs", set_it);
  }
  const auto words = split_like_go(go.cacheprog);
  const std::string shown = "GOCACHEPROG=\"" + go.cacheprog + "\"";
  if (words.empty()) return warn("GOCACHEPROG", shown + " names no program", set_it);
  // cmd/go runs it as exec.Command would: a name with a slash as a path,
  // else looked up on PATH.
  const std::string program = words[0].find('/') != std::string::npos ? words[0] : find_on_path(words[0]);
  if (program.empty() || access(program.c_str(), X_OK) != 0) {
    return fail("GOCACHEPROG",
                shown + ": " + words[0] + (program.empty() ? " is not on PATH" : " is not an executable file") +
                    ", so every go command fails to start it",
                "put gocachefs on PATH (sudo cmake --install build) or name it by its full path: go env -w "
                "GOCACHEPROG=/path/to/gocachefs");
  }
  std::error_code ec;
  const fs::path runs = fs::weakly_canonical(program, ec);
  const fs::path self = fs::weakly_canonical("/proc/self/exe", ec);
  if (runs.filename() != "gocachefs" && runs != self) {
    return warn("GOCACHEPROG", shown + " runs " + runs.string() + ", not gocachefs", set_it);
  }
  // The go command's gocachefs may use another store or remote than the one
  // checked here: say how to check that one.
  std::vector<std::string> differences;
  if (const auto dir = flag_value(words, "--dir"); dir && !ctx.store_dir.empty()) {
    try {
      if (resolve_store_dir(*dir) != ctx.store_dir) differences.push_back("--dir " + shell_quote(*dir));
    } catch (const SettingsError&) {
    }
  }
  if (const auto remote = flag_value(words, "--remote"); remote && ctx.settings && *remote != ctx.settings->remote.url) {
    differences.push_back("--remote " + shell_quote(redact_url(*remote)));
  }
  std::string which = runs == self ? "this gocachefs (" + runs.string() + ")" : "gocachefs at " + runs.string();
  if (!differences.empty()) {
    std::string flags;
    for (const auto& d : differences) flags += " " + d;
    return warn("GOCACHEPROG", shown + " runs " + which + " with" + flags + ", not what doctor checked here",
                "check that setup: gocachefs doctor" + flags);
  }
  return ok("GOCACHEPROG", "runs " + which);
}

// ---- Settings --------------------------------------------------------------------

CheckResult check_settings(Context& ctx) {
  try {
    ctx.settings = resolve_settings(ctx.flags);
  } catch (const std::exception& e) {  // SettingsError, or the file system's
    try {
      ctx.store_dir = resolve_store_dir(ctx.flags.dir);
    } catch (const std::exception&) {
    }
    return fail("settings", std::string(e.what()) + ": every go command would stop with this error",
                "correct the flag or GOCACHEFS_* variable it names (gocachefs --help lists them)");
  }
  const Settings& s = *ctx.settings;
  ctx.store_dir = s.store_dir;
  std::string remote = s.remote.url.empty() ? "none" : redact_url(s.remote.url);
  if (s.remote.settings.read_only) remote += " (read-only)";
  return ok("settings", "store " + s.store_dir.string() + ", remote " + remote + ", lazy " + lazy_mode_name(s.lazy));
}

// ---- The store -----------------------------------------------------------------

std::string use_another_store() { return "choose a store you can write with --dir or GOCACHEFS_DIR"; }

// Exists (or can be created), is a directory we can read and write.
std::optional<CheckResult> check_store_access(const Context& ctx) {
  if (ctx.store_dir.empty()) return std::nullopt;  // the settings check said why
  const fs::path& dir = ctx.store_dir;
  const std::string me = user_name(geteuid());
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      const std::string why = std::strerror(errno);
      return fail("store", "cannot look at " + dir.string() + ": " + why,
                  "make every directory on the way readable for " + me + ", or " + use_another_store());
    }
    const fs::path parent = nearest_existing(dir);
    if (access(parent.c_str(), W_OK | X_OK) == 0) {
      return ok("store", dir.string() + " does not exist yet: the first go command creates it");
    }
    return fail("store",
                dir.string() + " does not exist and cannot be created: " + parent.string() + " is not writable for " +
                    me + ", so every go command fails to start gocachefs",
                "sudo mkdir -p " + quote(dir) + " && sudo chown " + chown_name(geteuid()) + " " + quote(dir) + ", or " +
                    use_another_store());
  }
  if (!S_ISDIR(st.st_mode)) {
    return fail("store", dir.string() + " is not a directory, so every go command fails to start gocachefs",
                "move it away (mv " + quote(dir) + " " + quote(dir.string() + ".old") + "), or " + use_another_store());
  }
  const std::string owner_fix = st.st_uid == geteuid()
                                    ? "chmod u+rwx " + quote(dir)
                                    : "sudo chown -R " + chown_name(geteuid()) + " " + quote(dir);
  if (access(dir.c_str(), R_OK | X_OK) != 0) {
    const std::string why = std::strerror(errno);  // before anything else sets errno
    return fail("store",
                "cannot read " + dir.string() + " (" + why + "; mode " + octal_mode(st.st_mode) +
                    ", owner " + user_name(st.st_uid) + ", you are " + me +
                    "), so every go command fails to start gocachefs",
                owner_fix + ", or " + use_another_store());
  }
  // A real file, as gocachefs makes: access() cannot tell a read-only mount for root.
  std::string probe = (dir / ".doctor-probe-XXXXXX").string();
  const int fd = mkstemp(probe.data());
  if (fd < 0) {
    const std::string why = std::strerror(errno);
    return warn("store",
                "cannot write in " + dir.string() + " (" + why + "; mode " + octal_mode(st.st_mode) + ", owner " +
                    user_name(st.st_uid) + "): gocachefs serves what it holds read-only and keeps new entries only "
                    "for the length of one go command",
                owner_fix + ", or " + use_another_store());
  }
  close(fd);
  unlink(probe.c_str());
  // What gocachefs writes in it.
  for (const char* name : {"index.sqlite", "index.sqlite-wal", "index.sqlite-shm", "objects", "tmp", "gocachefs.log"}) {
    const fs::path file = dir / name;
    struct stat file_st {};
    if (::lstat(file.c_str(), &file_st) != 0 || access(file.c_str(), W_OK) == 0) continue;
    return warn("store",
                file.string() + " is not writable for " + me + " (owner " + user_name(file_st.st_uid) + ", mode " +
                    octal_mode(file_st.st_mode) + "): gocachefs serves the store read-only",
                "sudo chown -R " + chown_name(geteuid()) + " " + quote(dir) + ", or " + use_another_store());
  }
  return ok("store", dir.string() + " is readable and writable");
}

// A store shared between users (a `sudo go build` that made root files in
// it) is a common way to end up with a read-only or unreadable store.
std::optional<CheckResult> check_store_owner(const Context& ctx) {
  struct stat st {};
  if (ctx.store_dir.empty() || ::stat(ctx.store_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  const uid_t me = geteuid();
  const std::string fix = "sudo chown -R " + chown_name(me) + " " + quote(ctx.store_dir) +
                          ", or give each user a store of their own (--dir or GOCACHEFS_DIR)";
  if (st.st_uid != me) {
    return warn("store owner",
                ctx.store_dir.string() + " belongs to " + user_name(st.st_uid) + ", not to you, " + user_name(me) +
                    ": what gocachefs writes there is yours, and either of you may be unable to use the other's",
                fix);
  }
  // Its top-level files, but not the mount point: its owner is the mount's.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(ctx.store_dir, ec)) {
    const auto name = entry.path().filename();
    if (name == "mnt" || (ctx.settings && entry.path() == ctx.settings->mount_dir)) continue;
    struct stat entry_st {};
    if (::lstat(entry.path().c_str(), &entry_st) == 0 && entry_st.st_uid != me) {
      return warn("store owner",
                  entry.path().string() + " belongs to " + user_name(entry_st.st_uid) + ", not to you, " +
                      user_name(me) + ", who own the store: a go command run as that user (sudo?) made it",
                  fix);
    }
  }
  return ok("store owner", "you, " + user_name(me));
}

std::optional<CheckResult> check_free_space(const Context& ctx) {
  if (ctx.store_dir.empty()) return std::nullopt;
  const fs::path on = nearest_existing(ctx.store_dir);
  struct statvfs st {};
  if (::statvfs(on.c_str(), &st) != 0) {
    const std::string why = std::strerror(errno);
    return warn("free space", "cannot tell the free space at " + on.string() + ": " + why,
                "run df " + quote(on));
  }
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  const std::uint64_t total_bytes = static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize;
  const std::string found = format_bytes(free_bytes) + " free of " + format_bytes(total_bytes) + " on the filesystem of " +
                            ctx.store_dir.string();
  if (free_bytes < kLowFreeBytes || static_cast<double>(free_bytes) < kLowFreeFraction * static_cast<double>(total_bytes)) {
    return warn("free space",
                found + " (under 1 GiB or 5%): once it is full, builds' outputs are no longer cached",
                "free space there (gocachefs trim --max-size 5GiB shrinks the store to its most recently used "
                "5 GiB), or move the store to a larger filesystem with --dir or GOCACHEFS_DIR");
  }
  return ok("free space", found);
}

// SQLite's URI for opening `path` read-only: ?, # and % escaped.
std::string sqlite_uri(const fs::path& path, const char* query) {
  std::string uri = "file:";
  for (const char c : path.string()) {
    if (c == '%' || c == '?' || c == '#') {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", static_cast<unsigned char>(c));
      uri += escaped;
    } else {
      uri += c;
    }
  }
  return uri + query;
}

struct QuickCheck {
  int code = SQLITE_OK;  // of the first error
  std::string error;     // SQLite's message; empty when it ran
  std::string answer;    // quick_check's first line: "ok" when sound
};

// PRAGMA quick_check on a read-only connection; ?immutable=1 when mode=ro
// cannot open it (no -shm file and a directory we cannot create it in).
QuickCheck run_quick_check(const fs::path& db_path) {
  QuickCheck result;
  for (const char* query : {"?mode=ro", "?immutable=1"}) {
    sqlite3* db = nullptr;
    result = {};
    int code = sqlite3_open_v2(sqlite_uri(db_path, query).c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
    sqlite3_stmt* statement = nullptr;
    if (code == SQLITE_OK) {
      sqlite3_busy_timeout(db, 5000);
      code = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &statement, nullptr);
    }
    if (code == SQLITE_OK) {
      code = sqlite3_step(statement);
      if (code == SQLITE_ROW) {
        const auto* text = sqlite3_column_text(statement, 0);
        result.answer = text ? reinterpret_cast<const char*>(text) : "";
        code = SQLITE_OK;
      } else if (code == SQLITE_DONE) {
        code = SQLITE_OK;
      }
    }
    if (code != SQLITE_OK) {
      result.code = code;
      result.error = db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    }
    sqlite3_finalize(statement);
    sqlite3_close_v2(db);
    if ((code & 0xff) != SQLITE_CANTOPEN) break;
  }
  return result;
}

std::optional<CheckResult> check_index(Context& ctx) {
  if (ctx.store_dir.empty() || access(ctx.store_dir.c_str(), R_OK | X_OK) != 0) return std::nullopt;
  const fs::path db_path = index_path(ctx.store_dir);
  std::error_code ec;
  if (!fs::exists(db_path, ec)) return ok("index", "none yet: the first go command creates " + db_path.string());
  const QuickCheck check = run_quick_check(db_path);
  const int primary = check.code & 0xff;
  if (check.error.empty() && check.answer == "ok") {
    ctx.index_readable = true;
    return ok("index", db_path.string() + " passes SQLite's quick_check");
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return warn("index", db_path.string() + " stayed locked by another process for 5 s: not checked",
                "run gocachefs doctor again when builds are quieter");
  }
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_PERM || primary == SQLITE_AUTH) {
    return fail("index", "cannot open " + db_path.string() + ": " + check.error,
                "sudo chown -R " + chown_name(geteuid()) + " " + quote(ctx.store_dir));
  }
  // Damage: SQLite says so (SQLITE_CORRUPT, SQLITE_NOTADB) or quick_check
  // lists problems. gocachefs mends it by itself at its next open, but
  // forgetting every entry, and the user should know.
  const std::string what = check.error.empty() ? "quick_check: " + check.answer : check.error;
  const std::string db = quote(db_path);
  return fail("index",
              db_path.string() + " is damaged (" + what +
                  "): the next go command moves it aside and starts an empty one (entries are forgotten; objects "
                  "stay and are found again as builds put them)",
              "to do it now: " + stop_command(ctx) + " && mv " + db + " " + quote(db_path.string() + ".damaged") +
                  " && rm -f " + quote(db_path.string() + "-wal") + " " + quote(db_path.string() + "-shm"));
}

// ---- FUSE and the daemon ---------------------------------------------------------

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

// ---- The remote --------------------------------------------------------------------

// How to give a remote the right credentials, by the kind of URL.
std::string credentials_fix(const std::string& url) {
  if (url.starts_with("s3://")) {
    return "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the keys of AWS_PROFILE in ~/.aws/credentials), "
           "and the clock (a skew over 15 minutes also fails signatures)";
  }
  if (url.starts_with("file://")) return "give " + user_name(geteuid()) + " read and write access to that directory";
  return "check the user:password in the URL (https://user:PASSWORD@host/prefix) or GOCACHEFS_REMOTE_TOKEN";
}

std::optional<CheckResult> check_remote_read(Context& ctx) {
  if (!ctx.settings) return std::nullopt;
  const RemoteConfig& config = ctx.settings->remote;
  if (config.url.empty()) {
    return ok("remote", "none configured: this store serves this machine only (--remote or GOCACHEFS_REMOTE shares it)");
  }
  RemoteOptions options = config.options;
  options.connect_timeout_ms = kRemoteConnectTimeoutMs;
  options.request_timeout_ms = kRemoteRequestTimeoutMs;
  try {
    ctx.remote = make_remote(config.url, options);
  } catch (const std::exception& e) {  // std::invalid_argument, or the credentials' own errors
    return fail("remote", std::string(e.what()) + ": gocachefs works without it (local store only)",
                "correct GOCACHEFS_REMOTE or --remote: file:///path, http(s)://host/prefix or "
                "s3://bucket/prefix?region=R&endpoint=URL");
  }
  const std::string where = ctx.remote->describe();
  // A key nothing has: "not found" is the answer of a remote that reads.
  const std::string key = "ac/" + to_hex(Sha256::of(kReadProbeSeed));
  const RemoteResult result = ctx.remote->fetch(key, [](const char*, std::size_t) { return true; });
  ctx.remote_read = result.status;
  switch (result.status) {
    case RemoteResult::kOk:
    case RemoteResult::kNotFound:
      return ok("remote read", where + " answers and lets us read");
    case RemoteResult::kUnauthorized:
      return fail("remote read", where + " refuses our credentials (" + result.error + "): every remote lookup misses",
                  credentials_fix(config.url));
    case RemoteResult::kFailed:
      break;
  }
  return fail("remote read",
              "cannot reach " + where + " (" + result.error +
                  "): builds still work, but each miss costs a failed request until gocachefs leaves the remote "
                  "alone for a while",
              "start the server or correct the URL in GOCACHEFS_REMOTE or --remote (unset it to work locally)");
}

std::optional<CheckResult> check_remote_write(const Context& ctx) {
  if (!ctx.remote || !ctx.remote_read) return std::nullopt;
  if (ctx.settings->remote.settings.read_only) {
    return ok("remote write", "not tried: the remote is read-only here (--remote-read-only or GOCACHEFS_REMOTE_READ_ONLY)");
  }
  // Unreachable or refusing our credentials: the read line said so, and an
  // upload would only fail the same way.
  if (ctx.remote_failing()) return std::nullopt;
  const std::string where = ctx.remote->describe();
  const std::string key = "cas/" + to_hex(Sha256::of(kWriteProbe));
  const RemoteResult result = ctx.remote->store_bytes(key, kWriteProbe);
  const std::string read_only = "or set GOCACHEFS_REMOTE_READ_ONLY=1 (--remote-read-only) where uploads are not wanted";
  switch (result.status) {
    case RemoteResult::kOk:
      return ok("remote write", "uploaded a " + std::to_string(kWriteProbe.size()) + "-byte probe to " + key);
    case RemoteResult::kUnauthorized:
      return fail("remote write",
                  where + " refuses uploads (" + result.error + "): builds' outputs are never shared",
                  "use credentials that may write, " + read_only);
    case RemoteResult::kNotFound:
    case RemoteResult::kFailed:
      break;
  }
  return fail("remote write",
              "uploading to " + where + " failed (" + (result.error.empty() ? "not found" : result.error) +
                  "): builds' outputs are never shared",
              "make the server accept PUT (nginx: dav_methods PUT; create_full_put_path on) and check its free space, " +
                  read_only);
}

size_t collect_date_header(char* data, size_t size, size_t count, void* user) {
  const std::string line(data, size * count);
  if (line.size() > 5 && strncasecmp(line.c_str(), "date:", 5) == 0) {
    auto* date = static_cast<std::string*>(user);
    *date = line.substr(5);
    date->erase(0, date->find_first_not_of(" \t"));
    date->erase(date->find_last_not_of(" \t\r\n") + 1);
  }
  return size * count;
}

// The Date header of one unsigned HEAD request to `url`; empty on no answer.
std::string http_date(const std::string& url) {
  CURL* curl = curl_easy_init();
  if (!curl) return "";
  std::string date;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, kRemoteConnectTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_date_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &date);
  curl_easy_perform(curl);  // any answer carries a Date, a 403 too
  curl_easy_cleanup(curl);
  return date;
}

std::string describe_skew(std::chrono::seconds skew) {
  const auto off = skew < 0s ? -skew : skew;
  const std::string amount = off >= 2min ? std::to_string((off + 30s) / 1min) + " min" : std::to_string(off.count()) + " s";
  return amount + (skew > 0s ? " behind" : " ahead of");
}

// S3 only: AWS Signature V4 refuses requests whose clock is off by more than
// 15 minutes, whatever the credentials.
std::optional<CheckResult> check_clock(const Context& ctx) {
  if (!ctx.remote || !ctx.settings->remote.url.starts_with("s3://")) return std::nullopt;
  if (ctx.remote_read == RemoteResult::kFailed) return std::nullopt;  // no answer to take a Date from
  std::string endpoint;
  try {
    endpoint = s3_http_config(ctx.settings->remote.url, ctx.settings->remote.options).base_url;
  } catch (const std::exception&) {
    return std::nullopt;  // the remote check said why
  }
  const std::string date = http_date(endpoint);
  const time_t server = date.empty() ? -1 : curl_getdate(date.c_str(), nullptr);
  const std::string sync = "synchronise this machine's clock: sudo timedatectl set-ntp true (or start chronyd or ntpd)";
  if (server < 0) {
    return warn("clock", "no usable Date header from " + endpoint + " to compare this machine's clock with",
                "make sure the clock is synchronised (timedatectl status)");
  }
  const auto skew = std::chrono::seconds(server - std::time(nullptr));  // > 0: we are behind
  const std::string found = "this machine's clock is " + describe_skew(skew) + " " + endpoint + "'s (Date: " + date + ")";
  if (skew > kSigV4MaxSkew || skew < -kSigV4MaxSkew) {
    return fail("clock", found + ": S3 refuses requests signed more than 15 minutes off", sync);
  }
  if (skew > kSkewWarning || skew < -kSkewWarning) {
    return warn("clock", found + ": S3 refuses signatures beyond 15 minutes", sync);
  }
  return ok("clock", "within " + std::to_string((skew < 0s ? -skew : skew).count()) + " s of " + endpoint +
                         "'s (S3 signatures allow 15 minutes)");
}

// ---- The upload queue ------------------------------------------------------------

std::optional<CheckResult> check_upload_backlog(const Context& ctx) {
  if (!ctx.index_readable || !ctx.settings) return std::nullopt;
  std::uint64_t pending = 0;
  try {
    Index index(index_path(ctx.store_dir), IndexOptions{.read_only = true});
    pending = index.pending_uploads();
  } catch (const std::exception& e) {
    return warn("upload backlog", std::string("cannot read the upload queue: ") + e.what(),
                "run gocachefs doctor again when builds are quieter");
  }
  const RemoteConfig& remote = ctx.settings->remote;
  const std::string count = std::to_string(pending) + (pending == 1 ? " upload" : " uploads");
  if (pending == 0) return ok("upload backlog", "no uploads queued");
  if (remote.url.empty() || remote.settings.read_only) {
    return ok("upload backlog", count + " queued from when a writable remote was set; they wait until one is again");
  }
  if (ctx.remote_failing() || !ctx.remote) {
    return warn("upload backlog", count + " queued, and the remote fails (see above): they are retried once it answers",
                "fix the remote; the queue then drains as go commands run");
  }
  const fs::path log = ctx.settings->log_file.empty() ? ctx.store_dir / "gocachefs.log" : ctx.settings->log_file;
  if (pending >= kLargeUploadBacklog) {
    return warn("upload backlog",
                count + " queued: they drain in the background as go commands (and the daemon) run; if the number "
                        "keeps growing, uploads fail",
                "look for upload errors in " + quote(log) + " (grep -i upload " + quote(log) +
                    "); a go command's exit waits up to --upload-wait (60 s) for its own");
  }
  return ok("upload backlog", count + " queued: they drain as go commands run");
}

// ---- The report ----------------------------------------------------------------------

const char* verdict_label(Verdict verdict) {
  switch (verdict) {
    case Verdict::kWarn:
      return "WARN";
    case Verdict::kFail:
      return "FAIL";
    case Verdict::kOk:
      break;
  }
  return "OK  ";
}

}  // namespace

int run_doctor(const Flags& flags) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Context ctx{.flags = flags};
  int failures = 0, warnings = 0, checks = 0;
  const auto report = [&](const std::optional<CheckResult>& result) {
    if (!result) return;  // does not apply here, or an earlier line said why
    ++checks;
    if (result->verdict == Verdict::kFail) ++failures;
    if (result->verdict == Verdict::kWarn) ++warnings;
    std::printf("%s  %s: %s%s\n", verdict_label(result->verdict), result->name.c_str(), result->found.c_str(),
                result->fix.empty() ? "" : ("; fix: " + result->fix).c_str());
    std::fflush(stdout);  // each line as it is known: the remote checks may take seconds
  };

  report(check_settings(ctx));
  const GoEnv go = read_go_env();
  report(check_go_version(go));
  report(check_gocacheprog(go, ctx));
  report(check_store_access(ctx));
  report(check_store_owner(ctx));
  report(check_free_space(ctx));
  report(check_index(ctx));
  report(check_fuse(ctx));
  report(check_daemon(ctx));
  report(check_remote_read(ctx));
  report(check_remote_write(ctx));
  report(check_clock(ctx));
  report(check_upload_backlog(ctx));

  if (failures == 0 && warnings == 0) {
    std::printf("doctor: all %d checks OK\n", checks);
  } else {
    std::printf("doctor: %d of %d checks failed, %d warned%s\n", failures, checks, warnings,
                failures ? ": fix the FAIL lines first" : " (nothing that stops builds)");
  }
  ctx.remote.reset();
  curl_global_cleanup();
  return failures ? 1 : 0;
}

}  // namespace gocachefs
