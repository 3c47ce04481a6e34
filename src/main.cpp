// gocachefs: a GOCACHEPROG cache program for the go command.
//
//   gocachefs [options]          speak the protocol on stdin/stdout (cmd/go runs this)
//   gocachefs stats [options]    show what the store holds and how it served
//   gocachefs daemon [options]   serve the lazy mount (started on demand; see src/daemon/daemon.h)
//   gocachefs stop|trim|verify|clean|doctor   looking after the store (src/store_commands.h, src/doctor/doctor.h)

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include <spdlog/spdlog.h>

#include "src/cache_program.h"
#include "src/config.h"
#include "src/daemon/daemon.h"
#include "src/daemon/daemon_socket.h"
#include "src/doctor/doctor.h"
#include "src/logging.h"
#include "src/session.h"
#include "src/stats.h"
#include "src/store_commands.h"
#include "store/index.h"

namespace {

using namespace gocachefs;

// One line per go command in the log: what it asked, what it got, and what
// the remote cost.
void log_summary(const Session::Summary& s, const RemoteCounts& remote, double seconds) {
  std::string line = fmt::format("go command done in {:.2f} s: {} gets ({} hits, {} misses), {} puts ({}), {} errors",
                                 seconds, s.gets, s.gets - std::min(s.gets, s.misses), s.misses, s.puts,
                                 human_bytes(static_cast<double>(s.put_bytes)), s.errors);
  if (remote.requests > 0) {
    std::map<std::string, std::int64_t> histogram;
    for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
      histogram[latency_counter_name(i)] = static_cast<std::int64_t>(remote.latency[i]);
    }
    line += fmt::format("; remote: {} requests, {} failed, {} timed out, p50 <{} ms, p99 <{} ms", remote.requests,
                        remote.failed, remote.timeouts, latency_quantile_ms(histogram, 0.5).value_or(0),
                        latency_quantile_ms(histogram, 0.99).value_or(0));
  }
  spdlog::info("{}", line);
}

int serve(const Flags& flags) {
  // A go command that exits early closes the pipe; write() then fails with
  // EPIPE (handled) instead of killing us.
  signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<CacheProgram> program;
  try {
    program = std::make_unique<CacheProgram>(resolve_settings(flags));
  } catch (const std::runtime_error& e) {  // SettingsError, StartupError
    std::fprintf(stderr, "gocachefs: %s\n", e.what());
    return 1;
  }
  if (isatty(STDIN_FILENO)) {
    std::fprintf(stderr,
                 "gocachefs speaks the GOCACHEPROG protocol on stdin/stdout; the go command runs it.\n"
                 "Try: GOCACHEPROG=gocachefs go build ./...   (gocachefs --help for more)\n");
  }

  Session session(STDIN_FILENO, STDOUT_FILENO, SessionOptions{.workers = program->settings().workers});
  // The handshake needs no store, so it goes out first and cmd/go carries
  // on while the index opens.
  session.greet();
  Cache* cache = nullptr;
  try {
    cache = &program->open();
  } catch (const StartupError& e) {
    spdlog::error("{}", e.what());
    std::fprintf(stderr, "gocachefs: %s\n", e.what());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  const int code = session.run(*cache);
  const Session::Summary summary = session.summary();
  log_summary(summary, program->remote_counts(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (summary.errors > 0) {
    cache->count_request_errors(static_cast<std::int64_t>(summary.errors));
    cache->flush();
  }
  // CPU time, so benchmarks can tell our own cost from the network's.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  spdlog::info("session ended ({}), cpu {:.3f} s user {:.3f} s system", code, seconds(usage.ru_utime),
               seconds(usage.ru_stime));
  return code;
}

// What the store's daemon says of itself; null when none runs.
nlohmann::json daemon_status(const std::filesystem::path& store_dir) {
  const int fd = connect_to(daemon_socket_path(store_dir));
  if (fd < 0) return nullptr;
  LineConnection daemon(fd);
  const auto status = daemon.send({{"op", "status"}}) ? daemon.receive(2000) : std::nullopt;
  return status ? *status : nlohmann::json(nullptr);
}

int stats(const Flags& flags, bool json) {
  const auto store_dir = resolve_store_dir(flags.dir);
  if (json) {
    nlohmann::json out = stats_json(store_dir, IndexTotals{});
    if (std::filesystem::exists(index_path(store_dir))) {
      Index index(index_path(store_dir), IndexOptions{.read_only = access(store_dir.c_str(), W_OK) != 0,
                                                      .on_repair = report_index_repair});
      out = stats_json(store_dir, index.totals());
    }
    out["daemon"] = daemon_status(store_dir);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (!std::filesystem::exists(index_path(store_dir))) {
    std::printf("store:    %s\n(empty: nothing has been cached here yet)\n", store_dir.c_str());
    return 0;
  }
  const bool writable = access(store_dir.c_str(), W_OK) == 0;
  Index index(index_path(store_dir), IndexOptions{.read_only = !writable, .on_repair = report_index_repair});
  std::fputs(format_stats(store_dir, index.totals()).c_str(), stdout);
  if (const auto status = daemon_status(store_dir); status.is_null()) {
    std::printf("daemon:   not running\n");
  } else {
    std::printf("daemon:   up, mount %s, %s files open\n", status.value("mount", "?").c_str(),
                std::to_string(status.value("open_files", 0)).c_str());
  }
  return 0;
}

// Stops the store's daemon, which unmounts; waits until it has gone (it holds
// daemon.lock for its whole life).
int stop(const Flags& flags) {
  const auto store_dir = resolve_store_dir(flags.dir);
  const int fd = connect_to(daemon_socket_path(store_dir));
  if (fd < 0) return 0;
  LineConnection daemon(fd);
  if (!daemon.send({{"op", "stop"}}) || !daemon.receive(5000)) return 1;
  const int lock = open((store_dir / "daemon.lock").c_str(), O_RDWR | O_CLOEXEC);
  for (int i = 0; lock >= 0 && i < 500; ++i) {
    if (flock(lock, LOCK_EX | LOCK_NB) == 0) {
      close(lock);
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr, "gocachefs: the daemon did not stop within 10 s\n");
  return 1;
}

int daemon(const Flags& flags) {
  signal(SIGPIPE, SIG_IGN);
  Daemon daemon(resolve_settings(flags));
  return daemon.run();
}

}  // namespace

int main(int argc, char** argv) {
  discard_logging();
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
  app.add_option("--remote", flags.remote,
                 "Remote store shared by machines: file:///path, http(s)://host/prefix or "
                 "s3://bucket/prefix?region=R&endpoint=URL (default: $GOCACHEFS_REMOTE). A bearer token comes from "
                 "$GOCACHEFS_REMOTE_TOKEN, basic auth from the URL, S3 keys from the usual AWS settings");
  app.add_flag("--remote-read-only", flags.remote_read_only,
               "Fetch from the remote, never upload (default: $GOCACHEFS_REMOTE_READ_ONLY=1)");
  app.add_option("--remote-header", flags.remote_headers, "Extra HTTP header \"Name: value\" (repeatable)");
  app.add_option("--signing-key-file", flags.signing_key_file,
                 "Sign what is uploaded and accept only signed records and packs: a file of lines \"KEYID SECRET\", "
                 "the first signs, all verify (default: $GOCACHEFS_SIGNING_KEY_FILE, else none)");
  app.add_option("--max-object-size", flags.max_object_size,
                 "Refuse remote entries declaring a larger object: 4GiB, ... (default: $GOCACHEFS_MAX_OBJECT_SIZE, "
                 "else 4GiB)");
  app.add_option("--upload-wait", flags.upload_wait_seconds,
                 "Seconds the go command's exit waits for queued uploads (default: $GOCACHEFS_UPLOAD_WAIT, else 60)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--lazy", flags.lazy,
                 "Serve remote hits lazily from a FUSE mount: auto (when FUSE works here), on, off "
                 "(default: $GOCACHEFS_LAZY, else auto)");
  app.add_option("--mount", flags.mount, "Where the daemon mounts its lazy files (default: <dir>/mnt)");
  app.add_option("--daemon-idle", flags.daemon_idle_seconds,
                 "Seconds the daemon stays with no client and no open file (default: $GOCACHEFS_DAEMON_IDLE, else 600)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--max-age", flags.max_age,
                 "Trim objects unused for this long: 5d, 36h, ... (default: $GOCACHEFS_MAX_AGE, else 5d; 0: no limit)");
  app.add_option("--max-size", flags.max_size,
                 "Trim the least recently used objects beyond this size: 20GiB, ... (default: $GOCACHEFS_MAX_SIZE, "
                 "else no cap)");
  auto* stats_command = app.add_subcommand("stats", "Show entries, bytes, hits and misses of the store");
  stats_command->fallthrough();
  bool stats_json = false;
  stats_command->add_flag("--json", stats_json, "As JSON, with every counter");
  auto* trim_command = app.add_subcommand(
      "trim", "Remove what has not been used within --max-age, and beyond --max-size (runs by itself once a day)");
  trim_command->fallthrough();
  bool background = false;
  trim_command->add_flag("--background", background, "(how gocachefs starts its daily trim)")->group("");
  auto* verify_command = app.add_subcommand(
      "verify", "Re-hash every object of the store, drop damaged ones and put index and files back in step");
  verify_command->fallthrough();
  bool quick = false;
  verify_command->add_flag("--quick", quick, "Check sizes only");
  auto* clean_command = app.add_subcommand("clean", "Empty the local store (safe while go commands run)");
  clean_command->fallthrough();
  auto* daemon_command = app.add_subcommand("daemon", "Serve the lazy mount of a store (clients start it)");
  daemon_command->fallthrough();
  auto* stop_command = app.add_subcommand("stop", "Stop the store's daemon, unmounting its lazy files");
  stop_command->fallthrough();
  auto* doctor_command =
      app.add_subcommand("doctor", "Check the go command, the store, FUSE, the daemon and the remote, saying how to fix what fails");
  doctor_command->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // --help and --version print to stdout, errors to stderr
  }
  try {
    if (stats_command->parsed()) return stats(flags, stats_json);
    if (trim_command->parsed()) return run_trim(flags, background);
    if (verify_command->parsed()) return run_verify(flags, quick);
    if (clean_command->parsed()) return run_clean(flags);
    if (daemon_command->parsed()) return daemon(flags);
    if (stop_command->parsed()) return stop(flags);
    if (doctor_command->parsed()) return run_doctor(flags);
    return serve(flags);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    std::fprintf(stderr, "gocachefs: %s\n", e.what());
    return 1;
  }
}
