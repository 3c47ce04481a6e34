// The settings of a gocachefs process, from flags, environment and defaults,
// in that order, all checked before anything else happens: a bad one is a
// SettingsError whose message names it and says what it accepts.
#pragma once

#include <chrono>
#include <memory>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "src/cache.h"
#include "store/eviction.h"
#include "store/remote/remote.h"

namespace gocachefs {

class SettingsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the command line says (empty or negative: not given).
struct Flags {
  std::string dir;
  std::string log_file;
  std::string log_level;
  unsigned jobs = 0;
  std::string remote;
  bool remote_read_only = false;
  std::vector<std::string> remote_headers;
  std::string signing_key_file;
  std::string max_object_size;  // e.g. "4GiB"
  double upload_wait_seconds = -1;
  std::string lazy;
  std::string mount;
  double daemon_idle_seconds = -1;
  std::string max_age;   // trim: e.g. "5d", "36h"
  std::string max_size;  // trim: e.g. "20GiB"
};

// Whether remote hits are served lazily through the daemon's FUSE mount.
enum class LazyMode {
  kAuto,  // when FUSE works here, else eager fetches (one log line)
  kOn,    // FUSE or a clear error
  kOff,   // eager fetches, in the go command's own gocachefs
};

struct RemoteConfig {
  std::string url;  // empty: no remote
  RemoteOptions options;
  RemoteSettings settings;
  std::filesystem::path signing_key_file;  // empty: records are not signed
};

struct Settings {
  std::filesystem::path store_dir;  // absolute
  std::filesystem::path log_file;   // empty: <store>/gocachefs.log, once the store is known to be writable
  std::string log_level;            // one of trace, debug, info, warn, error, critical, off
  unsigned workers = 0;             // requests served at once
  RemoteConfig remote;
  LazyMode lazy = LazyMode::kAuto;
  std::filesystem::path mount_dir;  // the daemon's mount: <store>/mnt unless set
  std::chrono::seconds daemon_idle{600};
  PackSettings packs;  // warming: GOCACHEFS_PACKS, GOCACHEFS_PACK_KEY, GOCACHEFS_PACK_FALLBACK
  TrimPolicy trim;     // --max-age, --max-size (GOCACHEFS_MAX_AGE, GOCACHEFS_MAX_SIZE)
};

// Every setting, checked. Throws SettingsError.
Settings resolve_settings(const Flags& flags);

// The parts, for tests and for `gocachefs stats`.
// --dir, else $GOCACHEFS_DIR, else $XDG_CACHE_HOME/gocachefs, else
// ~/.cache/gocachefs; made absolute.
std::filesystem::path resolve_store_dir(const std::string& flag);
// --log-file, else $GOCACHEFS_LOG_FILE, else empty.
std::filesystem::path resolve_log_file(const std::string& flag);
// --log-level, else $GOCACHEFS_LOG_LEVEL, else "info".
std::string resolve_log_level(const std::string& flag);
// Flags first, then GOCACHEFS_REMOTE, GOCACHEFS_REMOTE_READ_ONLY,
// GOCACHEFS_REMOTE_TOKEN (never a flag: flags show in `ps`) and
// GOCACHEFS_UPLOAD_WAIT; --signing-key-file/GOCACHEFS_SIGNING_KEY_FILE (see
// load_signing_keys) and --max-object-size/GOCACHEFS_MAX_OBJECT_SIZE.
RemoteConfig resolve_remote(const Flags& flags);
// The signing keys in `file` (store/record_signing.h for the format). A file
// that others may read or anyone but its owner may write is refused, as ssh
// refuses such private keys: a key others can read signs nothing. `from`
// names the setting, for the message. Throws SettingsError.
std::shared_ptr<const SigningKeys> load_signing_keys(const std::filesystem::path& file, const std::string& from);
// --max-age/GOCACHEFS_MAX_AGE ("5d", "36h", "90m", "600s"; 0: no age limit;
// default 5 days) and --max-size/GOCACHEFS_MAX_SIZE ("20GiB", "500MB", bytes;
// 0 or unset: no cap).
TrimPolicy resolve_trim_policy(const Flags& flags);

}  // namespace gocachefs
