// Running real programs from tests: gocachefs itself and the go command.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gocachefs::testing {

using Environment = std::map<std::string, std::string>;

// The current environment with `overrides` applied (an empty value unsets).
Environment environment_with(const Environment& overrides);

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed by one
  std::string out;
  std::string err;
};

// Runs `argv` to completion with stdin from /dev/null, killing it after
// `timeout` so that no test can hang.
CommandResult run_command(const std::vector<std::string>& argv, const Environment& env = environment_with({}),
                          const std::string& cwd = "", std::chrono::seconds timeout = std::chrono::seconds(600));

// A child with pipes on stdin and stdout; stderr goes to a file.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const Environment& env = environment_with({}));
  ~Child();  // kills the child if it still runs
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void write(const std::string& bytes);  // all of it, or throws
  void close_stdin();
  // The next line of stdout without '\n'; nullopt at EOF or after `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits for exit (killing after `timeout`); returns the exit code.
  int wait(std::chrono::seconds timeout = std::chrono::seconds(60));
  std::string stderr_text() const;
  int stdin_fd() const { return stdin_fd_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string stderr_path_;
  std::string pending_;  // stdout bytes read but not yet returned
  std::optional<int> exit_code_;
};

// A directory removed (with its contents) at the end of its scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

}  // namespace gocachefs::testing
