#include "src/remote_health.h"

#include <spdlog/spdlog.h>

#include <cstdio>

namespace gocachefs {

void RemoteHealth::failed(const RemoteResult& result) {
  switch (result.status) {
    case RemoteResult::kOk:
    case RemoteResult::kNotFound:
      breaker_.record_success();
      return;
    case RemoteResult::kLocalError:
      spdlog::warn("remote {}: {} (a local fault, not held against the remote)", description_, result.error);
      breaker_.record_inconclusive();
      return;
    case RemoteResult::kRejected:
      spdlog::warn("remote {}: {}", description_, result.error);
      breaker_.record_success();  // it answered
      return;
    case RemoteResult::kUnauthorized:
      spdlog::warn("remote {}: {}", description_, result.error);
      // Retrying cannot help: say so once, and leave the remote alone for the
      // longest cool-down.
      if (!told_user_.exchange(true)) {
        std::fprintf(stderr, "gocachefs: remote %s refused the credentials (%s); building without it\n",
                     description_.c_str(), result.error.c_str());
      }
      breaker_.open_for(CircuitBreaker::kMaxCoolDown);
      return;
    case RemoteResult::kFailed:
      break;
  }
  spdlog::warn("remote {}: {}", description_, result.error);
  if (breaker_.record_failure()) {
    spdlog::warn("remote {} keeps failing: not asking it for a while", description_);
    if (!told_user_.exchange(true)) {
      std::fprintf(stderr, "gocachefs: remote %s is failing (%s); building without it for now\n",
                   description_.c_str(), result.error.c_str());
    }
  }
}

void RemoteHealth::dropped_upload(const std::string& what, const RemoteResult& why, bool tell_user) {
  spdlog::warn("remote {}: dropped the upload of {}: {}", description_, what, why.error);
  if (tell_user && !told_dropped_.exchange(true)) {
    std::fprintf(stderr, "gocachefs: remote %s refused an upload for good (%s); not retrying it, the build goes on\n",
                 description_.c_str(), why.error.c_str());
  }
}

}  // namespace gocachefs
