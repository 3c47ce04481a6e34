// The client side of the daemon, in the gocachefs process that cmd/go runs:
// asks the daemon for gets that missed locally (starting it on first need)
// and tells it when puts were queued for upload. When the daemon cannot be
// had (no FUSE here, a failed start), it says so once and the cache fetches
// eagerly itself (--lazy=auto), or answers misses after one clear line on
// stderr (--lazy=on).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/cache.h"
#include "src/config.h"
#include "src/daemon/daemon_socket.h"

namespace gocachefs {

class DaemonClient : public LazyRemote {
 public:
  explicit DaemonClient(Settings settings);

  Outcome get(const Id& action_id, CacheHit& hit) override;
  void uploads_queued() override;
  bool sends_backlog() override;
  void warm(const std::vector<std::string>& keys) override;
  void flush() override;
  void tell_failures() override;

 private:
  std::optional<nlohmann::json> call(const nlohmann::json& request);
  // Says on the go command's terminal what the daemon, which has none, noted
  // since its last answer (objects whose fetch failed).
  static void tell_notices(const nlohmann::json& reply);
  // An idle connection, else a new one (starting the daemon if allowed).
  std::unique_ptr<LineConnection> connect(bool may_start);
  void give_back(std::unique_ptr<LineConnection> connection);
  bool start_daemon();
  void give_up(const std::string& why);

  Settings settings_;
  std::filesystem::path socket_path_;
  std::string remote_fingerprint_;
  std::atomic<bool> unavailable_{false};
  std::mutex start_mutex_;  // one start attempt at a time in this process
  std::mutex idle_mutex_;
  std::vector<std::unique_ptr<LineConnection>> idle_;  // one per thread that asked, reused
  std::atomic<std::int64_t> last_wake_ns_{0};
  std::mutex warm_mutex_;
  std::vector<std::string> warm_keys_;  // sent with the next get, once
};

// What a client and its daemon compare to know they use one remote and trust
// it alike: a hash of the whole URL (a URL may hold credentials, which the
// socket does not carry), the signing keys' fingerprint and the size bound.
std::string remote_fingerprint(const RemoteConfig& remote);

// Starts `gocachefs daemon` for the store, detached: its own session, fds 0-2
// on /dev/null and nothing else inherited (a daemon holding the go command's
// stdout would make it wait forever). Settings travel in its environment,
// never on its command line (`ps` shows that). Returns once it is forked.
void spawn_daemon(const Settings& settings);

}  // namespace gocachefs
