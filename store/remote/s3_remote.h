// s3://bucket[/prefix][?region=R&endpoint=URL&path_style=1]: Amazon S3 and
// S3-compatible stores (MinIO, Ceph, R2), spoken as HTTP signed with AWS
// Signature V4 by libcurl.
//
// Credentials, first found wins: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
// (/ AWS_SESSION_TOKEN); else the profile AWS_PROFILE (or "default") of
// AWS_SHARED_CREDENTIALS_FILE (or ~/.aws/credentials). Region: the URL's,
// else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
#pragma once

#include <optional>
#include <string>

#include "store/remote/http_remote.h"

namespace gocachefs {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
};

// Empty when no credentials are configured.
std::optional<AwsCredentials> find_aws_credentials();

// The HTTP settings for an s3:// URL. Throws std::invalid_argument.
HttpConfig s3_http_config(const std::string& url, const RemoteOptions& options);

}  // namespace gocachefs
