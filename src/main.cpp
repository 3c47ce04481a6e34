// gocachefs: a GOCACHEPROG cache program for the go command.
//
//   gocachefs [options]         speak the protocol on stdin/stdout (cmd/go runs this)
//   gocachefs stats [options]   show what the store holds and how it served

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include <spdlog/spdlog.h>

#include "src/cache.h"
#include "src/config.h"
#include "src/logging.h"
#include "src/session.h"
#include "src/stats.h"
#include "store/index.h"
#include "store/object_store.h"

namespace {

using namespace gocachefs;

struct Flags {
  std::string dir;
  std::string log_file;
  std::string log_level;
  unsigned jobs = 0;
};

std::filesystem::path index_path(const std::filesystem::path& store_dir) { return store_dir / "index.sqlite"; }

int serve(const Flags& flags) {
  // A go command that exits early closes the pipe; write() then fails with
  // EPIPE (handled) instead of killing us.
  signal(SIGPIPE, SIG_IGN);
  const auto store_dir = resolve_store_dir(flags.dir);
  std::filesystem::create_directories(store_dir);
  start_logging(resolve_log_file(flags.log_file, store_dir), resolve_log_level(flags.log_level));
  if (isatty(STDIN_FILENO)) {
    std::fprintf(stderr,
                 "gocachefs speaks the GOCACHEPROG protocol on stdin/stdout; the go command runs it.\n"
                 "Try: GOCACHEPROG=gocachefs go build ./...   (gocachefs --help for more)\n");
  }

  // Local work is short, so a few more threads than cores keep both busy
  // while some wait on the disk or on SQLite's lock.
  const unsigned workers = flags.jobs ? flags.jobs : std::max(4u, 2 * std::thread::hardware_concurrency());
  Session session(STDIN_FILENO, STDOUT_FILENO, SessionOptions{.workers = workers});
  session.greet();

  ObjectStore objects(store_dir);
  objects.remove_stale_temp_files(std::chrono::hours(1));
  Index index(index_path(store_dir));
  Cache cache(objects, index);
  spdlog::info("serving store {} with {} workers", store_dir.string(), workers);
  const int code = session.run(cache);
  spdlog::info("session ended ({})", code);
  return code;
}

int stats(const Flags& flags) {
  const auto store_dir = resolve_store_dir(flags.dir);
  if (!std::filesystem::exists(index_path(store_dir))) {
    std::printf("store:    %s\n(empty: nothing has been cached here yet)\n", store_dir.c_str());
    return 0;
  }
  Index index(index_path(store_dir));
  std::fputs(format_stats(store_dir, index.totals()).c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "gocachefs: a build cache for the go command (GOCACHEPROG).\n\n"
      "The go command starts it and speaks JSON to it on stdin/stdout:\n"
      "  GOCACHEPROG=gocachefs go build ./...\n"
      "  go env -w GOCACHEPROG=\"gocachefs --dir '/path/to/store'\"\n",
      "gocachefs"};
  app.set_version_flag("--version", std::string("gocachefs ") + GOCACHEFS_VERSION);
  Flags flags;
  app.add_option("--dir", flags.dir,
                 "Store directory (default: $GOCACHEFS_DIR, else $XDG_CACHE_HOME/gocachefs, else ~/.cache/gocachefs)");
  app.add_option("--log-file", flags.log_file, "Log file (default: $GOCACHEFS_LOG_FILE, else <dir>/gocachefs.log)");
  app.add_option("--log-level", flags.log_level,
                 "trace, debug, info, warn, error, critical or off (default: $GOCACHEFS_LOG_LEVEL, else info)");
  app.add_option("--jobs", flags.jobs, "Requests served at once (default: twice the cores, at least 4)")
      ->check(CLI::Range(1u, 1024u));
  auto* stats_command = app.add_subcommand("stats", "Show entries, bytes, hits and misses of the store");
  stats_command->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // --help and --version print to stdout, errors to stderr
  }
  try {
    return stats_command->parsed() ? stats(flags) : serve(flags);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    std::fprintf(stderr, "gocachefs: %s\n", e.what());
    return 1;
  }
}
