#include "store/temp_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <system_error>

namespace gocachefs {

namespace {

std::system_error errno_error(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

std::string random_suffix() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string suffix(16, '0');
  for (char& c : suffix) c = kAlphabet[random() % 36];
  return suffix;
}

}  // namespace

TempFile::TempFile(const std::filesystem::path& dir, std::string_view prefix) {
  for (int attempt = 0;; ++attempt) {
    path_ = (dir / (std::string(prefix) + random_suffix())).string();
    fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ >= 0) break;
    if (errno != EEXIST || attempt == 10) throw errno_error("creating " + path_);
  }
  // Held until close: remove_abandoned_temp_files() leaves locked files alone.
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::system_error error = errno_error("locking " + path_);
    close(fd_);
    unlink(path_.c_str());
    throw error;
  }
}

TempFile::~TempFile() {
  if (fd_ >= 0) close(fd_);
  if (!path_.empty()) unlink(path_.c_str());
}

void TempFile::write_all(const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw errno_error("writing " + path_);
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void TempFile::close_fd() {
  const int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) throw errno_error("closing " + path_);
}

void TempFile::commit_as(const std::filesystem::path& final_path) {
  close_fd();
  if (rename(path_.c_str(), final_path.c_str()) != 0) {
    if (errno != ENOENT) throw errno_error("renaming into " + final_path.string());
    // The first file with this prefix: make its directory and try again.
    std::error_code ec;
    std::filesystem::create_directories(final_path.parent_path(), ec);
    if (rename(path_.c_str(), final_path.c_str()) != 0) throw errno_error("renaming into " + final_path.string());
  }
  path_.clear();
}

std::size_t remove_abandoned_temp_files(const std::filesystem::path& dir, std::chrono::seconds grace) {
  std::size_t removed = 0;
  std::error_code ec;
  const auto cutoff = std::filesystem::file_time_type::clock::now() - grace;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code entry_ec;
    if (!entry.is_regular_file(entry_ec) || entry.last_write_time(entry_ec) > cutoff || entry_ec) continue;
    const int fd = open(entry.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    // A free lock means the writer has gone (killed, or it crashed).
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(entry.path().c_str()) == 0) ++removed;
    close(fd);
  }
  return removed;
}

}  // namespace gocachefs
