// The store: a directory gocachefs can create, read and write (else every
// go command fails to start it), owned by the user running go (a `sudo go
// build` leaves root's files in it), with free space for builds' outputs,
// and an SQLite index that is not damaged.
#include <pwd.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include "src/cache_program.h"
#include "src/doctor/check.h"
#include "src/stats.h"
#include "store/sqlite_uri.h"
#include "store/temp_file.h"

namespace gocachefs::doctor {

namespace {

namespace fs = std::filesystem;

// Below either, builds may soon fail to store their outputs.
constexpr std::uint64_t kLowFreeBytes = 1ULL << 30;
constexpr double kLowFreeFraction = 0.05;

// A name for chown commands: the login name, else the number.
std::string chown_name(uid_t uid) {
  const passwd* entry = getpwuid(uid);
  return entry ? entry->pw_name : std::to_string(uid);
}

// The closest directory at or above `path` that exists: where a store that
// does not exist yet would be created.
fs::path nearest_existing(fs::path path) {
  std::error_code ec;
  while (!fs::exists(path, ec) && path.has_parent_path() && path != path.parent_path()) path = path.parent_path();
  return path;
}

std::string use_another_store() { return "choose a store you can write with --dir or GOCACHEFS_DIR"; }

// The index check talks to SQLite itself rather than through
// Index(IndexOptions{.read_only = true}).quick_check(): that constructor
// wraps SQLite's message ("SQLite error on <path>: file is not a
// database"), falls back to immutable=1 when a peer holds a lock instead of
// waiting for it, and fails on a sound database without gocachefs's tables,
// and quick_check() returns errors as text without their SQLite code, which
// this check needs to tell locked from unreadable from damaged.

struct QuickCheck {
  int code = SQLITE_OK;  // of the first error
  std::string error;     // SQLite's message; empty when it ran
  std::string answer;    // quick_check's first line: "ok" when sound
};

// PRAGMA quick_check on a read-only connection; ?immutable=1 when mode=ro
// cannot open it (no -shm file and a directory we cannot create it in).
QuickCheck run_quick_check(const fs::path& db_path) {
  QuickCheck result;
  for (const char* query : {"?mode=ro", "?immutable=1"}) {
    sqlite3* db = nullptr;
    result = {};
    int code = sqlite3_open_v2((sqlite_uri(db_path) + query).c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
    sqlite3_stmt* statement = nullptr;
    if (code == SQLITE_OK) {
      sqlite3_busy_timeout(db, 5000);
      code = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &statement, nullptr);
    }
    if (code == SQLITE_OK) {
      code = sqlite3_step(statement);
      if (code == SQLITE_ROW) {
        const auto* text = sqlite3_column_text(statement, 0);
        result.answer = text ? reinterpret_cast<const char*>(text) : "";
        code = SQLITE_OK;
      } else if (code == SQLITE_DONE) {
        code = SQLITE_OK;
      }
    }
    if (code != SQLITE_OK) {
      result.code = code;
      result.error = db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    }
    sqlite3_finalize(statement);
    sqlite3_close_v2(db);
    if ((code & 0xff) != SQLITE_CANTOPEN) break;
  }
  return result;
}

}  // namespace

// Exists (or can be created), is a directory we can read and write.
std::optional<CheckResult> check_store_access(const Context& ctx) {
  if (ctx.store_dir.empty()) return std::nullopt;  // the settings check said why
  const fs::path& dir = ctx.store_dir;
  const std::string me = user_name(geteuid());
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      const std::string why = std::strerror(errno);
      return fail("store", "cannot look at " + dir.string() + ": " + why,
                  "make every directory on the way readable for " + me + ", or " + use_another_store());
    }
    const fs::path parent = nearest_existing(dir);
    if (access(parent.c_str(), W_OK | X_OK) == 0) {
      return ok("store", dir.string() + " does not exist yet: the first go command creates it");
    }
    return fail("store",
                dir.string() + " does not exist and cannot be created: " + parent.string() + " is not writable for " +
                    me + ", so every go command fails to start gocachefs",
                "sudo mkdir -p " + quote(dir) + " && sudo chown " + chown_name(geteuid()) + " " + quote(dir) + ", or " +
                    use_another_store());
  }
  if (!S_ISDIR(st.st_mode)) {
    return fail("store", dir.string() + " is not a directory, so every go command fails to start gocachefs",
                "move it away (mv " + quote(dir) + " " + quote(dir.string() + ".old") + "), or " + use_another_store());
  }
  const std::string owner_fix = st.st_uid == geteuid()
                                    ? "chmod u+rwx " + quote(dir)
                                    : "sudo chown -R " + chown_name(geteuid()) + " " + quote(dir);
  if (access(dir.c_str(), R_OK | X_OK) != 0) {
    const std::string why = std::strerror(errno);  // before anything else sets errno
    return fail("store",
                "cannot read " + dir.string() + " (" + why + "; mode " + octal_mode(st.st_mode) +
                    ", owner " + user_name(st.st_uid) + ", you are " + me +
                    "), so every go command fails to start gocachefs",
                owner_fix + ", or " + use_another_store());
  }
  // A real file, as gocachefs makes them (access() cannot tell a read-only
  // mount for root): in tmp/, where start-up removes the temp files of a
  // writer that died, so a doctor killed here leaves nothing behind; in the
  // root of a store no gocachefs has used yet, which has no tmp/. The root
  // itself must take new files too (the index's journal, the log).
  std::error_code no_tmp;
  const fs::path probe_dir = fs::is_directory(dir / "tmp", no_tmp) ? dir / "tmp" : dir;
  fs::path unwritable;
  std::string why;
  try {
    TempFile probe(probe_dir, "doctor-probe-");  // removed when it goes
    if (probe_dir != dir && access(dir.c_str(), W_OK) != 0) {
      unwritable = dir;
      why = std::strerror(errno);
    }
  } catch (const std::system_error& e) {
    unwritable = probe_dir;
    why = e.code().message();
  }
  if (!why.empty()) {
    return warn("store",
                "cannot write in " + unwritable.string() + " (" + why + "; mode " + octal_mode(st.st_mode) + ", owner " +
                    user_name(st.st_uid) + "): gocachefs serves what it holds read-only and keeps new entries only "
                    "for the length of one go command",
                owner_fix + ", or " + use_another_store());
  }
  // What gocachefs writes in it.
  for (const char* name : {"index.sqlite", "index.sqlite-wal", "index.sqlite-shm", "objects", "tmp", "gocachefs.log"}) {
    const fs::path file = dir / name;
    struct stat file_st {};
    if (::lstat(file.c_str(), &file_st) != 0 || access(file.c_str(), W_OK) == 0) continue;
    return warn("store",
                file.string() + " is not writable for " + me + " (owner " + user_name(file_st.st_uid) + ", mode " +
                    octal_mode(file_st.st_mode) + "): gocachefs serves the store read-only",
                "sudo chown -R " + chown_name(geteuid()) + " " + quote(dir) + ", or " + use_another_store());
  }
  return ok("store", dir.string() + " is readable and writable");
}

// A store shared between users (a `sudo go build` that made root files in
// it) is a common way to end up with a read-only or unreadable store.
std::optional<CheckResult> check_store_owner(const Context& ctx) {
  struct stat st {};
  if (ctx.store_dir.empty() || ::stat(ctx.store_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  const uid_t me = geteuid();
  const std::string fix = "sudo chown -R " + chown_name(me) + " " + quote(ctx.store_dir) +
                          ", or give each user a store of their own (--dir or GOCACHEFS_DIR)";
  if (st.st_uid != me) {
    return warn("store owner",
                ctx.store_dir.string() + " belongs to " + user_name(st.st_uid) + ", not to you, " + user_name(me) +
                    ": what gocachefs writes there is yours, and either of you may be unable to use the other's",
                fix);
  }
  // Its top-level files, but not the mount point: its owner is the mount's.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(ctx.store_dir, ec)) {
    const auto name = entry.path().filename();
    if (name == "mnt" || (ctx.settings && entry.path() == ctx.settings->mount_dir)) continue;
    struct stat entry_st {};
    if (::lstat(entry.path().c_str(), &entry_st) == 0 && entry_st.st_uid != me) {
      return warn("store owner",
                  entry.path().string() + " belongs to " + user_name(entry_st.st_uid) + ", not to you, " +
                      user_name(me) + ", who own the store: a go command run as that user (sudo?) made it",
                  fix);
    }
  }
  return ok("store owner", "you, " + user_name(me));
}

std::optional<CheckResult> check_free_space(const Context& ctx) {
  if (ctx.store_dir.empty()) return std::nullopt;
  const fs::path on = nearest_existing(ctx.store_dir);
  struct statvfs st {};
  if (::statvfs(on.c_str(), &st) != 0) {
    const std::string why = std::strerror(errno);
    return warn("free space", "cannot tell the free space at " + on.string() + ": " + why,
                "run df " + quote(on));
  }
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  const std::uint64_t total_bytes = static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize;
  const std::string found = human_bytes(static_cast<double>(free_bytes)) + " free of " +
                            human_bytes(static_cast<double>(total_bytes)) + " on the filesystem of " +
                            ctx.store_dir.string();
  if (free_bytes < kLowFreeBytes || static_cast<double>(free_bytes) < kLowFreeFraction * static_cast<double>(total_bytes)) {
    return warn("free space",
                found + " (under 1 GiB or 5%): once it is full, builds' outputs are no longer cached",
                "free space there (gocachefs trim --max-size 5GiB shrinks the store to its most recently used "
                "5 GiB), or move the store to a larger filesystem with --dir or GOCACHEFS_DIR");
  }
  return ok("free space", found);
}

std::optional<CheckResult> check_index(Context& ctx) {
  if (ctx.store_dir.empty() || access(ctx.store_dir.c_str(), R_OK | X_OK) != 0) return std::nullopt;
  const fs::path db_path = index_path(ctx.store_dir);
  std::error_code ec;
  if (!fs::exists(db_path, ec)) return ok("index", "none yet: the first go command creates " + db_path.string());
  const QuickCheck check = run_quick_check(db_path);
  const int primary = check.code & 0xff;
  if (check.error.empty() && check.answer == "ok") {
    ctx.index_readable = true;
    return ok("index", db_path.string() + " passes SQLite's quick_check");
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return warn("index", db_path.string() + " stayed locked by another process for 5 s: not checked",
                "run gocachefs doctor again when builds are quieter");
  }
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_PERM || primary == SQLITE_AUTH) {
    return fail("index", "cannot open " + db_path.string() + ": " + check.error,
                "sudo chown -R " + chown_name(geteuid()) + " " + quote(ctx.store_dir));
  }
  // Damage: SQLite says so (SQLITE_CORRUPT, SQLITE_NOTADB) or quick_check
  // lists problems. gocachefs mends it by itself at its next open, but
  // forgetting every entry, and the user should know.
  const std::string what = check.error.empty() ? "quick_check: " + check.answer : check.error;
  const std::string db = quote(db_path);
  return fail("index",
              db_path.string() + " is damaged (" + what +
                  "): the next go command moves it aside and starts an empty one (entries are forgotten; objects "
                  "stay and are found again as builds put them)",
              "to do it now: " + stop_command(ctx) + " && mv " + db + " " + quote(db_path.string() + ".damaged") +
                  " && rm -f " + quote(db_path.string() + "-wal") + " " + quote(db_path.string() + "-shm"));
}

}  // namespace gocachefs::doctor
