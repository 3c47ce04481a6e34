// The Unix socket between the gocachefs processes that cmd/go runs (clients)
// and the daemon of their store: where it lives, and one JSON object per line
// each way. Only processes of the daemon's own user may talk to it: the
// socket is mode 0600 and each side checks the other's uid (SO_PEERCRED).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace gocachefs {

// <store>/daemon.sock, or when that is too long for a socket address (108
// bytes), a name under $XDG_RUNTIME_DIR (else /tmp) derived from the store.
std::filesystem::path daemon_socket_path(const std::filesystem::path& store_dir);

// A listening socket at `path` (a stale one is replaced), mode 0600. Throws
// std::system_error.
int listen_on(const std::filesystem::path& path);

// A connection to the daemon at `path`, checked to belong to our user; -1
// when nobody listens there.
int connect_to(const std::filesystem::path& path);

// Whether the process at the other end of `fd` runs as our user.
bool peer_is_us(int fd);

// One line each way. A connection is used by one thread at a time.
class LineConnection {
 public:
  explicit LineConnection(int fd) : fd_(fd) {}
  ~LineConnection();
  LineConnection(const LineConnection&) = delete;
  LineConnection& operator=(const LineConnection&) = delete;

  bool send(const nlohmann::json& message);
  // The next message; empty at end of input, on an error or after `timeout_ms`.
  std::optional<nlohmann::json> receive(int timeout_ms = -1);
  int fd() const { return fd_; }

 private:
  int fd_;
  std::string buffer_;
};

}  // namespace gocachefs
