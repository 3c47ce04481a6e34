// A clean AWS environment for one test: every AWS_* variable unset, shared
// files pointed away from the machine's ~/.aws, instance metadata off (a
// test run on EC2 must not find the machine's role), then `values` set.
// Restored at the end of the scope.
#pragma once

#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

extern char** environ;

namespace gocachefs::testing {

class ScopedAwsEnv {
 public:
  explicit ScopedAwsEnv(std::map<std::string, std::string> values = {}) {
    for (char** e = environ; *e; ++e) {
      const std::string entry(*e);
      if (entry.starts_with("AWS_")) saved_[entry.substr(0, entry.find('='))] = entry.substr(entry.find('=') + 1);
    }
    for (const auto& [name, value] : saved_) unsetenv(name.c_str());
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/aws/config", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    for (const auto& [name, value] : values) {
      if (value.empty()) {
        unsetenv(name.c_str());
      } else {
        setenv(name.c_str(), value.c_str(), 1);
      }
    }
  }
  ~ScopedAwsEnv() {
    std::map<std::string, std::string> now;
    for (char** e = environ; *e; ++e) {
      const std::string_view entry(*e);
      if (entry.starts_with("AWS_")) now[std::string(entry.substr(0, entry.find('=')))] = "";
    }
    for (const auto& [name, unused] : now) unsetenv(name.c_str());
    for (const auto& [name, value] : saved_) setenv(name.c_str(), value.c_str(), 1);
  }
  ScopedAwsEnv(const ScopedAwsEnv&) = delete;
  ScopedAwsEnv& operator=(const ScopedAwsEnv&) = delete;

 private:
  std::map<std::string, std::string> saved_;
};

}  // namespace gocachefs::testing
