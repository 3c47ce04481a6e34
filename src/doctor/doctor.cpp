// `gocachefs doctor` (see doctor.h): runs the checks in order, printing
// each line as it finishes, and sums them up. Each check (check.h) returns
// what it found: OK, WARN or FAIL, the finding, and for the latter two the
// command or setting that fixes it; earlier checks pass what they learned
// (settings, whether the remote answers) to later ones through a Context.
// The checks: go_checks.cpp (settings, go, GOCACHEPROG), store_checks.cpp,
// fuse_checks.cpp (FUSE, daemon), remote_checks.cpp (remote, upload backlog).
//
// Doctor changes nothing in the user's setup. What it does touch: a probe
// file created and removed in the store (to see it is writable, as a
// read-only mount fools access() for root), a test FUSE mount in a temp dir,
// and, unless the remote is read-only, one small content-addressed entry
// uploaded to the remote (cas/<its SHA-256>, so it can never be mistaken for
// anything else).
#include "src/doctor/doctor.h"

#include <curl/curl.h>

#include <cstdio>
#include <optional>

#include "src/doctor/check.h"

namespace gocachefs {

namespace {

using doctor::Verdict;

const char* verdict_label(Verdict verdict) {
  switch (verdict) {
    case Verdict::kWarn:
      return "WARN";
    case Verdict::kFail:
      return "FAIL";
    case Verdict::kOk:
      break;
  }
  return "OK  ";
}

}  // namespace

int run_doctor(const Flags& flags) {
  using namespace doctor;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Context ctx{.flags = flags};
  int failures = 0, warnings = 0, checks = 0;
  const auto report = [&](const std::optional<CheckResult>& result) {
    if (!result) return;  // does not apply here, or an earlier line said why
    ++checks;
    if (result->verdict == Verdict::kFail) ++failures;
    if (result->verdict == Verdict::kWarn) ++warnings;
    std::printf("%s  %s: %s%s\n", verdict_label(result->verdict), result->name.c_str(), result->found.c_str(),
                result->fix.empty() ? "" : ("; fix: " + result->fix).c_str());
    std::fflush(stdout);  // each line as it is known: the remote checks may take seconds
  };

  report(check_settings(ctx));
  const GoEnv go = read_go_env();
  report(check_go_version(go));
  report(check_gocacheprog(go, ctx));
  report(check_store_access(ctx));
  report(check_store_owner(ctx));
  report(check_free_space(ctx));
  report(check_index(ctx));
  report(check_fuse(ctx));
  report(check_daemon(ctx));
  report(check_remote_read(ctx));
  report(check_remote_write(ctx));
  report(check_clock(ctx));
  report(check_upload_backlog(ctx));

  if (failures == 0 && warnings == 0) {
    std::printf("doctor: all %d checks OK\n", checks);
  } else {
    std::printf("doctor: %d of %d checks failed, %d warned%s\n", failures, checks, warnings,
                failures ? ": fix the FAIL lines first" : " (nothing that stops builds)");
  }
  ctx.remote.reset();
  curl_global_cleanup();
  return failures ? 1 : 0;
}

}  // namespace gocachefs
