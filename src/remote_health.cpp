#include "src/remote_health.h"

#include <spdlog/spdlog.h>

#include <cstdio>

namespace gocachefs {

void RemoteHealth::failed(const RemoteResult& result) {
  spdlog::warn("remote {}: {}", description_, result.error);
  if (result.status == RemoteResult::kUnauthorized) {
    // Retrying cannot help: say so once, and leave the remote alone for the
    // longest cool-down.
    if (!told_user_.exchange(true)) {
      std::fprintf(stderr, "gocachefs: remote %s refused the credentials (%s); building without it\n",
                   description_.c_str(), result.error.c_str());
    }
    breaker_.open_for(CircuitBreaker::kMaxCoolDown);
    return;
  }
  if (breaker_.record_failure()) {
    spdlog::warn("remote {} keeps failing: not asking it for a while", description_);
    if (!told_user_.exchange(true)) {
      std::fprintf(stderr, "gocachefs: remote %s is failing (%s); building without it for now\n",
                   description_.c_str(), result.error.c_str());
    }
  }
}

}  // namespace gocachefs
