// The remote, when one is configured: it answers reads, takes uploads (a
// small content-addressed probe, unless read-only) and, for S3, this
// machine's clock is within the 15 minutes signatures allow. Then the
// upload queue: a large backlog means outputs are not reaching the remote.
#include <curl/curl.h>
#include <strings.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "src/cache_program.h"
#include "src/doctor/check.h"
#include "store/index.h"
#include "store/remote/s3_remote.h"
#include "store/sha256.h"

namespace gocachefs::doctor {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Uploads queued in the index: beyond this, worth a look.
constexpr std::uint64_t kLargeUploadBacklog = 1000;
// AWS Signature V4 refuses requests signed with a clock this far off.
constexpr auto kSigV4MaxSkew = 15min;
constexpr auto kSkewWarning = 5min;
// The remote checks must not take a minute each against a black hole.
constexpr long kRemoteConnectTimeoutMs = 3000;
constexpr long kRemoteRequestTimeoutMs = 15000;
// Bytes of the write probe: content addressed, the same entry every time.
constexpr std::string_view kWriteProbe = "gocachefs doctor: write probe\n";
// Text of the read probe's key: no build output hashes to it.
constexpr std::string_view kReadProbeSeed = "gocachefs doctor: a key no entry has";

// How to give a remote the right credentials, by the kind of URL.
std::string credentials_fix(const std::string& url) {
  if (url.starts_with("s3://")) {
    return "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the keys of AWS_PROFILE in ~/.aws/credentials), "
           "and the clock (a skew over 15 minutes also fails signatures)";
  }
  if (url.starts_with("file://")) return "give " + user_name(geteuid()) + " read and write access to that directory";
  return "check the user:password in the URL (https://user:PASSWORD@host/prefix) or GOCACHEFS_REMOTE_TOKEN";
}

size_t collect_date_header(char* data, size_t size, size_t count, void* user) {
  const std::string line(data, size * count);
  if (line.size() > 5 && strncasecmp(line.c_str(), "date:", 5) == 0) {
    auto* date = static_cast<std::string*>(user);
    *date = line.substr(5);
    date->erase(0, date->find_first_not_of(" \t"));
    date->erase(date->find_last_not_of(" \t\r\n") + 1);
  }
  return size * count;
}

// The Date header of one unsigned HEAD request to `url`; empty on no answer.
std::string http_date(const std::string& url) {
  CURL* curl = curl_easy_init();
  if (!curl) return "";
  std::string date;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, kRemoteConnectTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_date_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &date);
  curl_easy_perform(curl);  // any answer carries a Date, a 403 too
  curl_easy_cleanup(curl);
  return date;
}

std::string describe_skew(std::chrono::seconds skew) {
  const auto off = skew < 0s ? -skew : skew;
  const std::string amount = off >= 2min ? std::to_string((off + 30s) / 1min) + " min" : std::to_string(off.count()) + " s";
  return amount + (skew > 0s ? " behind" : " ahead of");
}

}  // namespace

std::optional<CheckResult> check_remote_read(Context& ctx) {
  if (!ctx.settings) return std::nullopt;
  const RemoteConfig& config = ctx.settings->remote;
  if (config.url.empty()) {
    return ok("remote", "none configured: this store serves this machine only (--remote or GOCACHEFS_REMOTE shares it)");
  }
  RemoteOptions options = config.options;
  options.connect_timeout_ms = kRemoteConnectTimeoutMs;
  options.request_timeout_ms = kRemoteRequestTimeoutMs;
  try {
    ctx.remote = make_remote(config.url, options);
  } catch (const std::exception& e) {  // std::invalid_argument, or the credentials' own errors
    return fail("remote", std::string(e.what()) + ": gocachefs works without it (local store only)",
                "correct GOCACHEFS_REMOTE or --remote: file:///path, http(s)://host/prefix or "
                "s3://bucket/prefix?region=R&endpoint=URL");
  }
  const std::string where = ctx.remote->describe();
  // A key nothing has: "not found" is the answer of a remote that reads.
  const std::string key = "ac/" + to_hex(Sha256::of(kReadProbeSeed));
  const RemoteResult result = ctx.remote->fetch(key, [](const char*, std::size_t) { return true; });
  ctx.remote_read = result.status;
  switch (result.status) {
    case RemoteResult::kOk:
    case RemoteResult::kNotFound:
      return ok("remote read", where + " answers and lets us read");
    case RemoteResult::kUnauthorized:
      return fail("remote read", where + " refuses our credentials (" + result.error + "): every remote lookup misses",
                  credentials_fix(config.url));
    case RemoteResult::kFailed:
    case RemoteResult::kRejected:
    case RemoteResult::kLocalError:
      break;
  }
  return fail("remote read",
              "cannot reach " + where + " (" + result.error +
                  "): builds still work, but each miss costs a failed request until gocachefs leaves the remote "
                  "alone for a while",
              "start the server or correct the URL in GOCACHEFS_REMOTE or --remote (unset it to work locally)");
}

std::optional<CheckResult> check_remote_write(const Context& ctx) {
  if (!ctx.remote || !ctx.remote_read) return std::nullopt;
  if (ctx.settings->remote.settings.read_only) {
    return ok("remote write", "not tried: the remote is read-only here (--remote-read-only or GOCACHEFS_REMOTE_READ_ONLY)");
  }
  // Unreachable or refusing our credentials: the read line said so, and an
  // upload would only fail the same way.
  if (ctx.remote_failing()) return std::nullopt;
  const std::string where = ctx.remote->describe();
  const std::string key = "cas/" + to_hex(Sha256::of(kWriteProbe));
  const RemoteResult result = ctx.remote->store_bytes(key, kWriteProbe);
  const std::string read_only = "or set GOCACHEFS_REMOTE_READ_ONLY=1 (--remote-read-only) where uploads are not wanted";
  switch (result.status) {
    case RemoteResult::kOk:
      return ok("remote write", "uploaded a " + std::to_string(kWriteProbe.size()) + "-byte probe to " + key);
    case RemoteResult::kUnauthorized:
      return fail("remote write",
                  where + " refuses uploads (" + result.error + "): builds' outputs are never shared",
                  "use credentials that may write, " + read_only);
    case RemoteResult::kRejected:  // its error names the likely cause (405: dav_methods PUT)
      // S3 credentials that may read and not write: the error says so.
      if (result.error.find("AccessDenied") != std::string::npos) {
        return fail("remote write", where + " refuses uploads (" + result.error + "): builds' outputs are never shared",
                    "allow these credentials s3:PutObject on the bucket's keys, " + read_only);
      }
      break;
    case RemoteResult::kNotFound:
    case RemoteResult::kFailed:
    case RemoteResult::kLocalError:
      break;
  }
  return fail("remote write",
              "uploading to " + where + " failed (" + (result.error.empty() ? "not found" : result.error) +
                  "): builds' outputs are never shared",
              "make the server accept PUT (nginx: dav_methods PUT; create_full_put_path on) and check its free space, " +
                  read_only);
}

// S3 only: AWS Signature V4 refuses requests whose clock is off by more than
// 15 minutes, whatever the credentials.
std::optional<CheckResult> check_clock(const Context& ctx) {
  if (!ctx.remote || !ctx.settings->remote.url.starts_with("s3://")) return std::nullopt;
  if (ctx.remote_read == RemoteResult::kFailed) return std::nullopt;  // no answer to take a Date from
  std::string endpoint;
  try {
    endpoint = s3_http_config(ctx.settings->remote.url, ctx.settings->remote.options).base_url;
  } catch (const std::exception&) {
    return std::nullopt;  // the remote check said why
  }
  const std::string date = http_date(endpoint);
  // An endpoint may carry user:password@: the report never shows it.
  const std::string shown = redact_url(endpoint);
  const time_t server = date.empty() ? -1 : curl_getdate(date.c_str(), nullptr);
  const std::string sync = "synchronise this machine's clock: sudo timedatectl set-ntp true (or start chronyd or ntpd)";
  if (server < 0) {
    return warn("clock", "no usable Date header from " + shown + " to compare this machine's clock with",
                "make sure the clock is synchronised (timedatectl status)");
  }
  const auto skew = std::chrono::seconds(server - std::time(nullptr));  // > 0: we are behind
  const std::string found = "this machine's clock is " + describe_skew(skew) + " " + shown + "'s (Date: " + date + ")";
  if (skew > kSigV4MaxSkew || skew < -kSigV4MaxSkew) {
    return fail("clock", found + ": S3 refuses requests signed more than 15 minutes off", sync);
  }
  if (skew > kSkewWarning || skew < -kSkewWarning) {
    return warn("clock", found + ": S3 refuses signatures beyond 15 minutes", sync);
  }
  return ok("clock", "within " + std::to_string((skew < 0s ? -skew : skew).count()) + " s of " + shown +
                         "'s (S3 signatures allow 15 minutes)");
}

std::optional<CheckResult> check_upload_backlog(const Context& ctx) {
  if (!ctx.index_readable || !ctx.settings) return std::nullopt;
  std::uint64_t pending = 0;
  try {
    Index index(index_path(ctx.store_dir), IndexOptions{.read_only = true});
    pending = index.pending_uploads();
  } catch (const std::exception& e) {
    return warn("upload backlog", std::string("cannot read the upload queue: ") + e.what(),
                "run gocachefs doctor again when builds are quieter");
  }
  const RemoteConfig& remote = ctx.settings->remote;
  const std::string count = std::to_string(pending) + (pending == 1 ? " upload" : " uploads");
  if (pending == 0) return ok("upload backlog", "no uploads queued");
  if (remote.url.empty() || remote.settings.read_only) {
    return ok("upload backlog", count + " queued from when a writable remote was set; they wait until one is again");
  }
  if (ctx.remote_failing() || !ctx.remote) {
    return warn("upload backlog", count + " queued, and the remote fails (see above): they are retried once it answers",
                "fix the remote; the queue then drains as go commands run");
  }
  const fs::path log = ctx.settings->log_file.empty() ? ctx.store_dir / "gocachefs.log" : ctx.settings->log_file;
  if (pending >= kLargeUploadBacklog) {
    return warn("upload backlog",
                count + " queued: they drain in the background as go commands (and the daemon) run; if the number "
                        "keeps growing, uploads fail",
                "look for upload errors in " + quote(log) + " (grep -i upload " + quote(log) +
                    "); a go command's exit waits up to --upload-wait (60 s) for its own");
  }
  return ok("upload backlog", count + " queued: they drain as go commands run");
}

}  // namespace gocachefs::doctor
