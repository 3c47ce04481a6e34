#include "tests/support/test_server.h"

#include <unistd.h>

#include <filesystem>
#include <sstream>

namespace gocachefs::testing {

std::string scripts_dir() { return std::string(GOCACHEFS_SOURCE_DIR) + "/scripts"; }

std::unique_ptr<TestServer> TestServer::start(const std::string& kind, const std::vector<std::string>& args,
                                              std::string* why) {
  const std::string tools = std::string(GOCACHEFS_SOURCE_DIR) + "/build/tools/";
  const std::map<std::string, std::string> needs = {
      {"nginx", "nginx"}, {"nginx-default-limit", "nginx"}, {"minio", tools + "minio"}, {"bazel-remote", tools + "bazel-remote"}, {"fault", "python3"},
      {"oidc", "python3"}, {"aws-metadata", "python3"}, {"ec2-metadata-mock", tools + "ec2-metadata-mock"},
      {"gha", "python3"}};
  const std::string program = needs.at(kind);
  const bool present = program.find('/') != std::string::npos
                           ? std::filesystem::exists(program)
                           : run_command({"sh", "-c", "command -v " + program}).exit_code == 0;
  if (!present) {
    *why = kind + " is not installed (" + program + "); scripts/setup.sh installs it";
    return nullptr;
  }
  std::unique_ptr<TestServer> server(new TestServer());
  server->dir_ = std::make_unique<TempDir>();
  server->kind_ = kind;
  server->args_ = args;
  server->launch();
  return server;
}

void TestServer::launch() {
  std::vector<std::string> argv = {scripts_dir() + "/test_server.sh", "start", kind_, dir()};
  argv.insert(argv.end(), args_.begin(), args_.end());
  const auto result = run_command(argv, environment_with({{"OWNER_PID", std::to_string(getpid())}}), "",
                                  std::chrono::seconds(60));
  if (result.exit_code != 0) throw std::runtime_error("starting " + kind_ + " failed: " + result.err);
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) values_[line.substr(0, eq)] = line.substr(eq + 1);
  }
  running_ = true;
}

void TestServer::restart() {
  stop();
  launch();
}

void TestServer::stop() {
  if (!running_) return;
  run_command({scripts_dir() + "/test_server.sh", "stop", dir()});
  running_ = false;
}

TestServer::~TestServer() { stop(); }

}  // namespace gocachefs::testing
