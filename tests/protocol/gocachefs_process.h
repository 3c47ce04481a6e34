// A gocachefs process driven through its stdin/stdout, the way cmd/go does.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "store/ids.h"
#include "tests/support/subprocess.h"

namespace gocachefs::testing {

using nlohmann::json;

// The gocachefs binary under test (set by CMake).
std::string gocachefs_binary();

class GocachefsProcess {
 public:
  explicit GocachefsProcess(const std::string& store_dir, std::vector<std::string> extra_args = {},
                            const Environment& env = environment_with({}));
  // Any command line that ends up running gocachefs (under unshare, say).
  struct CommandLine {
    std::vector<std::string> argv;
  };
  explicit GocachefsProcess(const CommandLine& command);

  // Reads the handshake; returns it.
  json handshake();
  // Writes a request line and the blank line cmd/go writes after it.
  void send(const json& request);
  void send_raw(const std::string& bytes) { child_.write(bytes); }
  // The next response, or a null json after 30 s or at EOF.
  json receive();
  // Reads `n` responses and indexes them by ID; fails the test on a
  // repeated ID.
  std::map<std::int64_t, json> receive(std::size_t n);

  // put as cmd/go sends it: request, blank line, then the body line.
  void put(std::int64_t id, const Id& action, const std::string& body);
  void get(std::int64_t id, const Id& action);
  // Sends close and returns its response.
  json close(std::int64_t id);

  Child& child() { return child_; }

 private:
  Child child_;
};

}  // namespace gocachefs::testing
