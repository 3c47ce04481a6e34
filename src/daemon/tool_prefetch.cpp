#include "src/daemon/tool_prefetch.h"

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

std::vector<Id> mount_objects_in_importcfg(std::string_view importcfg, const std::filesystem::path& mount_dir) {
  const std::string prefix = mount_dir.string() + "/";
  std::vector<Id> objects;
  while (!importcfg.empty()) {
    const std::size_t end = importcfg.find('\n');
    std::string_view line = importcfg.substr(0, end);
    importcfg.remove_prefix(end == std::string_view::npos ? importcfg.size() : end + 1);
    if (!line.starts_with("packagefile ")) continue;
    const std::size_t equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    const std::string_view path = line.substr(equals + 1);
    if (!path.starts_with(prefix)) continue;
    if (const auto id = id_from_hex(path.substr(prefix.size()))) objects.push_back(*id);
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
  const auto importcfg_path = importcfg_argument(split_nul(*cmdline));
  if (!importcfg_path) return;
  {
    std::lock_guard lock(mutex_);
    if (!remember(importcfgs_seen_, importcfgs_order_, *importcfg_path)) return;
  }
  const auto importcfg = read_file(*importcfg_path);
  if (!importcfg) return;
  const auto objects = mount_objects_in_importcfg(*importcfg, mount_dir_);
  spdlog::debug("read-ahead: process {} reads {} objects of the mount ({})", pid, objects.size(), *importcfg_path);
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
