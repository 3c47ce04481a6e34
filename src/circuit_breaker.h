// Stops asking a remote that keeps failing, so that a dead remote costs a
// build little: after kTripAfter failures in a row it opens (no requests)
// for a cool-down that doubles on each new trip (capped). Then it is
// half-open: one request, the probe, goes; the others are answered without
// the remote until the probe's result closes it (success) or opens it again
// (failure).
#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>

namespace gocachefs {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kTripAfter = 5;
  static constexpr std::chrono::seconds kFirstCoolDown{5};
  static constexpr std::chrono::seconds kMaxCoolDown{300};
  // A probe that reports nothing for this long (its caller made no request
  // after all, or the result was neither success nor failure) no longer
  // holds the others back: the next request probes.
  static constexpr std::chrono::seconds kProbeTimeout{10};

  enum class State {
    kClosed,    // requests go
    kOpen,      // cooling down: nothing goes
    kHalfOpen,  // cooled down: the next allow() is the probe
    kProbing,   // the probe is out: the others wait for its result
  };

  State state(Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    return state_locked(now);
  }

  // Whether a request may go now: always while closed, never while open;
  // when half-open, true once (that caller is the probe).
  bool allow(Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    switch (state_locked(now)) {
      case State::kClosed:
        return true;
      case State::kHalfOpen:
        probe_started_ = now;
        probe_out_ = true;
        return true;
      case State::kOpen:
      case State::kProbing:
        break;
    }
    return false;
  }
  void record_success() {
    std::lock_guard lock(mutex_);
    failures_in_a_row_ = 0;
    cool_down_ = kFirstCoolDown;
    open_ = false;
    probe_out_ = false;
  }
  // A result that says nothing of the remote (our disk failed): a probe's
  // slot is given back for the next request.
  void record_inconclusive() {
    std::lock_guard lock(mutex_);
    probe_out_ = false;
  }
  void open_for(std::chrono::seconds duration, Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    open_ = true;
    open_until_ = now + duration;
    probe_out_ = false;
  }
  // True when this failure tripped the breaker: the kTripAfter-th in a row,
  // or any once the cool-down is over (the probe's).
  bool record_failure(Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    const State state = state_locked(now);
    if (state == State::kOpen) return false;  // an answer to a request sent before it opened
    if (state == State::kClosed && ++failures_in_a_row_ < kTripAfter) return false;
    open_ = true;
    open_until_ = now + cool_down_;
    probe_out_ = false;
    cool_down_ = std::min(cool_down_ * 2, std::chrono::duration_cast<std::chrono::seconds>(kMaxCoolDown));
    return true;
  }

 private:
  State state_locked(Clock::time_point now) const {
    if (!open_) return State::kClosed;
    if (now < open_until_) return State::kOpen;
    if (probe_out_ && now < probe_started_ + kProbeTimeout) return State::kProbing;
    return State::kHalfOpen;
  }

  std::mutex mutex_;
  int failures_in_a_row_ = 0;
  bool open_ = false;
  Clock::time_point open_until_{};
  bool probe_out_ = false;
  Clock::time_point probe_started_{};
  std::chrono::seconds cool_down_ = kFirstCoolDown;
};

}  // namespace gocachefs
