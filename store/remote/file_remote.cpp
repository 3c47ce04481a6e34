#include "store/remote/file_remote.h"

#include "store/temp_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

namespace gocachefs {

namespace {

RemoteResult errno_failure(const std::string& what) { return RemoteResult::failed(what + ": " + std::strerror(errno)); }

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

FileRemote::FileRemote(std::filesystem::path root) : root_(std::move(root)) {}

RemoteResult FileRemote::fetch(const std::string& key, const RemoteSink& sink) {
  return fetch_range(key, {0, UINT64_MAX}, sink);
}

RemoteResult FileRemote::fetch_range(const std::string& key, ByteRange range, const RemoteSink& sink) {
  const auto path = root_ / key;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {RemoteResult::kNotFound, ""};
    return errno_failure("opening " + path.string());
  }
  char buffer[1 << 16];
  RemoteResult result;
  std::uint64_t offset = range.offset;
  std::uint64_t left = range.length;
  while (left > 0) {
    const ssize_t n = pread(fd, buffer, std::min<std::uint64_t>(sizeof buffer, left), static_cast<off_t>(offset));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      result = errno_failure("reading " + path.string());
      break;
    }
    bool accepted = false;
    try {
      accepted = sink(buffer, static_cast<std::size_t>(n));
    } catch (const std::exception& e) {
      result = {RemoteResult::kLocalError, "fetch of " + key + " stopped on our side: " + e.what()};
      break;
    }
    if (!accepted) {
      result = RemoteResult::failed("fetch of " + key + " aborted");
      break;
    }
    offset += static_cast<std::uint64_t>(n);
    left -= static_cast<std::uint64_t>(n);
  }
  close(fd);
  return result;
}

RemoteResult FileRemote::exists(const std::string& key) {
  const auto path = root_ / key;
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) return {.length = static_cast<std::uint64_t>(st.st_size)};
  if (errno == ENOENT) return {RemoteResult::kNotFound, ""};
  return errno_failure("looking for " + path.string());
}

RemoteResult FileRemote::store(const std::string& key, const std::function<bool(int fd)>& write_body) {
  const auto final_path = root_ / key;
  std::error_code ec;
  std::filesystem::create_directories(final_path.parent_path(), ec);
  try {
    // A dot name in the same directory: same file system for rename, and
    // never mistaken for an entry.
    TempFile temp(final_path.parent_path(), "." + final_path.filename().string() + ".");
    if (!write_body(temp.fd())) return errno_failure("writing " + temp.path());
    temp.commit_as(final_path);
  } catch (const std::system_error& e) {
    return RemoteResult::failed(e.what());
  }
  return {};
}

RemoteResult FileRemote::store_bytes(const std::string& key, std::string_view bytes) {
  return store(key, [&](int fd) { return write_all(fd, bytes.data(), bytes.size()); });
}

RemoteResult FileRemote::store_file(const std::string& key, const std::filesystem::path& file, StoredEncoding) {
  return store(key, [&](int out) {
    const int in = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return false;
    char buffer[1 << 16];
    bool ok = true;
    for (;;) {
      const ssize_t n = read(in, buffer, sizeof buffer);
      if (n == 0) break;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || !write_all(out, buffer, static_cast<std::size_t>(n))) {
        ok = false;
        break;
      }
    }
    close(in);
    return ok;
  });
}

}  // namespace gocachefs
