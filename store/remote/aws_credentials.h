// AWS credentials for the S3 remote: where they come from (the provider
// chain of the AWS SDKs, aws_credential_sources.cpp) and how temporary ones
// are kept fresh (AwsCredentialProvider). A daemon lives for hours, longer
// than any session token.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gocachefs {

using AwsClock = std::chrono::system_clock;

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  // Set for temporary credentials, which are refreshed before this.
  std::optional<AwsClock::time_point> expiration;
};

// A configured source that failed, or no source at all. The message names
// the source and never holds a secret. An std::invalid_argument because
// that is how make_remote reports a remote it cannot use.
class AwsCredentialsError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// One place credentials come from. fetch() asks it again, for a refresh.
class AwsCredentialSource {
 public:
  virtual ~AwsCredentialSource() = default;
  // For messages: "environment", "credential_process of profile ci", ...
  virtual std::string name() const = 0;
  // Throws AwsCredentialsError.
  virtual AwsCredentials fetch() = 0;
};

// Settings of the chain that are not in the environment.
struct AwsChainOptions {
  std::string region;  // for the STS endpoint; empty: AWS_REGION, the profile's, us-east-1
};

// The first configured source in the SDKs' order, with its first
// credentials already fetched (see aws_credential_sources.cpp for the order).
// Throws AwsCredentialsError naming what was tried and how to fix it when
// nothing is configured, or naming the source when a configured one fails.
struct FoundAwsCredentials {
  std::unique_ptr<AwsCredentialSource> source;
  AwsCredentials credentials;
};
FoundAwsCredentials find_aws_credentials(const AwsChainOptions& options = {});

// When refreshes happen. Defaults follow the SDKs: well before expiry, never
// in a loop.
struct AwsRefreshPolicy {
  // Refresh this long before the expiration...
  std::chrono::seconds margin{300};
  // ...but no earlier than this part of the lifetime before it, so that
  // credentials that live only minutes are not fetched on every request.
  double max_lifetime_fraction = 0.2;
  // Credentials this close to expiry are not used: a request signed now
  // must still be valid when the server checks it.
  std::chrono::seconds expiry_skew{10};
  // At most one fetch per this interval, so a failing source is not hammered.
  std::chrono::seconds min_interval{10};
  std::function<AwsClock::time_point()> now = [] { return AwsClock::now(); };
};

// The credentials to sign with now. Thread-safe. A refresh is done by the
// first request that finds it due while the others go on with the current
// credentials; only when those have expired do requests wait for it.
class AwsCredentialProvider {
 public:
  AwsCredentialProvider(std::unique_ptr<AwsCredentialSource> source, AwsCredentials first,
                        AwsRefreshPolicy policy = {});

  // nullptr with *error set when the credentials expired and the source
  // could not give new ones.
  std::shared_ptr<const AwsCredentials> current(std::string* error);
  std::string source_name() const { return source_name_; }
  // How many times the source was asked since the first credentials.
  int refreshes() const;

 private:
  void install(AwsCredentials credentials, AwsClock::time_point now);  // with mutex_ held
  bool usable(AwsClock::time_point now) const;                          // with mutex_ held

  const std::unique_ptr<AwsCredentialSource> source_;
  const std::string source_name_;
  const AwsRefreshPolicy policy_;
  mutable std::mutex mutex_;
  std::condition_variable refreshed_;
  std::shared_ptr<const AwsCredentials> current_;
  AwsClock::time_point refresh_at_ = AwsClock::time_point::max();
  AwsClock::time_point next_attempt_{};
  bool refreshing_ = false;
  int refreshes_ = 0;
  std::string last_error_;
};

// When `credentials`, obtained at `now`, should be refreshed; max() for
// credentials that do not expire.
AwsClock::time_point aws_refresh_time(const AwsCredentials& credentials, AwsClock::time_point now,
                                      const AwsRefreshPolicy& policy);

// One provider per process for the current environment, shared by the
// remotes made from it (cmd/go's process makes two for one URL): one first
// fetch, one refresh schedule. Throws AwsCredentialsError.
std::shared_ptr<AwsCredentialProvider> shared_aws_credential_provider(const AwsChainOptions& options);

// --- Parsers, exposed for tests. They throw AwsCredentialsError. ---

// "2026-01-02T03:04:05Z", with optional fractional seconds and a "+hh:mm"
// offset instead of Z.
AwsClock::time_point parse_aws_time(const std::string& text);

// INI text as ~/.aws/credentials and ~/.aws/config hold it: section -> key
// -> value. Section names are kept as written ("profile ci", "default").
using IniSections = std::map<std::string, std::map<std::string, std::string>>;
IniSections parse_ini(const std::string& text);

// The output of a credential_process: JSON with Version 1.
AwsCredentials parse_credential_process_output(const std::string& json);
// The JSON of the ECS container endpoint and of EC2 instance metadata
// (AccessKeyId, SecretAccessKey, Token, Expiration).
AwsCredentials parse_metadata_credentials(const std::string& json);
// The XML answer of STS AssumeRole*: the <Credentials> element; an
// <Error> becomes an AwsCredentialsError with its Code and Message.
AwsCredentials parse_sts_credentials(const std::string& xml);

}  // namespace gocachefs
