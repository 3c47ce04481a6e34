#include "src/daemon/daemon_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <system_error>

namespace gocachefs {

namespace {

bool fill_address(const std::filesystem::path& path, sockaddr_un& address) {
  address = {};
  address.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, path.c_str(), path.native().size());
  return true;
}

}  // namespace

std::filesystem::path daemon_socket_path(const std::filesystem::path& store_dir) {
  const auto in_store = store_dir / "daemon.sock";
  sockaddr_un address{};
  if (fill_address(in_store, address)) return in_store;
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  const std::filesystem::path dir = runtime && *runtime == '/' ? runtime : "/tmp";
  char name[64];
  std::snprintf(name, sizeof name, "gocachefs-%u-%016zx.sock", static_cast<unsigned>(geteuid()),
                std::hash<std::string>{}(store_dir.string()));
  return dir / name;
}

int listen_on(const std::filesystem::path& path) {
  sockaddr_un address{};
  if (!fill_address(path, address)) throw std::system_error(ENAMETOOLONG, std::generic_category(), path.string());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  unlink(path.c_str());  // a daemon killed earlier leaves its socket
  // Created 0600 from the start: no moment where another user can connect.
  const mode_t old_mask = umask(0177);
  const int bound = bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  umask(old_mask);
  if (bound != 0 || listen(fd, 64) != 0) {
    const int error = errno;
    close(fd);
    throw std::system_error(error, std::generic_category(), "listening on " + path.string());
  }
  return fd;
}

int connect_to(const std::filesystem::path& path) {
  sockaddr_un address{};
  if (!fill_address(path, address)) return -1;
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 || !peer_is_us(fd)) {
    close(fd);
    return -1;
  }
  return fd;
}

bool peer_is_us(int fd) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 && credentials.uid == geteuid();
}

LineConnection::~LineConnection() {
  if (fd_ >= 0) close(fd_);
}

bool LineConnection::send(const nlohmann::json& message) {
  const std::string line = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::send(fd_, p, left, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

std::optional<nlohmann::json> LineConnection::receive(int timeout_ms) {
  for (;;) {
    if (const auto end = buffer_.find('\n'); end != std::string::npos) {
      auto message = nlohmann::json::parse(buffer_.substr(0, end), nullptr, false);
      buffer_.erase(0, end + 1);
      if (message.is_discarded()) return std::nullopt;
      return message;
    }
    if (buffer_.size() > (1 << 20)) return std::nullopt;  // not a message
    pollfd ready{fd_, POLLIN, 0};
    const int polled = poll(&ready, 1, timeout_ms);
    if (polled < 0 && errno == EINTR) continue;
    if (polled <= 0) return std::nullopt;
    char chunk[4096];
    const ssize_t n = read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace gocachefs
