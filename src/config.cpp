#include "src/config.h"

#include <cstdlib>
#include <stdexcept>

namespace gocachefs {

namespace {
std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}
}  // namespace

std::filesystem::path resolve_store_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (auto dir = env("GOCACHEFS_DIR"); !dir.empty()) return dir;
  // The XDG spec says relative values are invalid and must be ignored.
  if (auto xdg = env("XDG_CACHE_HOME"); !xdg.empty() && xdg.front() == '/') {
    return std::filesystem::path(xdg) / "gocachefs";
  }
  if (auto home = env("HOME"); !home.empty()) return std::filesystem::path(home) / ".cache" / "gocachefs";
  throw std::runtime_error("no store directory: set --dir, GOCACHEFS_DIR, XDG_CACHE_HOME or HOME");
}

std::filesystem::path resolve_log_file(const std::string& flag, const std::filesystem::path& store_dir) {
  if (!flag.empty()) return flag;
  if (auto file = env("GOCACHEFS_LOG_FILE"); !file.empty()) return file;
  return store_dir / "gocachefs.log";
}

std::string resolve_log_level(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (auto level = env("GOCACHEFS_LOG_LEVEL"); !level.empty()) return level;
  return "info";
}

}  // namespace gocachefs
