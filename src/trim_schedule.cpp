#include "src/trim_schedule.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

extern char** environ;

namespace gocachefs {

namespace {

constexpr auto kTrimInterval = std::chrono::hours(24);

std::filesystem::path stamp_path(const std::filesystem::path& store_dir) { return store_dir / "trim.stamp"; }

}  // namespace

bool trim_due(const std::filesystem::path& store_dir) {
  struct stat st {};
  if (::stat(stamp_path(store_dir).c_str(), &st) != 0) return true;
  const auto last = std::chrono::system_clock::from_time_t(st.st_mtime);
  return std::chrono::system_clock::now() - last >= kTrimInterval;
}

void mark_trimmed(const std::filesystem::path& store_dir) {
  const int fd = open(stamp_path(store_dir).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  futimens(fd, nullptr);  // now
  close(fd);
}

std::optional<TrimLock> TrimLock::try_lock(const std::filesystem::path& store_dir) {
  const int fd = open((store_dir / "trim.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return std::nullopt;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return std::nullopt;
  }
  return TrimLock(fd);
}

TrimLock::~TrimLock() {
  if (fd_ >= 0) close(fd_);
}

void start_trim_if_due(const Settings& settings) {
  const auto& dir = settings.store_dir;
  if (!std::filesystem::exists(stamp_path(dir))) {
    mark_trimmed(dir);
    return;
  }
  if (!trim_due(dir)) return;
  // The policy goes as flags: the environment may name another one later.
  const auto age_seconds = std::chrono::duration_cast<std::chrono::seconds>(settings.trim.max_age).count();
  const bool no_age_limit = age_seconds > 3650LL * 86400;
  std::vector<std::string> args = {"gocachefs", "trim", "--background", "--dir", dir.string(),
                                   "--max-age", no_age_limit ? "0" : std::to_string(age_seconds) + "s", "--max-size",
                                   std::to_string(settings.trim.max_size)};
  if (!settings.log_file.empty()) {
    args.push_back("--log-file");
    args.push_back(settings.log_file.string());
  }
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // Its own session, and nothing of ours: cmd/go waits for our stdout to
  // close, and a trim must not keep it open.
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  for (const int fd : {0, 1, 2}) posix_spawn_file_actions_addopen(&files, fd, "/dev/null", O_RDWR, 0);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &files, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&files);
  if (rc != 0) {
    spdlog::warn("cannot start a background trim: {}", std::strerror(rc));
  } else {
    spdlog::info("started a background trim (pid {})", pid);
  }
}

}  // namespace gocachefs
