#include "fuse/mount.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "fuse/lazy_fs.h"

extern char** environ;

namespace gocachefs {

namespace {

constexpr long kFuseSuperMagic = 0x65735546;

// Where libfuse looks for fusermount3: its install directory, then PATH.
// Empty when there is none.
std::string fusermount3_path() {
  std::string dirs = "/usr/bin";
  if (const char* path = std::getenv("PATH")) dirs += ":" + std::string(path);
  std::istringstream in(dirs);
  for (std::string dir; std::getline(in, dir, ':');) {
    const std::string candidate = dir + "/fusermount3";
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Never called: the probe's mount has no objects to read.
class NoObjects : public ObjectSource {
 public:
  FetchResult fetch_whole(const Id&, std::uint64_t) override { return {.error = "no objects"}; }
};

// Runs `fusermount3 -u -z dir` with its output discarded; its exit code.
int run_fusermount3_unmount(const std::filesystem::path& dir) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::string program = fusermount3_path(), unmount = "-u", lazy = "-z", quiet = "-q", end = "--",
              target = dir.string();
  char* argv[] = {program.data(), unmount.data(), lazy.data(), quiet.data(), end.data(), target.data(), nullptr};
  pid_t pid = -1;
  const int error = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

std::string probe_fuse() {
  const int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::string("cannot open /dev/fuse: ") + std::strerror(errno);
  close(fd);
  if (fusermount3_path().empty()) return "fusermount3 is not installed (Debian package fuse3)";

  std::string dir = (std::filesystem::temp_directory_path() / "gocachefs-probe-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return std::string("cannot create a temp dir: ") + std::strerror(errno);
  std::string problem;
  {
    NoObjects none;
    LazyFs fs(none);
    problem = fs.mount(dir);
    struct statfs st {};
    if (problem.empty() && (statfs(dir.c_str(), &st) != 0 || st.f_type != kFuseSuperMagic)) {
      problem = "the mount at " + dir + " does not answer";
    }
  }  // unmounts
  rmdir(dir.c_str());
  return problem.empty() ? "" : "a test mount failed: " + problem;
}

void cleanup_stale_mount(const std::filesystem::path& dir) {
  // statfs, not stat: the kernel may answer stat from attributes it cached
  // while the server lived, but always asks the server for statfs.
  struct statfs st {};
  if (statfs(dir.c_str(), &st) == 0 || (errno != ENOTCONN && errno != ECONNABORTED)) return;
  const bool done =
      geteuid() == 0 ? umount2(dir.c_str(), MNT_DETACH) == 0 : run_fusermount3_unmount(dir) == 0;
  if (done) {
    spdlog::info("lazy mount: unmounted the stale mount at {}", dir.string());
  } else {
    spdlog::error("lazy mount: cannot unmount the stale mount at {}", dir.string());
  }
}

}  // namespace gocachefs
