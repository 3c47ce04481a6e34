#include "src/daemon/tool_prefetch.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>
#include <utility>

namespace gocachefs {

namespace {

// Enough to tell a pid seen a moment ago from a new process; a reused pid
// that is missed only costs its read-ahead.
constexpr std::size_t kSeenOpeners = 4096;
// A link of cmd/go names about 350 archives; more than any importcfg.
constexpr std::size_t kMaxQueuedFetches = 100000;

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

// Remembers `key` in a set bounded by evicting the oldest; false when it was there.
template <typename Key>
bool remember(std::unordered_set<Key>& set, std::deque<Key>& order, const Key& key) {
  if (!set.insert(key).second) return false;
  order.push_back(key);
  if (order.size() > kSeenOpeners) {
    set.erase(order.front());
    order.pop_front();
  }
  return true;
}

// The object a path names when it is a file in the mount.
std::optional<Id> mount_object(std::string_view path, const std::filesystem::path& mount_dir) {
  const std::string prefix = mount_dir.string() + "/";
  if (!path.starts_with(prefix)) return std::nullopt;
  return id_from_hex(path.substr(prefix.size()));
}

std::vector<std::string> split_nul(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\0', start)) != std::string::npos; start = end + 1) {
    parts.push_back(text.substr(start, end - start));
  }
  if (start < text.size()) parts.push_back(text.substr(start));
  return parts;
}

}  // namespace

std::optional<std::string> importcfg_argument(const std::vector<std::string>& argv) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    if (arg.starts_with("--")) arg.remove_prefix(1);
    if (arg == "-importcfg" && i + 1 < argv.size()) return argv[i + 1];
    if (arg.starts_with("-importcfg=")) return std::string(arg.substr(std::string_view("-importcfg=").size()));
  }
  return std::nullopt;
}

std::vector<Id> mount_objects_in_vet_config(std::string_view vet_config, const std::filesystem::path& mount_dir) {
  std::vector<Id> objects;
  const auto config = nlohmann::json::parse(vet_config, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return objects;
  const auto files = config.find("PackageFile");
  if (files == config.end() || !files->is_object()) return objects;
  for (const auto& [import_path, file] : files->items()) {
    if (!file.is_string()) continue;
    if (const auto id = mount_object(file.get<std::string>(), mount_dir)) objects.push_back(*id);
  }
  return objects;
}

std::vector<Id> mount_objects_in_importcfg(std::string_view importcfg, const std::filesystem::path& mount_dir) {
  std::vector<Id> objects;
  while (!importcfg.empty()) {
    const std::size_t end = importcfg.find('\n');
    std::string_view line = importcfg.substr(0, end);
    importcfg.remove_prefix(end == std::string_view::npos ? importcfg.size() : end + 1);
    if (!line.starts_with("packagefile ")) continue;
    const std::size_t equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    if (const auto id = mount_object(line.substr(equals + 1), mount_dir)) objects.push_back(*id);
  }
  return objects;
}

ToolPrefetcher::ToolPrefetcher(LazyFs& fs, std::filesystem::path mount_dir, std::size_t parallel_fetches)
    : fs_(fs),
      mount_dir_(std::move(mount_dir)),
      fetches_(parallel_fetches, kMaxQueuedFetches),
      scanner_([this] { scan_openers(); }) {}

ToolPrefetcher::~ToolPrefetcher() {
  stop();
  // fetches_ runs what is queued: each task sees stopping_ and returns.
}

void ToolPrefetcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  opener_ready_.notify_all();
  if (scanner_.joinable()) scanner_.join();
}

void ToolPrefetcher::opened_by(pid_t pid) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || !remember(seen_, seen_order_, pid)) return;
    openers_.push_back(pid);
  }
  opener_ready_.notify_one();
}

void ToolPrefetcher::scan_openers() {
  std::unique_lock lock(mutex_);
  for (;;) {
    opener_ready_.wait(lock, [&] { return stopping_ || !openers_.empty(); });
    if (stopping_) return;
    const pid_t pid = openers_.front();
    openers_.pop_front();
    lock.unlock();
    read_ahead_for(pid);
    lock.lock();
  }
}

void ToolPrefetcher::read_ahead_for(pid_t pid) {
  // /proc/<tid> works for any thread's id, which is what FUSE reports.
  const auto cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline) return;  // gone already
  const auto argv = split_nul(*cmdline);
  auto config_path = importcfg_argument(argv);
  const bool vet = !config_path && !argv.empty() && argv.back().ends_with("/vet.cfg");
  if (vet) config_path = argv.back();
  if (!config_path) {
    spdlog::debug("read-ahead: process {} ({}) names no importcfg", pid, argv.empty() ? "" : argv.front());
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (!remember(configs_seen_, configs_order_, *config_path)) return;
  }
  const auto config = read_file(*config_path);
  if (!config) return;
  const auto objects = vet ? mount_objects_in_vet_config(*config, mount_dir_)
                           : mount_objects_in_importcfg(*config, mount_dir_);
  spdlog::debug("read-ahead: process {} reads {} objects of the mount ({})", pid, objects.size(), *config_path);
  for (const Id& id : objects) {
    fetches_.submit([this, id] {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      if (fs_.fetch_ahead(id)) ++objects_read_ahead_;
    });
  }
}

}  // namespace gocachefs
