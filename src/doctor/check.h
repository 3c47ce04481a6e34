// What every doctor check shares: what a check finds (CheckResult), what
// the checks learn from one another (Context), the helpers more than one
// check file uses, and the checks themselves, in the order run_doctor()
// (doctor.cpp) runs them. A check returns nothing when it does not apply
// here or an earlier check already said why it cannot run.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "src/config.h"
#include "store/remote/remote.h"

namespace gocachefs::doctor {

// ---- What a check finds ------------------------------------------------------

enum class Verdict { kOk, kWarn, kFail };

struct CheckResult {
  std::string name;  // "store", "FUSE", ...
  Verdict verdict = Verdict::kOk;
  std::string found;  // what the check found: paths, values, errors
  std::string fix;    // the command or setting that fixes it (WARN and FAIL)
};

inline CheckResult ok(std::string name, std::string found) {
  return {std::move(name), Verdict::kOk, std::move(found), ""};
}
inline CheckResult warn(std::string name, std::string found, std::string fix) {
  return {std::move(name), Verdict::kWarn, std::move(found), std::move(fix)};
}
inline CheckResult fail(std::string name, std::string found, std::string fix) {
  return {std::move(name), Verdict::kFail, std::move(found), std::move(fix)};
}

// What the checks share.
struct Context {
  Flags flags;
  std::optional<Settings> settings;  // empty when they do not resolve (the settings check says why)
  std::filesystem::path store_dir;   // empty when not even the store resolves
  bool index_readable = false;       // the index check opened it and found it sound
  bool fuse_fails = false;           // the FUSE check found it does not work here
  std::unique_ptr<Remote> remote;    // when one is configured and its URL makes sense
  std::optional<RemoteResult::Status> remote_read;  // what the read probe got
  bool remote_failing() const {
    return remote_read && *remote_read != RemoteResult::kOk && *remote_read != RemoteResult::kNotFound;
  }
};

// ---- Shared helpers (helpers.cpp) --------------------------------------------

// `text` as one shell word, for fix commands the user may paste.
std::string shell_quote(const std::string& text);
std::string quote(const std::filesystem::path& path);
// "alice (uid 1000)"
std::string user_name(uid_t uid);
// "0755"
std::string octal_mode(mode_t mode);
// `name` on PATH, as the shell would find it; empty when it is not there.
std::string find_on_path(const std::string& name);
// `gocachefs stop`, with the flags that name this store.
std::string stop_command(const Context& ctx);

// ---- The go command and settings (go_checks.cpp) -----------------------------

// `go env` once: the go check and the GOCACHEPROG check share it.
struct GoEnv {
  std::string go_path;  // empty: no go on PATH
  bool ran = false;     // `go env` ran and succeeded
  int exit_code = -1;
  std::string version;    // "go1.26.8"
  std::string cacheprog;  // `go env GOCACHEPROG`
};

// Resolves the flags and GOCACHEFS_* variables into ctx.settings and ctx.store_dir.
CheckResult check_settings(Context& ctx);
GoEnv read_go_env();
CheckResult check_go_version(const GoEnv& go);
std::optional<CheckResult> check_gocacheprog(const GoEnv& go, const Context& ctx);

// ---- The store (store_checks.cpp) --------------------------------------------

std::optional<CheckResult> check_store_access(const Context& ctx);
std::optional<CheckResult> check_store_owner(const Context& ctx);
std::optional<CheckResult> check_free_space(const Context& ctx);
// Sets ctx.index_readable.
std::optional<CheckResult> check_index(Context& ctx);

// ---- FUSE and the daemon (fuse_checks.cpp) -----------------------------------

// Sets ctx.fuse_fails.
std::optional<CheckResult> check_fuse(Context& ctx);
std::optional<CheckResult> check_daemon(const Context& ctx);

// ---- The remote and the upload queue (remote_checks.cpp) ---------------------

// Sets ctx.remote and ctx.remote_read.
std::optional<CheckResult> check_remote_read(Context& ctx);
std::optional<CheckResult> check_remote_write(const Context& ctx);
std::optional<CheckResult> check_clock(const Context& ctx);
std::optional<CheckResult> check_upload_backlog(const Context& ctx);

}  // namespace gocachefs::doctor
