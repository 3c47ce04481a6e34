#include "src/daemon/daemon_client.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "src/daemon/daemon.h"
#include "store/sha256.h"

extern char** environ;

namespace gocachefs {

namespace {

using nlohmann::json;

// How long a client waits for a daemon it started to listen.
constexpr auto kStartTimeout = std::chrono::seconds(5);
// Puts wake the daemon's uploader at most this often.
constexpr std::int64_t kWakeIntervalNs = 200LL * 1000 * 1000;

const char* lazy_mode_name(LazyMode mode) {
  switch (mode) {
    case LazyMode::kAuto: return "auto";
    case LazyMode::kOn: return "on";
    case LazyMode::kOff: return "off";
  }
  return "auto";
}

// A recent failure of the daemon (no FUSE here): not worth a start per go command.
std::optional<std::string> recent_failure(const std::filesystem::path& store_dir) {
  std::error_code ec;
  const auto path = daemon_failure_path(store_dir);
  const auto written = std::filesystem::last_write_time(path, ec);
  if (ec || std::filesystem::file_time_type::clock::now() - written > kDaemonFailureMemory) return std::nullopt;
  std::string reason;
  std::getline(std::ifstream(path), reason);
  return reason.empty() ? "the daemon failed" : reason;
}

}  // namespace

void spawn_daemon(const Settings& settings) {
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls (this process has threads).
  std::vector<std::string> args = {"gocachefs",
                                   "daemon",
                                   "--dir",
                                   settings.store_dir.string(),
                                   "--mount",
                                   settings.mount_dir.string(),
                                   "--daemon-idle",
                                   std::to_string(settings.daemon_idle.count()),
                                   "--log-level",
                                   settings.log_level};
  if (!settings.log_file.empty()) args.insert(args.end(), {"--log-file", settings.log_file.string()});
  for (const auto& header : settings.remote.options.extra_headers) args.insert(args.end(), {"--remote-header", header});
  if (!settings.remote.signing_key_file.empty()) {
    args.insert(args.end(), {"--signing-key-file", settings.remote.signing_key_file.string()});
  }
  args.insert(args.end(), {"--max-object-size", std::to_string(settings.remote.settings.trust.max_object_size)});
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    if (!entry.starts_with("GOCACHEFS_REMOTE=") && !entry.starts_with("GOCACHEFS_REMOTE_READ_ONLY=")) env.push_back(entry);
  }
  env.push_back("GOCACHEFS_REMOTE=" + settings.remote.url);
  env.push_back(std::string("GOCACHEFS_REMOTE_READ_ONLY=") + (settings.remote.settings.read_only ? "1" : "0"));
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t child = fork();
  if (child == 0) {
    setsid();
    if (fork() != 0) _exit(0);  // the daemon is nobody's child: init reaps it
    const int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    close_range(3, ~0U, 0);
    execve("/proc/self/exe", argv.data(), envp.data());
    _exit(127);
  }
  if (child > 0) waitpid(child, nullptr, 0);
}

std::string remote_fingerprint(const RemoteConfig& remote) {
  // The keys and the size bound too: a daemon that trusts less or more than
  // the go command must not answer it.
  const RemoteTrust& trust = remote.settings.trust;
  return to_hex(Sha256::of(remote.url + '\n' + (trust.keys ? trust.keys->fingerprint() : "unsigned") + '\n' +
                           std::to_string(trust.max_object_size)));
}

DaemonClient::DaemonClient(Settings settings)
    : settings_(std::move(settings)),
      socket_path_(daemon_socket_path(settings_.store_dir)),
      remote_fingerprint_(remote_fingerprint(settings_.remote)) {}

void DaemonClient::give_up(const std::string& why) {
  if (unavailable_.exchange(true)) return;
  if (settings_.lazy == LazyMode::kOn) {
    spdlog::error("--lazy=on, but the lazy mount cannot be used: {}", why);
    std::fprintf(stderr, "gocachefs: --lazy=on, but the lazy mount cannot be used: %s\n", why.c_str());
  } else {
    spdlog::info("lazy mount unavailable, fetching remote hits eagerly: {}", why);
  }
}

bool DaemonClient::start_daemon() {
  std::lock_guard lock(start_mutex_);
  if (unavailable_) return false;
  if (const int fd = connect_to(socket_path_); fd >= 0) {
    close(fd);
    return true;
  }
  if (const auto failure = recent_failure(settings_.store_dir)) {
    give_up(*failure);
    return false;
  }
  // One start per store however many go commands miss at once.
  const int start_lock = open((settings_.store_dir / "daemon-start.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (start_lock >= 0) flock(start_lock, LOCK_EX);
  bool up = false;
  if (const int fd = connect_to(socket_path_); fd >= 0) {
    close(fd);
    up = true;
  } else {
    std::error_code ec;
    std::filesystem::remove(daemon_failure_path(settings_.store_dir), ec);
    spdlog::info("starting the daemon (lazy={})", lazy_mode_name(settings_.lazy));
    spawn_daemon(settings_);
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (!up && std::chrono::steady_clock::now() < deadline) {
      if (const int fd = connect_to(socket_path_); fd >= 0) {
        close(fd);
        up = true;
      } else if (std::filesystem::exists(daemon_failure_path(settings_.store_dir), ec)) {
        break;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  if (start_lock >= 0) close(start_lock);
  if (!up) give_up(recent_failure(settings_.store_dir).value_or("the daemon did not start"));
  return up;
}

std::unique_ptr<LineConnection> DaemonClient::connect(bool may_start) {
  {
    std::lock_guard lock(idle_mutex_);
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
  }
  int fd = connect_to(socket_path_);
  if (fd < 0 && may_start && start_daemon()) fd = connect_to(socket_path_);
  return fd >= 0 ? std::make_unique<LineConnection>(fd) : nullptr;
}

void DaemonClient::give_back(std::unique_ptr<LineConnection> connection) {
  std::lock_guard lock(idle_mutex_);
  idle_.push_back(std::move(connection));
}

void DaemonClient::tell_notices(const json& reply) {
  for (const auto& notice : reply.value("notices", json::array())) {
    const std::string text = notice.get<std::string>();
    spdlog::error("{}", text);
    std::fprintf(stderr, "gocachefs: %s\n", text.c_str());
  }
}

void DaemonClient::tell_failures() {
  if (unavailable_) return;
  auto connection = connect(/*may_start=*/false);
  if (connection && connection->send({{"op", "status"}})) {
    if (const auto reply = connection->receive(1000)) tell_notices(*reply);
  }
}

std::optional<json> DaemonClient::call(const json& request) {
  if (unavailable_) return std::nullopt;
  // A connection can break when the daemon leaves or is killed: try a fresh
  // one (starting a new daemon) once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto connection = connect(/*may_start=*/true);
    if (!connection) return std::nullopt;
    if (connection->send(request)) {
      if (auto reply = connection->receive()) {
        tell_notices(*reply);
        give_back(std::move(connection));
        return reply;
      }
    }
  }
  give_up("the daemon stopped answering");
  return std::nullopt;
}

LazyRemote::Outcome DaemonClient::get(const Id& action_id, CacheHit& hit) {
  json request = {{"op", "get"}, {"action", to_hex(action_id)}, {"remote", remote_fingerprint_}};
  {
    // The daemon starts replaying with the first get it is asked.
    std::lock_guard lock(warm_mutex_);
    if (!warm_keys_.empty()) request["warm"] = std::exchange(warm_keys_, {});
  }
  const auto reply = call(request);
  if (reply && reply->contains("other_remote")) {
    give_up("the daemon of this store serves another remote (" + reply->value("other_remote", "") +
            "); `gocachefs stop --dir " + settings_.store_dir.string() + "` lets the next go command start one for " +
            redact_url(settings_.remote.url));
  }
  if (!reply || unavailable_) {
    return unavailable_ && settings_.lazy == LazyMode::kOn ? Outcome::kMiss : Outcome::kUnavailable;
  }
  const auto found = reply->find("hit");
  if (found == reply->end()) return Outcome::kMiss;
  const auto output_id = id_from_hex(found->value("output", ""));
  if (!output_id) return Outcome::kMiss;
  hit = CacheHit{*output_id, found->value("size", std::uint64_t{0}), found->value("time", std::int64_t{0}),
                 found->value("path", "")};
  return Outcome::kHit;
}

bool DaemonClient::sends_backlog() {
  if (unavailable_ || settings_.remote.settings.read_only) return false;
  const int fd = connect_to(socket_path_);
  if (fd < 0) return false;
  close(fd);
  return true;
}

void DaemonClient::uploads_queued() {
  const std::int64_t now = now_unix_ns();
  if (now - last_wake_ns_ < kWakeIntervalNs) return;
  last_wake_ns_ = now;
  // Only a running daemon is woken: puts alone are no reason to start one
  // (this process uploads too).
  if (unavailable_) return;
  auto connection = connect(/*may_start=*/false);
  if (connection && connection->send({{"op", "wake"}}) && connection->receive(1000)) {
    give_back(std::move(connection));
  }
}

void DaemonClient::warm(const std::vector<std::string>& keys) {
  std::lock_guard lock(warm_mutex_);
  warm_keys_ = keys;
}

void DaemonClient::flush() {
  if (unavailable_) return;
  auto connection = connect(/*may_start=*/false);
  if (!connection) return;
  if (connection->send({{"op", "flush"}}) && connection->receive()) give_back(std::move(connection));
}

}  // namespace gocachefs
