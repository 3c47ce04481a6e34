// Where AWS credentials come from, in the order of the AWS SDKs (Go v2,
// botocore); the first source that is configured is the one used:
//   1. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)
//   2. web identity from the environment: AWS_WEB_IDENTITY_TOKEN_FILE and
//      AWS_ROLE_ARN, exchanged by STS AssumeRoleWithWebIdentity (EKS IRSA,
//      GitHub Actions OIDC)
//   3. the profile AWS_PROFILE (or default) in AWS_SHARED_CREDENTIALS_FILE
//      (~/.aws/credentials) and AWS_CONFIG_FILE (~/.aws/config), the former
//      winning key by key: static keys, else credential_process, else
//      web_identity_token_file with role_arn
//   4. the ECS container endpoint: AWS_CONTAINER_CREDENTIALS_FULL_URI or
//      _RELATIVE_URI (ECS tasks, EKS Pod Identity)
//   5. EC2 instance metadata (IMDSv2), unless AWS_EC2_METADATA_DISABLED
// A configured source that fails is an error naming it, never skipped: the
// user meant that one. Only IMDS, which is configured by being there, is
// skipped when nothing answers.
#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store/remote/aws_credentials.h"
#include "store/remote/remote.h"

extern char** environ;

namespace gocachefs {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

std::string expand_home(const std::string& path) {
  if (path.starts_with("~/") && !env("HOME").empty()) return env("HOME") + path.substr(1);
  return path;
}

// nullopt when the file cannot be read.
std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// --- HTTP, for STS and the metadata endpoints ---

struct HttpReply {
  long status = 0;
  std::string body;
  std::string transport_error;  // set when no answer came
};

struct HttpCall {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;
  std::string body;  // sent as a form for POST
  long connect_timeout_ms = 3000;
  long timeout_ms = 10000;
  bool bypass_proxy = false;  // link-local metadata endpoints are never behind a proxy
};

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() > (1u << 20)) return 0;  // credentials are small: this is not one
  body->append(data, size * count);
  return size * count;
}

HttpReply http(const HttpCall& call) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  HttpReply reply;
  std::unique_ptr<CURL, void (*)(CURL*)> handle(curl_easy_init(), curl_easy_cleanup);
  curl_slist* headers = nullptr;
  for (const auto& h : call.headers) headers = curl_slist_append(headers, h.c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(headers, curl_slist_free_all);
  CURL* h = handle.get();
  curl_easy_setopt(h, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, call.connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, call.timeout_ms);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply.body);
  if (call.bypass_proxy) curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  if (call.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, call.body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(call.body.size()));
  } else if (call.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  }
  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    reply.transport_error = error[0] ? error : curl_easy_strerror(rc);
    return reply;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

std::string form_escape(const std::string& value) {
  char* escaped = curl_easy_escape(nullptr, value.c_str(), static_cast<int>(value.size()));
  std::string out = escaped ? escaped : "";
  curl_free(escaped);
  return out;
}

// The start of a body for an error message: servers explain themselves
// there. Cut short, on one line.
std::string body_excerpt(const std::string& body) {
  std::string out = trim(body.substr(0, 200));
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out.empty() ? "" : ": " + out;
}

// --- credential_process ---

struct ProcessResult {
  int status = -1;  // exit status; -1 when killed or not started
  std::string out, err;
  bool timed_out = false;
};

// Runs `command` with /bin/sh as the SDKs do on Unix; stdin is /dev/null,
// stdout and stderr are captured. Killed after `timeout`.
ProcessResult run_shell(const std::string& command, std::chrono::seconds timeout) {
  ProcessResult result;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, "/bin/sh", &actions, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (spawned != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    result.err = std::strerror(spawned);
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    using std::chrono::milliseconds;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buffer[4096];
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0 && sinks[i]->size() < (1u << 20)) sinks[i]->append(buffer, n);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (const auto& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = !result.timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// --- the sources ---

// Keys that do not change while the process lives.
class StaticSource : public AwsCredentialSource {
 public:
  StaticSource(std::string name, AwsCredentials credentials)
      : name_(std::move(name)), credentials_(std::move(credentials)) {}
  std::string name() const override { return name_; }
  AwsCredentials fetch() override { return credentials_; }

 private:
  std::string name_;
  AwsCredentials credentials_;
};

class ProcessSource : public AwsCredentialSource {
 public:
  ProcessSource(std::string profile, std::string command)
      : profile_(std::move(profile)), command_(std::move(command)) {}
  std::string name() const override { return "credential_process of profile " + profile_; }
  AwsCredentials fetch() override {
    // The SDKs wait as long as it takes; a hung helper must not hang
    // gocachefs forever.
    const ProcessResult run = run_shell(command_, std::chrono::seconds(60));
    // Neither the command line (it may carry a password) nor stdout is
    // quoted; stderr is where such tools say what is wrong.
    if (run.timed_out) throw AwsCredentialsError(name() + " did not finish within 60 s");
    if (run.status != 0) {
      throw AwsCredentialsError(name() + " failed with exit status " + std::to_string(run.status) +
                                body_excerpt(run.err));
    }
    try {
      return parse_credential_process_output(run.out);
    } catch (const AwsCredentialsError& e) {
      throw AwsCredentialsError(name() + ": " + e.what());
    }
  }

 private:
  std::string profile_, command_;
};

class WebIdentitySource : public AwsCredentialSource {
 public:
  WebIdentitySource(std::string origin, std::string token_file, std::string role_arn, std::string session_name,
                    std::string sts_endpoint)
      : origin_(std::move(origin)),
        token_file_(std::move(token_file)),
        role_arn_(std::move(role_arn)),
        session_name_(std::move(session_name)),
        sts_endpoint_(std::move(sts_endpoint)) {}
  std::string name() const override {
    return "web identity (" + origin_ + ", role " + role_arn_ + ") via STS at " + sts_endpoint_;
  }
  AwsCredentials fetch() override {
    // Read each time: the token is rotated in place (EKS, every hour).
    const auto token = read_file(token_file_);
    if (!token || trim(*token).empty()) {
      throw AwsCredentialsError(name() + ": cannot read the token file " + token_file_);
    }
    HttpCall call;
    call.method = "POST";
    call.url = sts_endpoint_ + "/";
    call.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/xml"};
    // A POST keeps the token out of URLs, and so out of proxies' logs.
    call.body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + form_escape(role_arn_) +
                "&RoleSessionName=" + form_escape(session_name_) + "&WebIdentityToken=" + form_escape(trim(*token));
    const HttpReply reply = http(call);
    if (!reply.transport_error.empty()) throw AwsCredentialsError(name() + ": " + reply.transport_error);
    try {
      if (reply.status != 200 && reply.body.find("<Error") == std::string::npos) {
        throw AwsCredentialsError("HTTP " + std::to_string(reply.status));
      }
      return parse_sts_credentials(reply.body);
    } catch (const AwsCredentialsError& e) {
      throw AwsCredentialsError(name() + ": " + e.what());
    }
  }

 private:
  std::string origin_, token_file_, role_arn_, session_name_, sts_endpoint_;
};

class ContainerSource : public AwsCredentialSource {
 public:
  ContainerSource(std::string url, std::string token_file, std::string token)
      : url_(std::move(url)), token_file_(std::move(token_file)), token_(std::move(token)) {}
  std::string name() const override { return "the container credentials endpoint " + redact_url(url_); }
  AwsCredentials fetch() override {
    HttpCall call;
    call.url = url_;
    call.connect_timeout_ms = 2000;
    call.timeout_ms = 5000;
    call.bypass_proxy = true;
    std::string token = token_;
    if (!token_file_.empty()) {  // read each time: EKS Pod Identity rotates it
      const auto text = read_file(token_file_);
      if (!text) {
        throw AwsCredentialsError(name() + ": cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + token_file_);
      }
      token = trim(*text);
    }
    if (token.find_first_of("\r\n") != std::string::npos) {
      throw AwsCredentialsError(name() + ": the authorization token holds a line break");
    }
    if (!token.empty()) call.headers.push_back("Authorization: " + token);
    const HttpReply reply = http(call);
    if (!reply.transport_error.empty()) throw AwsCredentialsError(name() + ": " + reply.transport_error);
    if (reply.status != 200) {
      throw AwsCredentialsError(name() + ": HTTP " + std::to_string(reply.status) + body_excerpt(reply.body));
    }
    try {
      return parse_metadata_credentials(reply.body);
    } catch (const AwsCredentialsError& e) {
      throw AwsCredentialsError(name() + ": " + e.what());
    }
  }

 private:
  std::string url_, token_file_, token_;
};

// IMDS is configured by being there: when nothing answers, or no role is
// attached, the chain goes on (and says so if nothing else is found).
class ImdsUnavailable : public AwsCredentialsError {
 public:
  using AwsCredentialsError::AwsCredentialsError;
};

class ImdsSource : public AwsCredentialSource {
 public:
  explicit ImdsSource(std::string endpoint) : endpoint_(std::move(endpoint)) {}
  std::string name() const override { return "EC2 instance metadata (IMDSv2) at " + endpoint_; }
  AwsCredentials fetch() override {
    // Short timeouts: on a laptop nothing listens there.
    auto call = [&](const std::string& method, const std::string& path, std::vector<std::string> headers) {
      HttpCall c;
      c.method = method;
      c.url = endpoint_ + path;
      c.headers = std::move(headers);
      c.connect_timeout_ms = 1000;
      c.timeout_ms = 2000;
      c.bypass_proxy = true;
      return http(c);
    };
    const HttpReply token = call("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds: 21600"});
    if (!token.transport_error.empty()) throw ImdsUnavailable(name() + ": " + token.transport_error);
    if (token.status != 200) throw ImdsUnavailable(name() + ": token request: HTTP " + std::to_string(token.status));
    const std::string token_header = "X-aws-ec2-metadata-token: " + trim(token.body);
    const std::string roles_path = "/latest/meta-data/iam/security-credentials/";
    const HttpReply roles = call("GET", roles_path, {token_header});
    if (!roles.transport_error.empty()) throw AwsCredentialsError(name() + ": " + roles.transport_error);
    if (roles.status == 404) throw ImdsUnavailable(name() + ": no IAM role is attached to this instance");
    if (roles.status != 200) throw AwsCredentialsError(name() + ": HTTP " + std::to_string(roles.status));
    const std::string role = trim(roles.body.substr(0, roles.body.find('\n')));
    if (role.empty()) throw ImdsUnavailable(name() + ": no IAM role is attached to this instance");
    const HttpReply answer = call("GET", roles_path + role, {token_header});
    if (!answer.transport_error.empty()) throw AwsCredentialsError(name() + ": " + answer.transport_error);
    if (answer.status != 200) {
      throw AwsCredentialsError(name() + ": role " + role + ": HTTP " + std::to_string(answer.status));
    }
    try {
      // IMDS says whether the role's credentials are ready.
      const auto json = nlohmann::json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
      if (json.is_object() && json.contains("Code") && json["Code"] != "Success") {
        throw AwsCredentialsError("Code " + json["Code"].dump());
      }
      return parse_metadata_credentials(answer.body);
    } catch (const AwsCredentialsError& e) {
      throw AwsCredentialsError(name() + ": role " + role + ": " + e.what());
    }
  }

 private:
  std::string endpoint_;
};


// --- the chain ---

// A profile's settings from both shared files; the credentials file wins
// key by key, as in the SDKs.
struct Profile {
  std::string name;
  bool chosen = false;  // AWS_PROFILE names it: it must exist
  std::string credentials_file, config_file;
  bool found = false;
  std::map<std::string, std::string> values;

  std::string get(const std::string& key) const {
    const auto it = values.find(key);
    return it == values.end() ? "" : it->second;
  }
  std::string where() const { return "profile " + name + " (" + credentials_file + ", " + config_file + ")"; }
};

Profile load_profile() {
  Profile p;
  p.name = env("AWS_PROFILE");
  p.chosen = !p.name.empty();
  if (!p.chosen) p.name = "default";
  const std::string home = env("HOME");
  p.credentials_file = expand_home(env("AWS_SHARED_CREDENTIALS_FILE"));
  if (p.credentials_file.empty()) p.credentials_file = home + "/.aws/credentials";
  p.config_file = expand_home(env("AWS_CONFIG_FILE"));
  if (p.config_file.empty()) p.config_file = home + "/.aws/config";
  // ~/.aws/config names profiles "[profile NAME]", except "[default]".
  if (const auto text = read_file(p.config_file)) {
    const IniSections sections = parse_ini(*text);
    for (const std::string& section : {std::string(p.name == "default" ? "default" : ""), "profile " + p.name}) {
      if (const auto it = sections.find(section); !section.empty() && it != sections.end()) {
        p.found = true;
        for (const auto& [k, v] : it->second) p.values[k] = v;
      }
    }
  }
  if (const auto text = read_file(p.credentials_file)) {
    const IniSections sections = parse_ini(*text);
    if (const auto it = sections.find(p.name); it != sections.end()) {
      p.found = true;
      for (const auto& [k, v] : it->second) p.values[k] = v;
    }
  }
  return p;
}

std::string sts_endpoint(const std::string& region) {
  std::string endpoint = env("AWS_ENDPOINT_URL_STS");
  if (endpoint.empty()) endpoint = env("AWS_ENDPOINT_URL");
  if (endpoint.empty()) endpoint = "https://sts." + region + ".amazonaws.com";
  while (endpoint.ends_with("/")) endpoint.pop_back();
  return endpoint;
}

std::string session_name(const std::string& configured) {
  if (!configured.empty()) return configured;
  return "gocachefs-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                           AwsClock::now().time_since_epoch())
                                           .count());
}

// The SDKs send the container token only to hosts that cannot be a
// stranger: loopback, or the ECS and EKS agents' link-local addresses.
void check_container_host(const std::string& url) {
  std::unique_ptr<CURLU, void (*)(CURLU*)> parsed(curl_url(), curl_url_cleanup);
  char* scheme = nullptr;
  char* host = nullptr;
  if (curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
      curl_url_get(parsed.get(), CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(parsed.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    curl_free(scheme);
    curl_free(host);
    throw AwsCredentialsError("AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL: " + redact_url(url));
  }
  const std::string s = scheme, h = host;
  curl_free(scheme);
  curl_free(host);
  if (s == "https") return;
  const bool allowed = h == "localhost" || h.starts_with("127.") || h == "[::1]" || h == "169.254.170.2" ||
                       h == "169.254.170.23" || h == "[fd00:ec2::23]";
  if (s != "http" || !allowed) {
    throw AwsCredentialsError("AWS_CONTAINER_CREDENTIALS_FULL_URI " + redact_url(url) +
                              ": plain http is allowed only to loopback and the ECS/EKS agent addresses");
  }
}

bool is_true(const std::string& value) {
  std::string lower = value;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower == "true" || lower == "1";
}

// The first credentials of a configured source, its errors named after it.
FoundAwsCredentials use(std::unique_ptr<AwsCredentialSource> source) {
  AwsCredentials first = source->fetch();
  return {std::move(source), std::move(first)};
}

}  // namespace

FoundAwsCredentials find_aws_credentials(const AwsChainOptions& options) {
  std::vector<std::string> tried;

  // 1. The environment's keys.
  const std::string key_id = env("AWS_ACCESS_KEY_ID"), secret = env("AWS_SECRET_ACCESS_KEY");
  if (!key_id.empty() && !secret.empty()) {
    return use(std::make_unique<StaticSource>("the environment (AWS_ACCESS_KEY_ID)",
                                              AwsCredentials{key_id, secret, env("AWS_SESSION_TOKEN"), std::nullopt}));
  }
  if (!key_id.empty() || !secret.empty()) {
    throw AwsCredentialsError(std::string(key_id.empty() ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID") +
                              " is set but " + (key_id.empty() ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY") +
                              " is not: set both, or neither");
  }
  tried.push_back("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (not set)");

  Profile profile = load_profile();
  std::string region = options.region;
  if (region.empty()) region = env("AWS_REGION");
  if (region.empty()) region = env("AWS_DEFAULT_REGION");
  if (region.empty()) region = profile.get("region");
  if (region.empty()) region = "us-east-1";

  // 2. Web identity from the environment.
  if (const std::string token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE"); !token_file.empty()) {
    if (env("AWS_ROLE_ARN").empty()) {
      throw AwsCredentialsError("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: set the role to assume");
    }
    return use(std::make_unique<WebIdentitySource>("AWS_WEB_IDENTITY_TOKEN_FILE", token_file, env("AWS_ROLE_ARN"),
                                                   session_name(env("AWS_ROLE_SESSION_NAME")),
                                                   sts_endpoint(region)));
  }
  tried.push_back("AWS_WEB_IDENTITY_TOKEN_FILE (not set)");

  // 3. The profile.
  if (profile.chosen && !profile.found) {
    throw AwsCredentialsError("AWS_PROFILE names " + profile.name + ", which is in neither " +
                              profile.credentials_file + " nor " + profile.config_file);
  }
  if (profile.found) {
    const std::string where = profile.where();
    if (!profile.get("aws_access_key_id").empty() || !profile.get("aws_secret_access_key").empty()) {
      if (profile.get("aws_access_key_id").empty() || profile.get("aws_secret_access_key").empty()) {
        throw AwsCredentialsError(where + " has only one of aws_access_key_id and aws_secret_access_key");
      }
      return use(std::make_unique<StaticSource>(
          where, AwsCredentials{profile.get("aws_access_key_id"), profile.get("aws_secret_access_key"),
                                profile.get("aws_session_token"), std::nullopt}));
    }
    if (const std::string command = profile.get("credential_process"); !command.empty()) {
      return use(std::make_unique<ProcessSource>(profile.name, command));
    }
    if (const std::string token_file = expand_home(profile.get("web_identity_token_file")); !token_file.empty()) {
      if (profile.get("role_arn").empty()) {
        throw AwsCredentialsError(where + " has web_identity_token_file but no role_arn");
      }
      return use(std::make_unique<WebIdentitySource>("web_identity_token_file of profile " + profile.name,
                                                     token_file, profile.get("role_arn"),
                                                     session_name(profile.get("role_session_name")),
                                                     sts_endpoint(region)));
    }
    // What the SDKs can do and gocachefs cannot: say so rather than go on
    // to sources the user did not mean.
    if (!profile.get("role_arn").empty() || !profile.get("sso_session").empty() ||
        !profile.get("sso_start_url").empty()) {
      throw AwsCredentialsError(where +
                                " assumes a role or uses SSO, which gocachefs does not do itself; set "
                                "credential_process = aws configure export-credentials --format process --profile " +
                                profile.name + " in it instead");
    }
    tried.push_back(where + " (no keys, credential_process or web_identity_token_file)");
  } else {
    tried.push_back(profile.where() + " (not there)");
  }

  // 4. The container endpoint.
  const std::string full_uri = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  const std::string relative_uri = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  if (!relative_uri.empty() || !full_uri.empty()) {
    std::string url = !relative_uri.empty() ? "http://169.254.170.2" + relative_uri : full_uri;
    if (relative_uri.empty()) check_container_host(url);
    return use(std::make_unique<ContainerSource>(url, env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                                                 env("AWS_CONTAINER_AUTHORIZATION_TOKEN")));
  }
  tried.push_back("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI (not set)");

  // 5. EC2 instance metadata, last: only it costs a network timeout when
  // it is not there.
  if (is_true(env("AWS_EC2_METADATA_DISABLED"))) {
    tried.push_back("EC2 instance metadata (AWS_EC2_METADATA_DISABLED)");
  } else {
    std::string endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (endpoint.empty()) {
      endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") == "IPv6" ? "http://[fd00:ec2::254]"
                                                                        : "http://169.254.169.254";
    }
    while (endpoint.ends_with("/")) endpoint.pop_back();
    try {
      return use(std::make_unique<ImdsSource>(endpoint));
    } catch (const ImdsUnavailable& e) {
      tried.push_back(e.what());
    }
  }

  std::string message = "no AWS credentials found; tried, in order: ";
  for (std::size_t i = 0; i < tried.size(); ++i) message += (i ? "; " : "") + tried[i];
  message +=
      ". Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile with keys or "
      "credential_process in ~/.aws/credentials or ~/.aws/config, or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN";
  throw AwsCredentialsError(message);
}

}  // namespace gocachefs
