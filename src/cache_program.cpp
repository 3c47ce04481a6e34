#include "src/cache_program.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "src/daemon/daemon_client.h"
#include "src/logging.h"
#include "src/trim_schedule.h"
#include "store/temp_file.h"

namespace gocachefs {

namespace {

std::string what_to_do() { return "; set --dir or GOCACHEFS_DIR to a directory you can write"; }

}  // namespace

std::filesystem::path index_path(const std::filesystem::path& store_dir) { return store_dir / "index.sqlite"; }

void report_index_repair(const std::string& message) {
  spdlog::error("{}", message);
  std::fprintf(stderr, "gocachefs: %s\n", message.c_str());
}

CacheProgram::CacheProgram(Settings settings) : settings_(std::move(settings)) {
  const auto& dir = settings_.store_dir;
  std::error_code ec;
  const auto status = std::filesystem::status(dir, ec);
  if (std::filesystem::exists(status) && !std::filesystem::is_directory(status)) {
    throw StartupError("the store " + dir.string() + " is not a directory" + what_to_do());
  }
  if (!std::filesystem::exists(status)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) throw StartupError("cannot create the store " + dir.string() + " (" + ec.message() + ")" + what_to_do());
  }
  if (access(dir.c_str(), R_OK | X_OK) != 0) {
    throw StartupError("cannot read the store " + dir.string() + " (" + std::strerror(errno) + ")" + what_to_do());
  }
  try {
    objects_ = std::make_unique<ObjectStore>(dir);
    TempFile probe(objects_->temp_dir(), "probe-");  // access() cannot tell a read-only mount for root
  } catch (const std::exception& e) {
    const auto* system = dynamic_cast<const std::system_error*>(&e);
    serve_read_only(system ? system->code().message() : e.what());
  }
  std::filesystem::path log_file = settings_.log_file;
  if (log_file.empty()) log_file = (store_writable_ ? dir : private_dir_) / "gocachefs.log";
  try {
    start_logging(log_file, settings_.log_level);
  } catch (const std::exception& e) {
    throw StartupError(e.what());
  }
  if (!store_writable_) log_read_only();
}

CacheProgram::~CacheProgram() {
  // Everything that has files open in the private store goes first.
  cache_.reset();
  lazy_.reset();
  bulk_remote_.reset();
  remote_.reset();
  base_.reset();
  base_index_.reset();
  index_.reset();
  objects_.reset();
  if (!private_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(private_dir_, ec);
  }
}

void CacheProgram::serve_read_only(const std::string& why) {
  store_writable_ = false;
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/gocachefs-session-XXXXXX";
  if (!mkdtemp(pattern.data())) {
    throw StartupError("the store " + settings_.store_dir.string() + " cannot be written (" + why +
                       ") and no private store could be made in " + pattern + " (" + std::strerror(errno) + ")" +
                       what_to_do());
  }
  private_dir_ = pattern;
  base_objects_ = std::make_unique<ObjectStore>(settings_.store_dir, /*read_only=*/true);
  try {
    objects_ = std::make_unique<ObjectStore>(private_dir_);
  } catch (const std::exception& e) {
    throw StartupError("cannot use the private store " + private_dir_.string() + ": " + e.what());
  }
  std::fprintf(stderr,
               "gocachefs: the store %s cannot be written (%s): serving its hits read-only; this session's "
               "puts go to %s and are dropped at exit\n",
               settings_.store_dir.c_str(), why.c_str(), private_dir_.c_str());
  read_only_reason_ = why;
}

void CacheProgram::log_read_only() const {
  spdlog::warn("store {} is read-only ({}); puts go to {}", settings_.store_dir.string(), read_only_reason_,
               private_dir_.string());
}

std::unique_ptr<Index> CacheProgram::open_index(const std::filesystem::path& store_dir, bool read_only) {
  return std::make_unique<Index>(index_path(store_dir), IndexOptions{.read_only = read_only,
                                                                     .on_repair = report_index_repair});
}

Cache& CacheProgram::open() {
  if (store_writable_) in_use_.emplace(settings_.store_dir);
  if (store_writable_) {
    try {
      index_ = open_index(settings_.store_dir, false);
    } catch (const IndexError& e) {
      // The directory can be written but the index cannot (another user's
      // file, say): damage was repaired inside Index, so this is not damage.
      serve_read_only(e.what());
      log_read_only();
    }
  }
  try {
    if (!store_writable_) {
      index_ = open_index(private_dir_, false);
      if (std::filesystem::exists(index_path(settings_.store_dir))) {
        try {
          base_index_ = open_index(settings_.store_dir, true);
          base_.emplace(ReadOnlyStore{*base_objects_, *base_index_});
        } catch (const IndexError& e) {
          spdlog::error("cannot read the index of the read-only store: {}", e.what());
          std::fprintf(stderr, "gocachefs: cannot read the index of the read-only store, serving none of it: %s\n",
                       e.what());
        }
      }
    }
  } catch (const IndexError& e) {
    throw StartupError(e.what());
  }
  if (const std::size_t removed = objects_->remove_abandoned_temp_files()) {
    spdlog::info("removed {} temp files of killed processes", removed);
  }
  const RemoteConfig& remote = settings_.remote;
  if (!remote.url.empty()) {
    try {
      remote_ = std::make_unique<MeasuredRemote>(make_remote(remote.url, remote.options));
    } catch (const std::invalid_argument& e) {
      // A misconfigured remote must not fail the build: say so, go on locally.
      spdlog::error("remote disabled: {}", e.what());
      std::fprintf(stderr, "gocachefs: remote disabled: %s\n", e.what());
    }
  }
  cache_ = std::make_unique<Cache>(*objects_, *index_, remote_.get(), remote.settings, base_ ? &*base_ : nullptr);
  // The daemon writes fetched objects into the store: not for a read-only one.
  if (remote_ && store_writable_ && settings_.lazy != LazyMode::kOff) {
    lazy_ = std::make_unique<DaemonClient>(settings_);
    cache_->use_lazy(lazy_.get());
  }
  if (remote_ && store_writable_) {
    bulk_remote_ = std::make_unique<MeasuredRemote>(make_remote(remote.url, bulk_remote_options(remote.options)));
    cache_->use_packs(settings_.packs, *bulk_remote_);
  }
  spdlog::info("serving store {}{} with {} workers, remote {}{}", settings_.store_dir.string(),
               store_writable_ ? "" : " (read-only)", settings_.workers, remote_ ? remote_->describe() : "none",
               remote.settings.read_only ? " (read-only)" : "");
  cache_->count_requests_of({remote_.get(), bulk_remote_.get()});
  if (store_writable_) start_trim_if_due(settings_);
  return *cache_;
}

RemoteCounts CacheProgram::remote_counts() const {
  RemoteCounts total;
  for (const MeasuredRemote* remote : {remote_.get(), bulk_remote_.get()}) {
    if (!remote) continue;
    const RemoteCounts counts = remote->counts();
    total.requests += counts.requests;
    total.failed += counts.failed;
    total.timeouts += counts.timeouts;
    total.refused += counts.refused;
    for (std::size_t i = 0; i < kLatencyBuckets; ++i) total.latency[i] += counts.latency[i];
  }
  return total;
}

}  // namespace gocachefs
