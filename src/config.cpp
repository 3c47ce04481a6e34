#include "src/config.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <initializer_list>
#include <optional>
#include <thread>

namespace gocachefs {

namespace {

constexpr std::array<const char*, 7> kLogLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
constexpr double kMaxUploadWaitSeconds = 86400;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// A yes/no environment variable; empty is `fallback`.
bool env_flag(const char* name, bool fallback) {
  const std::string value = env(name);
  if (value.empty()) return fallback;
  for (const char* yes : {"1", "true", "yes", "on"}) {
    if (value == yes) return true;
  }
  for (const char* no : {"0", "false", "no", "off"}) {
    if (value == no) return false;
  }
  throw SettingsError(std::string(name) + "=\"" + value + "\" is not understood: use 1 or 0");
}

double seconds_setting(const std::string& text, const char* name) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno != 0 || !std::isfinite(value) || value < 0 ||
      value > kMaxUploadWaitSeconds) {
    throw SettingsError(std::string(name) + "=\"" + text + "\" is not a number of seconds from 0 to 86400");
  }
  return value;
}

// A flag, else its environment variable; `*from` names where it came from.
std::string flag_or_env(const std::string& flag, const char* flag_name, const char* env_name, std::string* from) {
  *from = flag.empty() ? env_name : flag_name;
  return flag.empty() ? env(env_name) : flag;
}

// A number followed by a unit from `units` (name, multiplier); a bare number
// takes `bare`'s multiplier (0: a unit is required). Empty on a bad value.
std::optional<double> with_unit(const std::string& text, std::initializer_list<std::pair<const char*, double>> units,
                                double bare) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || errno != 0 || !std::isfinite(value) || value < 0) return std::nullopt;
  const std::string unit = end;
  if (unit.empty()) return bare > 0 || value == 0 ? std::optional(value * bare) : std::nullopt;
  for (const auto& [name, multiplier] : units) {
    if (unit == name) return value * multiplier;
  }
  return std::nullopt;
}

// A size in bytes, or with a unit (binary or decimal); empty on a bad value.
std::optional<double> size_setting(const std::string& text) {
  constexpr double k = 1024;
  return with_unit(text,
                   {{"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"KiB", k}, {"MiB", k * k},
                    {"GiB", k * k * k}, {"TiB", k * k * k * k}, {"K", k}, {"M", k * k}, {"G", k * k * k},
                    {"T", k * k * k * k}},
                   1);
}

}  // namespace

std::shared_ptr<const SigningKeys> load_signing_keys(const std::filesystem::path& file, const std::string& from) {
  const std::string named = from + " " + file.string();
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    throw SettingsError(named + " cannot be read: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) throw SettingsError(named + " is not a file");
  if ((st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw SettingsError(named + " has mode " + mode +
                        ": others may read or change the signing keys; make it private: chmod 600 " + file.string());
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw SettingsError(named + " cannot be read");
  try {
    return std::make_shared<const SigningKeys>(SigningKeys::parse(text.str()));
  } catch (const std::invalid_argument& e) {
    throw SettingsError(named + ": " + e.what());
  }
}

std::filesystem::path resolve_store_dir(const std::string& flag) {
  std::filesystem::path dir;
  if (!flag.empty()) {
    dir = flag;
  } else if (auto from_env = env("GOCACHEFS_DIR"); !from_env.empty()) {
    dir = from_env;
  } else if (auto xdg = env("XDG_CACHE_HOME"); !xdg.empty() && xdg.front() == '/') {
    // The XDG spec says relative values are invalid and must be ignored.
    dir = std::filesystem::path(xdg) / "gocachefs";
  } else if (auto home = env("HOME"); !home.empty()) {
    dir = std::filesystem::path(home) / ".cache" / "gocachefs";
  } else {
    throw SettingsError("no store directory: HOME is not set; set GOCACHEFS_DIR or pass --dir");
  }
  // cmd/go may run us from any directory: a relative store must not move.
  std::error_code ec;
  auto absolute = std::filesystem::absolute(dir, ec);
  return ec ? dir : absolute.lexically_normal();
}

std::filesystem::path resolve_log_file(const std::string& flag) {
  if (!flag.empty()) return flag;
  return env("GOCACHEFS_LOG_FILE");
}

std::string resolve_log_level(const std::string& flag) {
  const std::string from_env = env("GOCACHEFS_LOG_LEVEL");
  const std::string level = !flag.empty() ? flag : !from_env.empty() ? from_env : "info";
  if (std::find_if(kLogLevels.begin(), kLogLevels.end(), [&](const char* l) { return level == l; }) ==
      kLogLevels.end()) {
    throw SettingsError(std::string(flag.empty() ? "GOCACHEFS_LOG_LEVEL" : "--log-level") + " \"" + level +
                        "\" is not a log level: use trace, debug, info, warn, error, critical or off");
  }
  return level;
}

RemoteConfig resolve_remote(const Flags& flags) {
  RemoteConfig config;
  config.url = flags.remote.empty() ? env("GOCACHEFS_REMOTE") : flags.remote;
  config.settings.read_only = flags.remote_read_only || env_flag("GOCACHEFS_REMOTE_READ_ONLY", false);
  config.options.bearer_token = env("GOCACHEFS_REMOTE_TOKEN");
  config.options.extra_headers = flags.remote_headers;
  double wait = flags.upload_wait_seconds;
  if (wait < 0) {
    const std::string from_env = env("GOCACHEFS_UPLOAD_WAIT");
    wait = from_env.empty() ? 60 : seconds_setting(from_env, "GOCACHEFS_UPLOAD_WAIT");
  }
  config.settings.upload_wait = std::chrono::milliseconds(static_cast<long long>(wait * 1000));
  std::string from;
  config.signing_key_file =
      flag_or_env(flags.signing_key_file, "--signing-key-file", "GOCACHEFS_SIGNING_KEY_FILE", &from);
  if (!config.signing_key_file.empty()) {
    config.signing_key_file = std::filesystem::absolute(config.signing_key_file);  // the daemon runs elsewhere
    config.settings.trust.keys = load_signing_keys(config.signing_key_file, from);
  }
  const std::string max_object =
      flag_or_env(flags.max_object_size, "--max-object-size", "GOCACHEFS_MAX_OBJECT_SIZE", &from);
  if (!max_object.empty()) {
    const auto bytes = size_setting(max_object);
    if (!bytes || *bytes < 1 || *bytes > 1e18) {
      throw SettingsError(from + " \"" + max_object + "\" is not a size: use bytes or a number with MiB, GiB, MB, GB, ... as 4GiB");
    }
    config.settings.trust.max_object_size = static_cast<std::uint64_t>(*bytes);
  }
  return config;
}

TrimPolicy resolve_trim_policy(const Flags& flags) {
  TrimPolicy policy;
  std::string from;
  if (const std::string age = flag_or_env(flags.max_age, "--max-age", "GOCACHEFS_MAX_AGE", &from); !age.empty()) {
    const auto seconds = with_unit(age, {{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}}, 0);
    if (!seconds || *seconds > 3650.0 * 86400) {
      throw SettingsError(from + " \"" + age + "\" is not an age: use a number with s, m, h or d, as 5d or 36h (0: no limit)");
    }
    policy.max_age = *seconds == 0 ? std::chrono::nanoseconds::max() / 2
                                   : std::chrono::nanoseconds(static_cast<std::int64_t>(*seconds * 1e9));
  }
  if (const std::string size = flag_or_env(flags.max_size, "--max-size", "GOCACHEFS_MAX_SIZE", &from); !size.empty()) {
    const auto bytes = size_setting(size);
    if (!bytes || *bytes > 1e18) {
      throw SettingsError(from + " \"" + size + "\" is not a size: use bytes or a number with MiB, GiB, MB, GB, ... as 20GiB (0: no cap)");
    }
    policy.max_size = static_cast<std::uint64_t>(*bytes);
  }
  return policy;
}

Settings resolve_settings(const Flags& flags) {
  Settings settings;
  settings.store_dir = resolve_store_dir(flags.dir);
  settings.log_file = resolve_log_file(flags.log_file);
  settings.log_level = resolve_log_level(flags.log_level);
  // Local work is short, so a few more threads than cores keep both busy
  // while some wait on the disk or on SQLite's lock.
  settings.workers = flags.jobs ? flags.jobs : std::max(4u, 2 * std::thread::hardware_concurrency());
  settings.remote = resolve_remote(flags);
  const std::string lazy = !flags.lazy.empty() ? flags.lazy : env("GOCACHEFS_LAZY");
  // Auto by default: lazily, a fresh machine moves a seventh of the bytes
  // and is as fast or faster, linking included (BENCHMARKS.md, section 5).
  if (lazy.empty() || lazy == "auto") {
    settings.lazy = LazyMode::kAuto;
  } else if (lazy == "on") {
    settings.lazy = LazyMode::kOn;
  } else if (lazy == "off") {
    settings.lazy = LazyMode::kOff;
  } else {
    throw SettingsError((flags.lazy.empty() ? "GOCACHEFS_LAZY=\"" : "--lazy \"") + lazy +
                        "\" is not understood: use auto, on or off");
  }
  settings.mount_dir = flags.mount.empty() ? settings.store_dir / "mnt" : std::filesystem::absolute(flags.mount);
  double idle = flags.daemon_idle_seconds;
  if (idle < 0) {
    const std::string from_env = env("GOCACHEFS_DAEMON_IDLE");
    idle = from_env.empty() ? 600 : seconds_setting(from_env, "GOCACHEFS_DAEMON_IDLE");
  }
  settings.daemon_idle = std::chrono::seconds(static_cast<long long>(idle));
  settings.trim = resolve_trim_policy(flags);
  try {
    settings.packs = resolve_pack_settings(!settings.remote.url.empty(), settings.remote.settings.read_only);
  } catch (const std::invalid_argument& e) {
    throw SettingsError(e.what());
  }
  return settings;
}

}  // namespace gocachefs
