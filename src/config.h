// Where things live, from flags, environment and defaults, in that order.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "src/cache.h"
#include "store/remote/remote.h"

namespace gocachefs {

struct Config {
  std::filesystem::path store_dir;
  std::filesystem::path log_file;
  std::string log_level;
  unsigned workers = 0;
};

// --dir, else $GOCACHEFS_DIR, else $XDG_CACHE_HOME/gocachefs, else
// ~/.cache/gocachefs. Throws std::runtime_error when none can be found.
std::filesystem::path resolve_store_dir(const std::string& flag);

// --log-file, else $GOCACHEFS_LOG_FILE, else <store>/gocachefs.log.
std::filesystem::path resolve_log_file(const std::string& flag, const std::filesystem::path& store_dir);

// --log-level, else $GOCACHEFS_LOG_LEVEL, else "info".
std::string resolve_log_level(const std::string& flag);

struct RemoteConfig {
  std::string url;  // empty: no remote
  RemoteOptions options;
  RemoteSettings settings;
};

// Flags first, then GOCACHEFS_REMOTE, GOCACHEFS_REMOTE_READ_ONLY,
// GOCACHEFS_REMOTE_TOKEN (never a flag: flags show in `ps`) and
// GOCACHEFS_UPLOAD_WAIT. A negative `upload_wait_seconds` means unset.
RemoteConfig resolve_remote(const std::string& url_flag, bool read_only_flag, const std::vector<std::string>& headers,
                            double upload_wait_seconds);

}  // namespace gocachefs
