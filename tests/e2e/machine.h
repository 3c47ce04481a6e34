// What the end-to-end tests with a remote share: a "machine" (an empty
// local store and an empty GOCACHE; machines share only the remote) and the
// remote backends on real servers.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>

#include "store/ids.h"
#include "store/sha256.h"
#include "tests/support/go_output.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_server.h"

namespace gocachefs::testing {

namespace fs = std::filesystem;

struct StoreStats {
  long hits = 0, misses = 0, remote_hits = 0, queued = 0, uploads = 0;
};

// An empty local store and an empty GOCACHE.
class Machine {
 public:
  Machine(std::string remote_url, Environment env = {}) : remote_url_(std::move(remote_url)), env_(std::move(env)) {}
  // A lazy machine's daemon goes with it (it unmounts).
  ~Machine() {
    if (fs::exists(store() + "/daemon.sock")) run_command({GOCACHEFS_BINARY, "stop", "--dir", store()});
  }
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // `wrapper`: a command line the go command runs under (unshare ...).
  CommandResult go(const std::vector<std::string>& args, const std::string& cwd = SAMPLE_MODULE_DIR,
                   const Environment& extra = {}, const std::vector<std::string>& wrapper = {}) const {
    Environment overrides = env_;
    overrides["GOCACHEPROG"] = std::string(GOCACHEFS_BINARY) + " --dir " + store() + " --log-level debug";
    overrides["GOCACHEFS_REMOTE"] = remote_url_;
    overrides["GOCACHE"] = dir_ / "gocache";
    overrides["GOTOOLCHAIN"] = "local";
    overrides["GOPROXY"] = "off";
    overrides["GOFLAGS"] = "-mod=mod";
    overrides["CGO_ENABLED"] = "1";
    overrides["GOENV"] = "off";
    // Eager fetches unless the machine's environment says otherwise: what
    // most of these tests are about (tests/e2e/lazy_test.cpp has the lazy mount).
    if (!env_.contains("GOCACHEFS_LAZY")) overrides["GOCACHEFS_LAZY"] = "off";
    // Per-action fetches: packs are tested in tests/e2e/pack_test.cpp.
    overrides["GOCACHEFS_PACKS"] = "off";
    for (const auto& [k, v] : extra) overrides[k] = v;
    std::vector<std::string> argv = wrapper;
    argv.push_back("go");
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, environment_with(overrides), cwd);
  }

  StoreStats stats() const {
    const auto out = run_command({GOCACHEFS_BINARY, "stats", "--dir", store()}).out;
    auto number = [&](const std::string& pattern) {
      std::smatch m;
      return std::regex_search(out, m, std::regex(pattern)) ? std::stol(m[1].str()) : -1L;
    };
    return {number(R"(hits:\s+(\d+))"), number(R"(misses:\s+(\d+))"), number(R"(remote:\s+(\d+) hits)"),
            number(R"((\d+) queued)"), number(R"((\d+) uploads)")};
  }

  // Every object in the store is the object its name says.
  void expect_only_verified_objects() const {
    int objects = 0;
    for (const auto& entry : fs::recursive_directory_iterator(store() + "/objects")) {
      if (!entry.is_regular_file()) continue;
      ++objects;
      const std::string name = entry.path().filename();
      EXPECT_EQ(to_hex(Sha256::of(read_file(entry.path()))), name) << "corrupt object kept: " << entry.path();
    }
    EXPECT_GT(objects, 0);
  }

  void set_remote(std::string url) { remote_url_ = std::move(url); }
  // The next go command starts from an empty GOCACHE, as on a new machine
  // that shares the store.
  void forget_gocache() const { fs::remove_all(dir_ / "gocache"); }
  std::string store() const { return dir_ / "store"; }
  std::string log() const { return read_file(store() + "/gocachefs.log"); }

 private:
  TempDir dir_;
  std::string remote_url_;
  Environment env_;
};

inline std::string goroot_src() {
  static const std::string src = [] {
    std::string goroot = run_command({"go", "env", "GOROOT"}).out;
    goroot.resize(goroot.find_last_not_of("\n") + 1);
    return goroot + "/src";
  }();
  return src;
}

// Lines gocachefs wrote to the user's terminal.
inline int gocachefs_lines(const std::string& err) {
  int n = 0;
  for (const auto& line : lines_of(err)) n += line.starts_with("gocachefs:");
  return n;
}

// What `go build -x` compiled (its links of main packages are never cached).
inline std::vector<std::string> compiles(const std::string& x_output) {
  std::vector<std::string> compiled;
  for (const auto& action : build_actions(x_output)) {
    if (!action.starts_with("link ")) compiled.push_back(action);
  }
  return compiled;
}

inline bool fuse_usable() {
  return access("/dev/fuse", R_OK | W_OK) == 0 && run_command({"which", "fusermount3"}).exit_code == 0;
}

inline void expect_success(const CommandResult& r, const std::string& what) {
  ASSERT_EQ(r.exit_code, 0) << what << ":\n" << r.out << r.err;
}


struct Backend {
  std::unique_ptr<TestServer> server;
  std::unique_ptr<TempDir> directory;  // file://
  std::string url;
  Environment env;
};

inline Backend start_backend(const std::string& name, std::string* why) {
  Backend b;
  if (name == "file") {
    b.directory = std::make_unique<TempDir>();
    b.url = "file://" + b.directory->path();
  } else if (name == "nginx") {
    b.server = TestServer::start("nginx", {}, why);
    if (b.server) b.url = b.server->url() + "/team-cache";
  } else if (name == "minio") {
    b.server = TestServer::start("minio", {}, why);
    if (b.server) {
      b.url = "s3://" + b.server->get("bucket") + "/go?endpoint=" + b.server->url();
      b.env = {{"AWS_ACCESS_KEY_ID", b.server->get("access_key")},
               {"AWS_SECRET_ACCESS_KEY", b.server->get("secret_key")}};
    }
  } else if (name == "bazel-remote") {
    b.server = TestServer::start("bazel-remote", {}, why);
    if (b.server) b.url = b.server->url();
  }
  return b;
}

}  // namespace gocachefs::testing
