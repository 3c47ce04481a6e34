#include "store/remote/http_remote.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

namespace gocachefs {

namespace {

// A remote that sends nothing for this long is treated as hung.
constexpr long kStallSeconds = 5;
// An upload's request may take as long as this rate needs for its size when
// that is longer than the base timeout: a large object on a slow link is not
// cut off halfway (a stall is still caught by the low-speed limit).
constexpr std::uint64_t kMinUploadBytesPerSecond = 128 * 1024;
// Of an error response's body, enough to read S3's error code.
constexpr std::size_t kMaxErrorBody = 4096;

long response_code(CURL* handle) {
  long code = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

void keep_error_body(std::string* body, const char* data, std::size_t n) {
  body->append(data, std::min(n, kMaxErrorBody - std::min(kMaxErrorBody, body->size())));
}

struct FetchState {
  CURL* handle;
  const RemoteSink* sink;
  const ByteRange* range;      // a range request, else the whole entry
  std::uint64_t position = 0;  // bytes of a 200 answer seen (a range answered with the whole entry)
  bool range_done = false;     // the whole entry came, and the range is passed: the rest is not read
  std::optional<std::uint64_t> range_allowed;  // a 206's length by its Content-Range, once checked
  std::uint64_t range_delivered = 0;           // a 206's bytes given to the sink
  std::string range_error;                     // a 206 that does not answer the range asked
  std::string local_error;                     // the sink threw: our side failed
  std::string error_body;                      // an error response's first bytes
};

// Hands bytes to the sink; exceptions never unwind through libcurl.
bool deliver(FetchState* state, const char* data, std::size_t n) {
  try {
    return (*state->sink)(data, n);  // false: the bytes are wrong (perform says "aborted by the receiver")
  } catch (const std::exception& e) {
    state->local_error = e.what();
  } catch (...) {
    state->local_error = "unknown exception";
  }
  return false;
}

// The length a 206 may have: its Content-Range must start at the offset
// asked and end within the range (earlier when the entry ends first).
std::optional<std::uint64_t> allowed_range_length(CURL* handle, const ByteRange& asked) {
  curl_header* header = nullptr;
  if (curl_easy_header(handle, "Content-Range", 0, CURLH_HEADER, -1, &header) != CURLHE_OK) return std::nullopt;
  unsigned long long first = 0, last = 0;
  char slash = 0;
  if (std::sscanf(header->value, "bytes %llu-%llu%c", &first, &last, &slash) != 3 || slash != '/') return std::nullopt;
  if (first != asked.offset || last < first || last - first >= asked.length) return std::nullopt;
  return last - first + 1;
}

// Bodies of error responses are not the entry: only a 200's or (for a range
// request) a 206's body reaches the sink, and a 206 only as much of it as
// the range asked.
std::size_t on_fetch_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<FetchState*>(user);
  const std::size_t n = size * count;
  const long code = response_code(state->handle);
  if (code != 200 && code != 206) {
    keep_error_body(&state->error_body, data, n);
    return n;
  }
  if (code == 206) {
    if (!state->range) {
      state->range_error = "HTTP 206 to a request for the whole entry";
      return 0;
    }
    if (!state->range_allowed) {
      state->range_allowed = allowed_range_length(state->handle, *state->range);
      if (!state->range_allowed) {
        state->range_error = "HTTP 206 whose Content-Range is not the range asked";
        return 0;
      }
    }
    // Bytes beyond what the Content-Range says are not the range: as with a
    // server that ignores Range, they are dropped and the fetch stops once
    // the range is in hand (what it holds is checked by hash later).
    const std::size_t take = std::min<std::uint64_t>(n, *state->range_allowed - state->range_delivered);
    state->range_delivered += take;
    if (take > 0 && !deliver(state, data, take)) return 0;
    if (take < n) {
      spdlog::debug("an HTTP 206 longer than its Content-Range: the bytes beyond it are dropped");
      state->range_done = true;
      return 0;
    }
    return n;
  }
  if (state->range) {
    const std::uint64_t start = state->position;
    state->position += n;
    const std::uint64_t first = std::max(start, state->range->offset);
    const std::uint64_t end = state->range->offset + state->range->length;
    const std::uint64_t last = std::min(state->position, end);
    if (first < last && !deliver(state, data + (first - start), last - first)) return 0;
    // A server that ignores Range (bazel-remote) would send the whole
    // object: stop once the range is in hand.
    if (state->position >= end) {
      state->range_done = true;
      return 0;
    }
    return n;
  }
  return deliver(state, data, n) ? n : 0;
}

struct MemoryReader {
  std::string_view bytes;
};

std::size_t on_read_memory(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* reader = static_cast<MemoryReader*>(user);
  const std::size_t n = std::min(size * count, reader->bytes.size());
  std::memcpy(buffer, reader->bytes.data(), n);
  reader->bytes.remove_prefix(n);
  return n;
}

std::size_t on_read_file(char* buffer, std::size_t size, std::size_t count, void* user) {
  return std::fread(buffer, 1, size * count, static_cast<FILE*>(user));
}

// What a PUT's answer says: kept only to read an error code from.
std::size_t on_response_body(char* data, std::size_t size, std::size_t count, void* user) {
  keep_error_body(static_cast<std::string*>(user), data, size * count);
  return size * count;
}

// S3's error code: <Code>...</Code> in the XML body ("" when there is none).
std::string s3_error_code(const std::string& body) {
  const auto begin = body.find("<Code>");
  const auto end = body.find("</Code>");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return "";
  return body.substr(begin + 6, end - begin - 6);
}

bool is_s3_credentials_code(const std::string& code) {
  return code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" ||
         code == "InvalidToken" || code == "TokenRefreshRequired" || code == "RequestTimeTooSkewed" ||
         code == "AuthorizationHeaderMalformed" || code == "InvalidSecurity";
}

// What a refusal most likely means, for the one line the user reads.
std::string refusal_hint(long code) {
  switch (code) {
    case 413:
      return " (the server takes no bodies this large: raise its limit, nginx's client_max_body_size, e.g. to 0 or 1g)";
    case 400:
      return " (bad request)";
    case 405:
      return " (method not allowed: nginx needs dav_methods PUT)";
    case 409:
      return " (conflict: nginx needs create_full_put_path on)";
    default:
      return "";
  }
}

long upload_timeout_ms(long base_ms, std::uint64_t size) {
  const auto scaled = static_cast<long>(std::min<std::uint64_t>(size / kMinUploadBytesPerSecond * 1000, LONG_MAX / 2));
  return std::max(base_ms, scaled);
}

}  // namespace

HttpRemote::HttpRemote(HttpConfig config) : config_(std::move(config)) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  // No "Expect: 100-continue" round trip before each PUT. Not when signing:
  // curl would sign the empty header it then leaves out.
  if (config_.aws_sigv4.empty()) header_list_ = curl_slist_append(header_list_, "Expect:");
  for (const auto& header : config_.headers) {
    header_list_ = curl_slist_append(header_list_, header.c_str());
    get_header_list_ = curl_slist_append(get_header_list_, header.c_str());
  }
  if (config_.zstd_headers) get_header_list_ = curl_slist_append(get_header_list_, "Accept-Encoding: zstd");
}

HttpRemote::~HttpRemote() {
  for (CURL* handle : idle_) curl_easy_cleanup(handle);
  curl_slist_free_all(header_list_);
  curl_slist_free_all(get_header_list_);
}

CURL* HttpRemote::acquire() {
  {
    std::lock_guard lock(idle_mutex_);
    if (!idle_.empty()) {
      CURL* handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void HttpRemote::release(CURL* handle) {
  curl_easy_reset(handle);  // keeps the connection, forgets the options
  std::lock_guard lock(idle_mutex_);
  idle_.push_back(handle);
}

RemoteResult HttpRemote::perform(CURL* handle, const std::string& key, const char* method, curl_slist* headers,
                                 const std::string* error_body, long timeout_ms) {
  // Credentials that change: this request's, and the headers that go with
  // them (a session token) added to a copy of the list.
  HttpRequestCredentials credentials;
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> request_headers(nullptr, curl_slist_free_all);
  if (config_.credentials) {
    if (RemoteResult result = config_.credentials(&credentials); !result.ok()) {
      result.error = std::string(method) + " " + key + ": " + result.error;
      return result;
    }
    if (!credentials.headers.empty()) {
      for (const curl_slist* h = headers; h; h = h->next) {
        request_headers.reset(curl_slist_append(request_headers.release(), h->data));
      }
      for (const auto& h : credentials.headers) {
        request_headers.reset(curl_slist_append(request_headers.release(), h.c_str()));
      }
      headers = request_headers.get();
    }
  }
  const std::string& userpwd = config_.credentials ? credentials.userpwd : config_.userpwd;
  const std::string url = config_.base_url + "/" + key + (config_.query.empty() ? "" : "?" + config_.query);
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, config_.connect_timeout_ms);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : config_.request_timeout_ms);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, kStallSeconds);
  if (!userpwd.empty()) curl_easy_setopt(handle, CURLOPT_USERPWD, userpwd.c_str());
  if (!config_.aws_sigv4.empty()) curl_easy_setopt(handle, CURLOPT_AWS_SIGV4, config_.aws_sigv4.c_str());

  char curl_error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, curl_error);
  const CURLcode rc = curl_easy_perform(handle);
  const long code = response_code(handle);
  // Messages name the key, never the URL (which may hold credentials); the
  // caller knows which remote it asked.
  const std::string where = std::string(method) + " " + key;
  if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR) {
    return RemoteResult::failed(where + ": " + (curl_error[0] ? curl_error : curl_easy_strerror(rc)));
  }
  if (code == 404) return {RemoteResult::kNotFound, ""};
  const std::string status = where + ": HTTP " + std::to_string(code);
  if (config_.s3_error_codes && (code == 400 || code == 403)) {
    // S3 says why in the body. With a least-privilege policy (GetObject
    // without ListBucket) a key that does not exist is a 403 AccessDenied.
    const std::string s3_code = error_body ? s3_error_code(*error_body) : "";
    const bool read = std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0;
    if (is_s3_credentials_code(s3_code)) {
      return {RemoteResult::kUnauthorized, status + " " + s3_code + " (credentials refused)"};
    }
    if (code == 403 && s3_code == "AccessDenied" && read) {
      // Told once: a policy that denies s3:GetObject would otherwise make
      // every get a silent miss.
      if (!told_reads_denied_.exchange(true)) {
        spdlog::warn("remote {}: S3 answers AccessDenied to reads, taken as misses: what a policy without "
                     "s3:ListBucket answers for a key that does not exist. If every remote get misses, the "
                     "credentials may lack s3:GetObject on the bucket's keys",
                     config_.description);
      }
      return {RemoteResult::kNotFound, ""};
    }
    // Credentials that may read and not write (s3:GetObject without
    // s3:PutObject): this upload will never go, reads still do.
    if (code == 403 && s3_code == "AccessDenied" && std::strcmp(method, "PUT") == 0) {
      return {RemoteResult::kRejected,
              status + " AccessDenied (these credentials may not write: allow s3:PutObject on the bucket's keys, "
                       "or set GOCACHEFS_REMOTE_READ_ONLY=1 (--remote-read-only) where uploads are not wanted)"};
    }
    if (code == 403) {
      return {RemoteResult::kUnauthorized,
              status + (s3_code.empty() ? "" : " " + s3_code) + " (credentials refused)"};
    }
    if (s3_code == "RequestTimeout" || s3_code == "SlowDown") return RemoteResult::failed(status + " " + s3_code);
    return {RemoteResult::kRejected, status + (s3_code.empty() ? "" : " " + s3_code) + refusal_hint(code)};
  }
  if (code == 401 || code == 403) return {RemoteResult::kUnauthorized, status + " (credentials refused)"};
  // A client error is this request's for good, except a timeout or a rate
  // limit, which a later try may pass.
  if (code >= 400 && code < 500 && code != 408 && code != 429) {
    return {RemoteResult::kRejected, status + refusal_hint(code)};
  }
  if (code < 200 || code > 299) return RemoteResult::failed(status);
  if (rc == CURLE_WRITE_ERROR) return RemoteResult::failed(where + ": aborted by the receiver");
  return {};
}

RemoteResult HttpRemote::fetch(const std::string& key, const RemoteSink& sink) { return get(key, nullptr, sink); }

RemoteResult HttpRemote::fetch_range(const std::string& key, ByteRange range, const RemoteSink& sink) {
  if (range.length == 0) return {};
  return get(key, &range, sink);
}

RemoteResult HttpRemote::exists(const std::string& key) {
  CURL* handle = acquire();
  curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);  // HEAD
  RemoteResult result = perform(handle, key, "HEAD", header_list_, nullptr);
  const long code = response_code(handle);
  curl_off_t length = -1;
  if (result.ok() && curl_easy_getinfo(handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK &&
      length >= 0) {
    result.length = static_cast<std::uint64_t>(length);
  }
  release(handle);
  // A HEAD has no body to say why S3 refused it (a missing key, or refused
  // credentials): a one-byte GET does.
  if (config_.s3_error_codes && (code == 400 || code == 403)) {
    const ByteRange first_byte{0, 1};
    result = get(key, &first_byte, [](const char*, std::size_t) { return true; });
  }
  return result;
}

RemoteResult HttpRemote::get(const std::string& key, const ByteRange* range, const RemoteSink& sink) {
  CURL* handle = acquire();
  FetchState state{handle, &sink, range};
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_fetch_data);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &state);
  std::string range_spec;
  if (range) {
    range_spec = std::to_string(range->offset) + "-" + std::to_string(range->offset + range->length - 1);
    curl_easy_setopt(handle, CURLOPT_RANGE, range_spec.c_str());
  }
  // A range of a zstd entry would be a range of compressed bytes.
  RemoteResult result = perform(handle, key, "GET", range ? header_list_ : get_header_list_, &state.error_body);
  const long code = response_code(handle);
  release(handle);
  const std::string where = "GET " + key;
  if (!state.local_error.empty()) return {RemoteResult::kLocalError, where + ": stopped on our side: " + state.local_error};
  if (!state.range_error.empty()) return RemoteResult::failed(where + ": " + state.range_error);
  if (state.range_done) return {};
  if (result.ok() && code != 200 && !(range && code == 206)) {
    return RemoteResult::failed(where + ": HTTP " + std::to_string(code));
  }
  return result;
}

RemoteResult HttpRemote::store_bytes(const std::string& key, std::string_view bytes) {
  CURL* handle = acquire();
  MemoryReader reader{bytes};
  std::string answer;
  curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(handle, CURLOPT_READFUNCTION, on_read_memory);
  curl_easy_setopt(handle, CURLOPT_READDATA, &reader);
  curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(bytes.size()));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_response_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &answer);
  RemoteResult result = perform(handle, key, "PUT", header_list_, &answer,
                                upload_timeout_ms(config_.request_timeout_ms, bytes.size()));
  release(handle);
  return result;
}

RemoteResult HttpRemote::store_file(const std::string& key, const std::filesystem::path& file,
                                    StoredEncoding encoding) {
  std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(file.c_str(), "rb"), std::fclose);
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (!in || ec) return {RemoteResult::kLocalError, "cannot read " + file.string() + " to upload it"};
  CURL* handle = acquire();
  std::string answer;
  curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(handle, CURLOPT_READFUNCTION, on_read_file);
  curl_easy_setopt(handle, CURLOPT_READDATA, in.get());
  curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_response_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &answer);
  curl_slist* headers = header_list_;
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> encoding_headers(nullptr, curl_slist_free_all);
  if (encoding.zstd && config_.zstd_headers) {
    // bazel-remote's way to accept a compressed CAS entry.
    for (const curl_slist* h = header_list_; h; h = h->next) {
      encoding_headers.reset(curl_slist_append(encoding_headers.release(), h->data));
    }
    encoding_headers.reset(curl_slist_append(encoding_headers.release(), "Content-Encoding: zstd"));
    const std::string size_header = "X-Digest-SizeBytes: " + std::to_string(encoding.decoded_size);
    encoding_headers.reset(curl_slist_append(encoding_headers.release(), size_header.c_str()));
    headers = encoding_headers.get();
  }
  RemoteResult result =
      perform(handle, key, "PUT", headers, &answer, upload_timeout_ms(config_.request_timeout_ms, size));
  release(handle);
  return result;
}

}  // namespace gocachefs
