// Where things live, from flags, environment and defaults, in that order.
#pragma once

#include <filesystem>
#include <string>

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

}  // namespace gocachefs
