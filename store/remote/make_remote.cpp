// Chooses the Remote for a URL by its scheme.
#include <regex>
#include <stdexcept>

#include "store/remote/file_remote.h"
#include "store/remote/gha_remote.h"
#include "store/remote/http_remote.h"
#include "store/remote/remote.h"
#include "store/remote/s3_remote.h"

namespace gocachefs {

std::string redact_url(const std::string& url) {
  // scheme://user:password@host -> scheme://REDACTED@host. The password may
  // hold any character, '@', '/' and ':' among them, so everything up to the
  // last '@' goes (more than the user part when the path has an '@': better
  // too much than a piece of a password).
  std::string out = url;
  const auto scheme_end = out.find("://");
  const std::size_t start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  if (const auto at = out.rfind('@'); at != std::string::npos && at >= start) {
    out.replace(start, at - start, "REDACTED");
  }
  // Query values that look like secrets.
  static const std::regex secret(R"(([?&](?:[a-z_-]*(?:token|secret|password|key)[a-z_-]*)=)[^&]*)", std::regex::icase);
  return std::regex_replace(out, secret, "$1REDACTED");
}

RemoteOptions bulk_remote_options(RemoteOptions options) {
  options.request_timeout_ms = 30 * 60 * 1000;
  return options;
}

std::unique_ptr<Remote> make_remote(const std::string& url, const RemoteOptions& options) {
  if (url.starts_with("file://")) {
    const std::string path = url.substr(7);
    if (path.empty() || path[0] != '/') throw std::invalid_argument("file remote needs an absolute path: " + url);
    return std::make_unique<FileRemote>(path);
  }
  if (url.starts_with("http://") || url.starts_with("https://")) {
    HttpConfig config;
    config.base_url = url;
    while (config.base_url.ends_with("/")) config.base_url.pop_back();
    config.description = redact_url(config.base_url);
    if (!options.bearer_token.empty()) config.headers.push_back("Authorization: Bearer " + options.bearer_token);
    for (const auto& h : options.extra_headers) config.headers.push_back(h);
    config.connect_timeout_ms = options.connect_timeout_ms;
    config.request_timeout_ms = options.request_timeout_ms;
    return std::make_unique<HttpRemote>(std::move(config));
  }
  if (url.starts_with("s3://")) return std::make_unique<HttpRemote>(s3_http_config(url, options));
  if (url.starts_with("gha://")) return std::make_unique<GhaRemote>(gha_config(url, options));
  throw std::invalid_argument("unknown remote URL scheme (file://, http://, https://, s3://, gha://): " +
                              redact_url(url));
}

}  // namespace gocachefs
