// What gocachefs knows of its remote's health, shared by fetches and
// uploads: a circuit breaker, and one clear message on stderr (not one per
// request) when the remote refuses the credentials or keeps failing, or
// refuses an upload for good.
#pragma once

#include <atomic>
#include <string>

#include "src/circuit_breaker.h"
#include "store/remote/remote.h"

namespace gocachefs {

class RemoteHealth {
 public:
  explicit RemoteHealth(std::string description) : description_(std::move(description)) {}

  // Whether a request may go to the remote now. After a cool-down, true for
  // one caller, the probe: call it just before a request, and report its
  // result with succeeded() or failed().
  bool allow() { return breaker_.allow(); }
  // Whether the breaker is cooling down (asks nothing, takes no probe).
  bool cooling_down() { return breaker_.state() == CircuitBreaker::State::kOpen; }
  // Whether allow() would say yes now (takes no probe).
  bool would_allow() {
    const auto state = breaker_.state();
    return state == CircuitBreaker::State::kClosed || state == CircuitBreaker::State::kHalfOpen;
  }
  void succeeded() { breaker_.record_success(); }
  // Logs the failure and counts it towards tripping the breaker. Only the
  // remote's faults count: kRejected is an answer (the remote works), and
  // kLocalError is ours (a disk that failed under a fetch).
  void failed(const RemoteResult& result);
  // An upload the remote will never take (kRejected), or that failed too
  // often: logged, and said once on stderr per process when `tell_user`.
  void dropped_upload(const std::string& what, const RemoteResult& why, bool tell_user);

 private:
  std::string description_;
  CircuitBreaker breaker_;
  std::atomic<bool> told_user_{false};
  std::atomic<bool> told_dropped_{false};
};

}  // namespace gocachefs
