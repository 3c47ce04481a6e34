#include "src/store_use.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace gocachefs {

namespace {

int open_lock(const std::filesystem::path& store_dir) {
  return open((store_dir / "in-use.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
}

}  // namespace

StoreUse::StoreUse(const std::filesystem::path& store_dir) : fd_(open_lock(store_dir)) {
  if (fd_ >= 0) flock(fd_, LOCK_SH);  // only an exclusive probe could hold it, for an instant
}

StoreUse::~StoreUse() {
  if (fd_ >= 0) close(fd_);
}

bool store_in_use(const std::filesystem::path& store_dir) {
  const int fd = open_lock(store_dir);
  if (fd < 0) return true;  // cannot tell: assume so
  const bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
  close(fd);
  return !free;
}

}  // namespace gocachefs
