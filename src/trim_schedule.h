// When the store trims itself: at most once a day, in a process of its own
// at the lowest priority, started by a go command's gocachefs, which never
// waits for it. <store>/trim.stamp's mtime says when the last trim started
// (one that failed or was killed counts too: the log says why);
// <store>/trim.lock lets one trim run at a time.
#pragma once

#include <filesystem>
#include <optional>

#include "src/config.h"

namespace gocachefs {

// Starts `gocachefs trim --background` for the store when a day has passed
// since the last trim. A new store only gets its stamp (nothing in it is old).
void start_trim_if_due(const Settings& settings);

// Held while a trim runs. try_lock() is empty when another trim holds it.
class TrimLock {
 public:
  static std::optional<TrimLock> try_lock(const std::filesystem::path& store_dir);
  TrimLock(TrimLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  TrimLock(const TrimLock&) = delete;
  TrimLock& operator=(const TrimLock&) = delete;
  ~TrimLock();

 private:
  explicit TrimLock(int fd) : fd_(fd) {}
  int fd_;
};

// Whether the last trim is a day old (or there is no record of one).
bool trim_due(const std::filesystem::path& store_dir);
// Records that a trim starts now.
void mark_trimmed(const std::filesystem::path& store_dir);

}  // namespace gocachefs
