// A real server for remote tests, started and stopped by
// scripts/test_server.sh on a free loopback port.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace gocachefs::testing {

class TestServer {
 public:
  // Starts `kind` (nginx, nginx-default-limit, minio, bazel-remote, fault, oidc, aws-metadata,
  // ec2-metadata-mock, gha; see scripts/test_server.sh) with `args`; nullptr
  // with `why` set when the server is not installed on this machine.
  static std::unique_ptr<TestServer> start(const std::string& kind, const std::vector<std::string>& args,
                                           std::string* why);
  ~TestServer();  // stops it
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // A value that `start` printed: url, bucket, access_key, secret_key, token...
  // (for gha, url is ACTIONS_RESULTS_URL and token ACTIONS_RUNTIME_TOKEN)
  std::string get(const std::string& key) const { return values_.count(key) ? values_.at(key) : ""; }
  std::string url() const { return get("url"); }
  const std::string& dir() const { return dir_->path(); }
  // Where the fault proxy reads its mode (see scripts/fault_proxy.py).
  void set_fault(const std::string& mode) const { write_file(dir() + "/mode", mode + "\n"); }
  // Stops it now: the remote "dies".
  void stop();
  // Starts it again on its old data, on a new port (url() changes).
  void restart();

 private:
  TestServer() = default;
  void launch();
  std::string kind_;
  std::vector<std::string> args_;
  std::unique_ptr<TempDir> dir_;
  std::map<std::string, std::string> values_;
  bool running_ = false;
};

// The repository's scripts directory.
std::string scripts_dir();

}  // namespace gocachefs::testing
