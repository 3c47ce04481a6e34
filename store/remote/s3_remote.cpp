#include "store/remote/s3_remote.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>

namespace gocachefs {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string trim(std::string s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r") - begin + 1);
}

// The key = value pairs of one [section] of an INI file such as
// ~/.aws/credentials.
std::map<std::string, std::string> ini_section(const std::string& path, const std::string& section) {
  std::map<std::string, std::string> values;
  std::ifstream in(path);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      inside = trim(line.substr(1, line.size() - 2)) == section;
      continue;
    }
    const auto eq = line.find('=');
    if (inside && eq != std::string::npos) values[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return values;
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

std::optional<AwsCredentials> find_aws_credentials() {
  if (!env("AWS_ACCESS_KEY_ID").empty() && !env("AWS_SECRET_ACCESS_KEY").empty()) {
    return AwsCredentials{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
  }
  std::string file = env("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty() && !env("HOME").empty()) file = env("HOME") + "/.aws/credentials";
  const std::string profile = env("AWS_PROFILE").empty() ? "default" : env("AWS_PROFILE");
  auto values = ini_section(file, profile);
  if (values["aws_access_key_id"].empty() || values["aws_secret_access_key"].empty()) return std::nullopt;
  return AwsCredentials{values["aws_access_key_id"], values["aws_secret_access_key"], values["aws_session_token"]};
}

HttpConfig s3_http_config(const std::string& url, const RemoteOptions& options) {
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
  if (bucket.empty()) throw std::invalid_argument("s3 URL without a bucket: " + url);

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
  config.description = "s3://" + rest + " (" + config.base_url + ")";

  const auto credentials = find_aws_credentials();
  if (!credentials) {
    throw std::invalid_argument("no AWS credentials for " + url +
                                ": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE");
  }
  config.userpwd = credentials->access_key_id + ":" + credentials->secret_access_key;
  config.aws_sigv4 = "aws:amz:" + region + ":s3";
  config.zstd_headers = false;
  // S3 wants the payload's hash in a header; curl signs whatever is there.
  config.headers.push_back("x-amz-content-sha256: UNSIGNED-PAYLOAD");
  if (!credentials->session_token.empty()) {
    config.headers.push_back("x-amz-security-token: " + credentials->session_token);
  }
  for (const auto& h : options.extra_headers) config.headers.push_back(h);
  config.connect_timeout_ms = options.connect_timeout_ms;
  config.request_timeout_ms = options.request_timeout_ms;
  return config;
}

}  // namespace gocachefs
