#include "src/daemon/daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <system_error>
#include <thread>

#include "fuse/mount.h"
#include "src/cache.h"
#include "src/daemon/daemon_client.h"
#include "src/daemon/daemon_socket.h"
#include "src/logging.h"
#include "store/temp_file.h"

namespace gocachefs {

namespace {

using nlohmann::json;

// Objects fetched at once for a linker or compiler reading ahead: enough to
// fill a 100 Mbit/s link at a 20 ms round trip with objects of a few
// hundred KB, few enough to leave the link to demand reads too.
constexpr std::size_t kReadAheadFetches = 8;

void remember_failure(const std::filesystem::path& store_dir, const std::string& reason) {
  spdlog::error("daemon: {}", reason);
  // Written whole under a temp name in tmp/ (where start-up removes what a
  // writer that died left) and renamed into place: a client reading the
  // reason never sees half of it, and a symlink planted in its place is
  // replaced, not written through.
  try {
    const std::string line = reason + "\n";
    std::filesystem::create_directories(store_dir / "tmp");
    TempFile file(store_dir / "tmp", "daemon.failed-");
    file.write_all(line.data(), line.size());
    file.commit_as(daemon_failure_path(store_dir));
  } catch (const std::system_error& e) {
    spdlog::error("daemon: recording why it failed: {}", e.what());
  }
}

}  // namespace

std::filesystem::path daemon_failure_path(const std::filesystem::path& store_dir) {
  return store_dir / "daemon.failed";
}

Daemon::Daemon(Settings settings) : settings_(std::move(settings)) {}

Daemon::~Daemon() {
  // The mount goes first: its workers call into gets_ and the fetcher.
  if (read_ahead_) read_ahead_->stop();
  if (fs_) fs_->unmount();
  read_ahead_.reset();
  uploader_.reset();
  fs_.reset();
  replay_.reset();
  if (lock_fd_ >= 0) close(lock_fd_);
}

int Daemon::run() {
  const auto& dir = settings_.store_dir;
  std::filesystem::create_directories(dir);
  lock_fd_ = open((dir / "daemon.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) return 0;  // another daemon serves this store
  start_logging(settings_.log_file.empty() ? dir / "gocachefs.log" : settings_.log_file, settings_.log_level);
  if (settings_.remote.url.empty()) {
    remember_failure(dir, "no remote is set: the lazy mount serves remote objects only");
    return 1;
  }
  in_use_.emplace(dir);
  objects_ = std::make_unique<ObjectStore>(dir);
  index_ = std::make_unique<Index>(dir / "index.sqlite");
  try {
    remote_ = std::make_unique<MeasuredRemote>(make_remote(settings_.remote.url, settings_.remote.options));
  } catch (const std::invalid_argument& e) {
    remember_failure(dir, std::string("remote disabled: ") + e.what());
    return 1;
  }
  remote_fingerprint_ = remote_fingerprint(settings_.remote);
  health_ = std::make_unique<RemoteHealth>(remote_->describe());
  const RemoteTrust& trust = settings_.remote.settings.trust;
  fetcher_ = std::make_unique<RemoteFetcher>(*objects_, *index_, *remote_, *health_, trust);
  bulk_remote_ =
      std::make_unique<MeasuredRemote>(make_remote(settings_.remote.url, bulk_remote_options(settings_.remote.options)));
  replay_ = std::make_unique<PackReplay>(*objects_, *index_, *bulk_remote_, *health_, PackReplay::Mode::kLazy, trust);
  gets_ = std::make_unique<LazyGets>(*objects_, *remote_, *health_, *fetcher_, settings_.mount_dir);
  gets_->use_packs(*replay_);
  // read_ahead_ is set before the mount's workers start, and outlives them.
  fs_ = std::make_unique<LazyFs>(*gets_, [this](pid_t opener) { read_ahead_->opened_by(opener); });
  read_ahead_ = std::make_unique<ToolPrefetcher>(*fs_, settings_.mount_dir, kReadAheadFetches);
  cleanup_stale_mount(settings_.mount_dir);
  std::error_code ec;
  std::filesystem::create_directories(settings_.mount_dir, ec);
  if (const std::string error = fs_->mount(settings_.mount_dir); !error.empty()) {
    remember_failure(dir, "cannot mount " + settings_.mount_dir.string() + ": " + error);
    read_ahead_.reset();
    fs_.reset();
    return kDaemonNoFuse;
  }
  gets_->attach(*fs_);
  std::filesystem::remove(daemon_failure_path(dir), ec);
  if (!settings_.remote.settings.read_only && !remote_->holds_packs_only()) {
    uploader_ = std::make_unique<Uploader>(*objects_, *index_, *remote_, *health_, settings_.remote.settings.upload_threads,
                                           trust.keys);
  }
  const auto socket_path = daemon_socket_path(dir);
  const int listen_fd = listen_on(socket_path);
  spdlog::info("daemon: serving {} at {}, remote {}, socket {}", dir.string(), settings_.mount_dir.string(),
               remote_->describe(), socket_path.string());

  last_activity_ns_ = now_unix_ns();
  const std::int64_t idle_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(settings_.daemon_idle).count();
  for (;;) {
    pollfd ready{listen_fd, POLLIN, 0};
    if (poll(&ready, 1, 200) > 0) {
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0 && !peer_is_us(fd)) {
        spdlog::warn("daemon: refused a connection from another user");
        close(fd);
      } else if (fd >= 0) {
        ++connections_;
        std::lock_guard lock(connections_mutex_);
        connection_fds_.insert(fd);
        last_activity_ns_ = now_unix_ns();
        std::thread([this, fd] { serve_connection(fd); }).detach();
      }
    }
    flush_counters();
    // Idle: no client, no file open in the mount (a tool that `go list
    // -export` handed a path to), for the whole idle time.
    if (fs_->open_files() > 0 || connections_ > 0) last_activity_ns_ = now_unix_ns();
    if (stopping_ || now_unix_ns() - last_activity_ns_ >= idle_ns) break;
  }
  spdlog::info("daemon: {}, leaving", stopping_ ? "asked to stop" : "idle");
  close(listen_fd);
  unlink(socket_path.c_str());
  close_connections();
  read_ahead_->stop();
  fs_->unmount();
  flush_counters();
  return 0;
}

void Daemon::close_connections() {
  {
    std::lock_guard lock(connections_mutex_);
    for (const int fd : connection_fds_) shutdown(fd, SHUT_RDWR);
  }
  for (int i = 0; i < 500 && connections_ > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void Daemon::serve_connection(int fd) {
  LineConnection connection(fd);
  while (const auto request = connection.receive()) {
    last_activity_ns_ = now_unix_ns();
    const std::string op = request->value("op", "");
    json reply;
    if (op == "get" && request->value("remote", remote_fingerprint_) != remote_fingerprint_) {
      // A client set up for another remote: its hits would come from ours.
      reply["other_remote"] = remote_->describe();
    } else if (op == "get") {
      if (const auto warm = request->find("warm"); warm != request->end() && warm->is_array()) {
        std::vector<std::string> keys;
        for (const auto& key : *warm) {
          if (key.is_string()) keys.push_back(key.get<std::string>());
        }
        replay_->start(keys);
      }
      const auto action = id_from_hex(request->value("action", ""));
      const auto hit = action ? gets_->get(*action) : std::nullopt;
      if (hit) {
        reply["hit"] = {{"output", to_hex(hit->entry.output_id)},
                        {"size", hit->entry.size},
                        {"time", hit->entry.put_time_ns},
                        {"path", hit->disk_path}};
        if (hit->lazy) {
          ++lazy_hits_;
          lazy_bytes_served_ += hit->entry.size;
        }
      } else {
        reply["miss"] = true;
      }
    } else if (op == "stop") {
      stopping_ = true;
      reply["ok"] = true;
    } else if (op == "flush") {
      flush_counters();  // a client is about to write its job's pack from the index
      reply["ok"] = true;
    } else if (op == "wake") {
      if (uploader_) uploader_->wake();
      reply["ok"] = true;
    } else if (op == "status") {
      const LazyFsCounters c = fs_->counters();
      reply = {{"mount", settings_.mount_dir.string()}, {"lazy_hits", lazy_hits_.load()},
               {"objects_opened", c.objects_opened}, {"bytes_fetched", c.bytes_fetched},
               {"fetches_failed", c.fetches_failed}, {"open_files", fs_->open_files()}};
    } else {
      reply["error"] = "unknown op \"" + op + "\"";
    }
    // Fetches that failed since the last answer: the daemon has no terminal,
    // so the next client says it on its go command's.
    if (auto failures = gets_->take_failures(); !failures.empty()) reply["notices"] = failures;
    if (!connection.send(reply)) break;
  }
  {
    std::lock_guard lock(connections_mutex_);
    connection_fds_.erase(fd);
  }
  --connections_;
  last_activity_ns_ = now_unix_ns();
}

void Daemon::flush_counters() {
  std::lock_guard lock(flush_mutex_);
  const LazyFsCounters now = fs_->counters();
  const std::uint64_t hits = lazy_hits_, served = lazy_bytes_served_, fetched = fetcher_->bytes_fetched();
  const std::uint64_t read_ahead = read_ahead_->objects_read_ahead(), records_ahead = fetcher_->records_fetched_ahead(),
                      records_used = fetcher_->records_used_ahead();
  const std::uint64_t records_rejected = fetcher_->records_rejected(), objects_refused = fetcher_->objects_refused();
  std::map<std::string, std::int64_t> deltas = {
      {"lazy_hits", static_cast<std::int64_t>(hits - flushed_lazy_hits_)},
      {"lazy_bytes_served", static_cast<std::int64_t>(served - flushed_lazy_bytes_served_)},
      {"lazy_bytes_fetched", static_cast<std::int64_t>(now.bytes_fetched - flushed_.bytes_fetched)},
      {"lazy_fetches_failed", static_cast<std::int64_t>(now.fetches_failed - flushed_.fetches_failed)},
      {"lazy_objects_opened", static_cast<std::int64_t>(now.objects_opened - flushed_.objects_opened)},
      {"remote_fetch_bytes", static_cast<std::int64_t>(fetched - flushed_fetch_bytes_)},
      {"lazy_objects_read_ahead", static_cast<std::int64_t>(read_ahead - flushed_read_ahead_)},
      {"remote_records_ahead", static_cast<std::int64_t>(records_ahead - flushed_records_ahead_)},
      {"remote_records_ahead_used", static_cast<std::int64_t>(records_used - flushed_records_used_)},
      {"remote_records_rejected", static_cast<std::int64_t>(records_rejected - flushed_records_rejected_)},
      {"remote_objects_refused", static_cast<std::int64_t>(objects_refused - flushed_objects_refused_)}};
  const PackReplayCounters replayed = replay_->counters();
  deltas["pack_actions_warmed"] = static_cast<std::int64_t>(replayed.actions_warmed - flushed_replay_.actions_warmed);
  deltas["pack_bytes_fetched"] = static_cast<std::int64_t>(replayed.pack_bytes - flushed_replay_.pack_bytes);
  deltas["pack_objects_stored"] = static_cast<std::int64_t>(replayed.objects_stored - flushed_replay_.objects_stored);
  deltas["pack_objects_fetched_apart"] =
      static_cast<std::int64_t>(replayed.objects_fetched_apart - flushed_replay_.objects_fetched_apart);
  deltas["remote_packs_rejected"] = static_cast<std::int64_t>(replayed.packs_rejected - flushed_replay_.packs_rejected);
  deltas["remote_objects_refused"] +=
      static_cast<std::int64_t>(replayed.objects_refused - flushed_replay_.objects_refused);
  for (MeasuredRemote* remote : {remote_.get(), bulk_remote_.get()}) {
    for (const auto& [name, delta] : remote->take_counter_deltas()) deltas[name] += delta;
  }
  try {
    const LazyGets::Seen seen = gets_->take_seen();
    index_->record_lazy_objects(seen.served, seen.read);
    index_->add_to_counters(deltas);
    flushed_ = now;
    flushed_lazy_hits_ = hits;
    flushed_lazy_bytes_served_ = served;
    flushed_fetch_bytes_ = fetched;
    flushed_read_ahead_ = read_ahead;
    flushed_records_ahead_ = records_ahead;
    flushed_records_used_ = records_used;
    flushed_records_rejected_ = records_rejected;
    flushed_objects_refused_ = objects_refused;
    flushed_replay_ = replayed;
  } catch (const std::exception& e) {
    spdlog::warn("daemon: saving counters: {}", e.what());
  }
}

}  // namespace gocachefs
