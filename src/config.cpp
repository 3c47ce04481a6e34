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

RemoteConfig resolve_remote(const std::string& url_flag, bool read_only_flag, const std::vector<std::string>& headers,
                            double upload_wait_seconds) {
  RemoteConfig config;
  config.url = url_flag.empty() ? env("GOCACHEFS_REMOTE") : url_flag;
  const std::string read_only = env("GOCACHEFS_REMOTE_READ_ONLY");
  config.settings.read_only = read_only_flag || read_only == "1" || read_only == "true";
  config.options.bearer_token = env("GOCACHEFS_REMOTE_TOKEN");
  config.options.extra_headers = headers;
  if (upload_wait_seconds < 0) {
    const std::string wait = env("GOCACHEFS_UPLOAD_WAIT");
    upload_wait_seconds = wait.empty() ? 60 : std::stod(wait);
  }
  config.settings.upload_wait = std::chrono::milliseconds(static_cast<long long>(upload_wait_seconds * 1000));
  return config;
}

}  // namespace gocachefs
