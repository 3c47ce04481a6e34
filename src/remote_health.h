// What gocachefs knows of its remote's health, shared by fetches and
// uploads: a circuit breaker, and one clear message on stderr (not one per
// request) when the remote refuses the credentials or keeps failing.
#pragma once

#include <atomic>
#include <string>

#include "src/circuit_breaker.h"
#include "store/remote/remote.h"

namespace gocachefs {

class RemoteHealth {
 public:
  explicit RemoteHealth(std::string description) : description_(std::move(description)) {}

  bool allow() { return breaker_.allow(); }
  void succeeded() { breaker_.record_success(); }
  // Logs the failure and counts it towards tripping the breaker.
  void failed(const RemoteResult& result);

 private:
  std::string description_;
  CircuitBreaker breaker_;
  std::atomic<bool> told_user_{false};
};

}  // namespace gocachefs
