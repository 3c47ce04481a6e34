// s3://bucket[/prefix][?region=R&endpoint=URL&path_style=1]: Amazon S3 and
// S3-compatible stores (MinIO, Ceph, R2), spoken as HTTP signed with AWS
// Signature V4 by libcurl.
//
// Credentials come from the AWS SDKs' chain (aws_credential_sources.cpp),
// first configured source wins: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
// (/ AWS_SESSION_TOKEN); web identity (AWS_WEB_IDENTITY_TOKEN_FILE +
// AWS_ROLE_ARN, via STS); the profile AWS_PROFILE (or "default") in
// ~/.aws/credentials and ~/.aws/config (keys, credential_process,
// web_identity_token_file); the ECS container endpoint; EC2 instance
// metadata (IMDSv2). Temporary credentials are refreshed before they expire
// and taken per request (HttpConfig::credentials). A configured source that
// fails, or none at all, is an std::invalid_argument at construction naming
// what was tried. Region: the URL's, else AWS_REGION, else
// AWS_DEFAULT_REGION, else us-east-1.
#pragma once

#include <memory>
#include <string>

#include "store/remote/aws_credentials.h"
#include "store/remote/http_remote.h"

namespace gocachefs {

// The HTTP settings for an s3:// URL. Throws std::invalid_argument.
HttpConfig s3_http_config(const std::string& url, const RemoteOptions& options);
// The same with credentials from `provider` (tests choose its refresh
// policy); nullptr finds them as above.
HttpConfig s3_http_config(const std::string& url, const RemoteOptions& options,
                          std::shared_ptr<AwsCredentialProvider> provider);

}  // namespace gocachefs
