// Stops asking a remote that keeps failing, so that a dead remote costs a
// build little: after kTripAfter failures in a row it stays closed to
// requests for a cool-down that doubles on each new trip (capped), then lets
// requests try again.
#pragma once

#include <chrono>
#include <mutex>

namespace gocachefs {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kTripAfter = 5;
  static constexpr std::chrono::seconds kFirstCoolDown{5};
  static constexpr std::chrono::seconds kMaxCoolDown{300};

  // False while cooling down: answer without the remote.
  bool allow(Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    return now >= open_until_;
  }
  void record_success() {
    std::lock_guard lock(mutex_);
    failures_in_a_row_ = 0;
    cool_down_ = kFirstCoolDown;
  }
  void open_for(std::chrono::seconds duration, Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    open_until_ = now + duration;
  }
  // True when this failure tripped the breaker.
  bool record_failure(Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    if (++failures_in_a_row_ < kTripAfter || now < open_until_) return false;
    open_until_ = now + cool_down_;
    cool_down_ = std::min(cool_down_ * 2, std::chrono::duration_cast<std::chrono::seconds>(kMaxCoolDown));
    return true;
  }

 private:
  std::mutex mutex_;
  int failures_in_a_row_ = 0;
  Clock::time_point open_until_{};
  std::chrono::seconds cool_down_ = kFirstCoolDown;
};

}  // namespace gocachefs
