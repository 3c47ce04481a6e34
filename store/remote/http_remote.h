// http:// and https:// remotes (bazel-remote, nginx WebDAV, any server that
// GETs and PUTs by path), and the transport under the S3 remote, which is
// HTTP signed with AWS Signature V4.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "store/remote/remote.h"

typedef void CURL;
struct curl_slist;

namespace gocachefs {

// What a request is signed with when the credentials change while the
// remote lives (S3's temporary ones, refreshed before they expire).
struct HttpRequestCredentials {
  std::string userpwd;               // "user:password" (S3: key id and secret)
  std::vector<std::string> headers;  // e.g. "x-amz-security-token: ..."
};
// Fills in the credentials for the next request, or says why there are
// none (the error never holds a secret).
using HttpCredentialSource = std::function<RemoteResult(HttpRequestCredentials*)>;

struct HttpConfig {
  std::string base_url;     // without a trailing slash; keys are appended
  std::string query;        // appended to every URL after '?' (a signed URL's signature); never in messages
  std::string description;  // base_url without secrets
  std::string userpwd;      // "user:password" for basic auth or S3 keys
  std::string aws_sigv4;    // "aws:amz:<region>:s3" to sign requests
  HttpCredentialSource credentials;  // when set, asked before each request instead of userpwd
  std::vector<std::string> headers;
  // Content-Encoding and Accept-Encoding: zstd, which bazel-remote
  // understands. Off for S3, which would keep them as object metadata.
  bool zstd_headers = true;
  // Read S3's error codes from 400 and 403 answers: a missing key that a
  // policy without ListBucket hides behind AccessDenied is a miss (said once
  // in the log), an upload denied is kRejected (credentials that may read
  // and not write), refused credentials are kUnauthorized.
  bool s3_error_codes = false;
  long connect_timeout_ms = 3000;
  long request_timeout_ms = 60000;
};

class HttpRemote : public Remote {
 public:
  explicit HttpRemote(HttpConfig config);
  ~HttpRemote() override;

  RemoteResult fetch(const std::string& key, const RemoteSink& sink) override;
  RemoteResult fetch_range(const std::string& key, ByteRange range, const RemoteSink& sink) override;
  RemoteResult exists(const std::string& key) override;
  RemoteResult store_bytes(const std::string& key, std::string_view bytes) override;
  RemoteResult store_file(const std::string& key, const std::filesystem::path& file, StoredEncoding encoding) override;
  std::string describe() const override { return config_.description; }

 private:
  // Handles keep their connections open between requests; each request
  // borrows one, so concurrent requests use separate connections.
  CURL* acquire();
  void release(CURL* handle);
  // One request on `handle`, its answer turned into a RemoteResult;
  // `error_body` holds what the write callback kept of an error response
  // (S3's error code), `timeout_ms` overrides the request timeout.
  RemoteResult perform(CURL* handle, const std::string& key, const char* method, curl_slist* headers,
                       const std::string* error_body, long timeout_ms = 0);
  RemoteResult get(const std::string& key, const ByteRange* range, const RemoteSink& sink);

  HttpConfig config_;
  curl_slist* header_list_ = nullptr;      // every request
  curl_slist* get_header_list_ = nullptr;  // GETs of whole entries: may come back zstd
  std::mutex idle_mutex_;
  std::vector<CURL*> idle_;
  std::atomic<bool> told_reads_denied_{false};  // S3's AccessDenied to a read, logged once
};

}  // namespace gocachefs
