#include "src/store_commands.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>

#include <spdlog/spdlog.h>

#include "src/cache_program.h"
#include "src/logging.h"
#include "src/stats.h"
#include "src/store_use.h"
#include "src/trim_schedule.h"
#include "store/verify.h"

namespace gocachefs {

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The store a command works on, opened for writing, with its log.
struct OpenStore {
  Settings settings;
  ObjectStore objects;
  Index index;

  explicit OpenStore(const Flags& flags)
      : settings(resolve_settings(flags)),
        objects(settings.store_dir),
        index(index_path(settings.store_dir), IndexOptions{.on_repair = report_index_repair}) {
    start_logging(settings.log_file.empty() ? settings.store_dir / "gocachefs.log" : settings.log_file,
                  settings.log_level);
  }
};

std::string policy_text(const TrimPolicy& policy) {
  const auto hours = std::chrono::duration_cast<std::chrono::hours>(policy.max_age).count();
  std::string text = hours > 3650 * 24 ? "no age limit"
                     : hours % 24 == 0 ? "unused for " + std::to_string(hours / 24) + " days"
                                       : "unused for " + std::to_string(hours) + " hours";
  if (policy.max_size > 0) text += ", or beyond " + human_bytes(static_cast<double>(policy.max_size));
  return text;
}

// ioprio_set has no glibc wrapper: the idle class reads the disk only when
// nobody else does.
void lower_priority() {
  setpriority(PRIO_PROCESS, 0, 19);
  constexpr int kIoprioWhoProcess = 1, kIoprioClassIdle = 3, kIoprioClassShift = 13;
  syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, kIoprioClassIdle << kIoprioClassShift);
}

}  // namespace

int run_trim(const Flags& flags, bool background) {
  if (background) lower_priority();
  const auto start = std::chrono::steady_clock::now();
  OpenStore store(flags);
  const auto& dir = store.settings.store_dir;
  const auto lock = TrimLock::try_lock(dir);
  if (!lock) {
    if (!background) std::printf("trim: another trim of %s is running\n", dir.c_str());
    return 0;
  }
  if (background && !trim_due(dir)) return 0;
  // Recorded before trimming: a trim that fails or is killed counts for the
  // day too, or else every go command would start another one, failing the
  // same way.
  mark_trimmed(dir);
  EvictionReport report;
  try {
    report = trim_store(store.index, store.objects, store.settings.trim, now_ns());
  } catch (const std::exception& e) {
    spdlog::error("trim{} failed after {:.2f} s: {}; the next one is due in a day", background ? " (background)" : "",
                  seconds_since(start), e.what());
    if (!background) std::fprintf(stderr, "gocachefs: trim failed: %s\n", e.what());
    return 1;
  }
  const std::string line = "removed " + std::to_string(report.objects_removed) + " objects (" +
                           human_bytes(static_cast<double>(report.bytes_freed)) + ") " +
                           policy_text(store.settings.trim) + "; " + std::to_string(report.objects_kept) +
                           " objects (" + human_bytes(static_cast<double>(report.bytes_kept)) + ") stay";
  spdlog::info("trim{}: {} in {:.2f} s", background ? " (background)" : "", line, seconds_since(start));
  if (!background) std::printf("trim: %s\n", line.c_str());
  return 0;
}

int run_verify(const Flags& flags, bool quick) {
  const auto start = std::chrono::steady_clock::now();
  OpenStore store(flags);
  VerifyOptions options{.quick = quick};
  const bool terminal = isatty(STDERR_FILENO);
  auto last_shown = std::chrono::steady_clock::time_point{};
  if (terminal) {
    options.progress = [&](std::uint64_t objects, std::uint64_t of_objects, std::uint64_t bytes,
                           std::uint64_t of_bytes) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_shown < std::chrono::milliseconds(200) && objects != of_objects) return;
      last_shown = now;
      std::fprintf(stderr, "\rverify: %llu of %llu objects, %s of %s ", static_cast<unsigned long long>(objects),
                   static_cast<unsigned long long>(of_objects), human_bytes(static_cast<double>(bytes)).c_str(),
                   human_bytes(static_cast<double>(of_bytes)).c_str());
    };
  }
  const auto report = verify_store(store.index, store.objects, options);
  if (terminal) std::fprintf(stderr, "\r\033[K");
  const double seconds = seconds_since(start);
  std::printf("verify: %llu objects (%s) checked%s in %.1f s (%.0f MiB/s)\n",
              static_cast<unsigned long long>(report.objects_checked),
              human_bytes(static_cast<double>(report.bytes_checked)).c_str(), quick ? " by size" : "", seconds,
              static_cast<double>(report.bytes_checked) / (1 << 20) / std::max(seconds, 1e-3));
  const auto say = [](std::uint64_t n, const char* what) {
    if (n > 0) std::printf("  %llu %s\n", static_cast<unsigned long long>(n), what);
  };
  say(report.corrupt, "objects no longer matched their hash: removed with their actions");
  say(report.wrong_size, "objects had the wrong size (truncated?): removed with their actions");
  say(report.missing_files, "objects were indexed but their files were gone: dropped from the index");
  say(report.orphan_files, "files were not in the index: removed");
  say(report.rows_restored, "objects named by actions had lost their index row: restored");
  say(report.actions_dropped, "objects named by actions had neither row nor good file: their actions dropped");
  if (report.clean()) std::printf("  all good\n");
  spdlog::info("verify{}: {} objects checked in {:.1f} s; {} corrupt, {} wrong size, {} missing, {} orphans, "
               "{} rows restored, {} actions dropped",
               quick ? " --quick" : "", report.objects_checked, seconds, report.corrupt, report.wrong_size,
               report.missing_files, report.orphan_files, report.rows_restored, report.actions_dropped);
  return 0;
}

int run_clean(const Flags& flags) {
  OpenStore store(flags);
  const auto report = clean_store(store.index, store.objects, store_in_use(store.settings.store_dir), now_ns());
  const std::string line = "removed " + std::to_string(report.objects_removed) + " objects (" +
                           human_bytes(static_cast<double>(report.bytes_freed)) + ")";
  spdlog::info("clean: {}, {} files left for running go commands", line, report.files_deferred);
  std::printf("clean: %s from %s\n", line.c_str(), store.settings.store_dir.c_str());
  if (report.files_deferred > 0) {
    std::printf("  go commands are running on this store: the files of the %llu objects used within the hour (%s) "
                "stay until the next trim, for them to read\n",
                static_cast<unsigned long long>(report.files_deferred),
                human_bytes(static_cast<double>(report.bytes_deferred)).c_str());
  }
  if (report.objects_kept > 0) {
    std::printf("  %llu objects put while cleaning stay\n", static_cast<unsigned long long>(report.objects_kept));
  }
  return 0;
}

}  // namespace gocachefs
