// What gocachefs refused of what a remote served: records and packs it does
// not trust, objects too large or with no room for them. Each is a miss,
// counted for `gocachefs stats`, and logged once per kind per process: a
// poisoned remote must not fill the log, nor go unnoticed.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>

namespace gocachefs {

class RemoteRefusals {
 public:
  // Counts a refusal; logs `message` when it is the first of `kind`.
  void refuse(const std::string& kind, const std::string& message) {
    ++count_;
    {
      std::lock_guard lock(mutex_);
      if (!logged_.insert(kind).second) return;
    }
    spdlog::warn("{} (further refusals of this kind are counted, not logged: gocachefs stats)", message);
  }
  std::uint64_t count() const { return count_; }

 private:
  std::mutex mutex_;
  std::set<std::string> logged_;
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace gocachefs
