#include "store/remote/s3_remote.h"

#include <cstdlib>
#include <map>
#include <stdexcept>

namespace gocachefs {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::map<std::string, std::string> parse_query(const std::string& query) {
  std::map<std::string, std::string> params;
  std::size_t start = 0;
  while (start < query.size()) {
    const auto end = std::min(query.find('&', start), query.size());
    const std::string pair = query.substr(start, end - start);
    const auto eq = pair.find('=');
    params[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
    start = end + 1;
  }
  return params;
}

}  // namespace

HttpConfig s3_http_config(const std::string& url, const RemoteOptions& options) {
  return s3_http_config(url, options, nullptr);
}

HttpConfig s3_http_config(const std::string& url, const RemoteOptions& options,
                          std::shared_ptr<AwsCredentialProvider> provider) {
  // s3://bucket/prefix?query
  std::string rest = url.substr(5);
  std::string query;
  if (const auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  const auto slash = rest.find('/');
  const std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (bucket.empty()) throw std::invalid_argument("s3 URL without a bucket: " + redact_url(url));

  auto params = parse_query(query);
  std::string region = params["region"];
  if (region.empty()) region = env("AWS_REGION");
  if (region.empty()) region = env("AWS_DEFAULT_REGION");
  if (region.empty()) region = "us-east-1";
  std::string endpoint = params["endpoint"];
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const bool path_style = params["path_style"] == "1" || params["path_style"] == "true" || !endpoint.empty();

  HttpConfig config;
  if (endpoint.empty()) endpoint = "https://s3." + region + ".amazonaws.com";
  if (path_style) {
    config.base_url = endpoint + "/" + bucket;
  } else {
    const auto scheme_end = endpoint.find("://") + 3;
    config.base_url = endpoint.substr(0, scheme_end) + bucket + "." + endpoint.substr(scheme_end);
  }
  if (!prefix.empty()) config.base_url += "/" + prefix;
  // An endpoint may carry user:password@: messages never show it.
  config.description = "s3://" + redact_url(rest) + " (" + redact_url(config.base_url) + ")";

  if (!provider) {
    try {
      provider = shared_aws_credential_provider({.region = region});
    } catch (const AwsCredentialsError& e) {
      throw std::invalid_argument("S3 remote " + config.description + ": " + e.what());
    }
  }
  // Asked before each request: temporary credentials change under us.
  config.credentials = [provider](HttpRequestCredentials* out) {
    std::string error;
    const auto credentials = provider->current(&error);
    if (!credentials) return RemoteResult::failed(error);
    out->userpwd = credentials->access_key_id + ":" + credentials->secret_access_key;
    if (!credentials->session_token.empty()) {
      out->headers.push_back("x-amz-security-token: " + credentials->session_token);
    }
    return RemoteResult{};
  };
  config.aws_sigv4 = "aws:amz:" + region + ":s3";
  config.zstd_headers = false;
  config.s3_error_codes = true;
  // S3 wants the payload's hash in a header; curl signs whatever is there.
  config.headers.push_back("x-amz-content-sha256: UNSIGNED-PAYLOAD");
  for (const auto& h : options.extra_headers) config.headers.push_back(h);
  config.connect_timeout_ms = options.connect_timeout_ms;
  config.request_timeout_ms = options.request_timeout_ms;
  return config;
}

}  // namespace gocachefs
