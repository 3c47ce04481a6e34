// The go command and the settings: what every go command starts with. Go
// 1.24 or newer on PATH (older ones ignore GOCACHEPROG), `go env
// GOCACHEPROG` naming gocachefs with the store checked here, and flags and
// GOCACHEFS_* variables that resolve (else every go command stops).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "src/doctor/check.h"

extern char** environ;

namespace gocachefs::doctor {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Go 1.24 is the first to run GOCACHEPROG without GOEXPERIMENT=cacheprog.
constexpr int kMinGoMinor = 24;

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

}  // namespace

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

}  // namespace gocachefs::doctor
