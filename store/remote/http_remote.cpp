#include "store/remote/http_remote.h"

#include <curl/curl.h>

#include <cstdio>
#include <cstring>
#include <memory>

namespace gocachefs {

namespace {

// A remote that sends nothing for this long is treated as hung.
constexpr long kStallSeconds = 5;

struct FetchState {
  CURL* handle;
  const RemoteSink* sink;
  // A range request answered with the whole entry (200, not 206): skip to
  // the range ourselves.
  const ByteRange* range;
  std::uint64_t position = 0;
  bool aborted = false;
  bool range_done = false;  // the whole entry came, and the range is passed: the rest is not read
};

// Bodies of error responses are not the entry: only a 200's or 206's body
// reaches the sink.
std::size_t on_fetch_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<FetchState*>(user);
  std::size_t n = size * count;
  long code = 0;
  curl_easy_getinfo(state->handle, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200 && code != 206) return n;
  const char* begin = data;
  std::size_t length = n;
  if (state->range && code == 200) {
    const std::uint64_t start = state->position;
    state->position += n;
    const std::uint64_t first = std::max(start, state->range->offset);
    const std::uint64_t end = state->range->offset + state->range->length;
    const std::uint64_t last = std::min(state->position, end);
    if (first < last && !(*state->sink)(data + (first - start), last - first)) {
      state->aborted = true;
      return 0;
    }
    // A server that ignores Range (bazel-remote) would send the whole
    // object: stop once the range is in hand.
    if (state->position >= end) {
      state->range_done = true;
      return 0;
    }
    return n;
  }
  if (!(*state->sink)(begin, length)) {
    state->aborted = true;
    return 0;
  }
  return n;
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

std::size_t discard(char*, std::size_t size, std::size_t count, void*) { return size * count; }

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

RemoteResult HttpRemote::perform(CURL* handle, const std::string& key, const char* method, curl_slist* headers) {
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
  const std::string url = config_.base_url + "/" + key;
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, config_.connect_timeout_ms);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, config_.request_timeout_ms);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, kStallSeconds);
  if (!userpwd.empty()) curl_easy_setopt(handle, CURLOPT_USERPWD, userpwd.c_str());
  if (!config_.aws_sigv4.empty()) curl_easy_setopt(handle, CURLOPT_AWS_SIGV4, config_.aws_sigv4.c_str());

  char curl_error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, curl_error);
  const CURLcode rc = curl_easy_perform(handle);
  long code = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code);
  // Messages name the key, never the URL (which may hold credentials); the
  // caller knows which remote it asked.
  const std::string where = std::string(method) + " " + key;
  if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR) {
    return RemoteResult::failed(where + ": " + (curl_error[0] ? curl_error : curl_easy_strerror(rc)));
  }
  if (code == 404) return {RemoteResult::kNotFound, ""};
  if (code == 401 || code == 403) {
    return {RemoteResult::kUnauthorized, where + ": HTTP " + std::to_string(code) + " (credentials refused)"};
  }
  if (code < 200 || code > 299) return RemoteResult::failed(where + ": HTTP " + std::to_string(code));
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
  RemoteResult result = perform(handle, key, "HEAD", header_list_);
  release(handle);
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
  RemoteResult result = perform(handle, key, "GET", range ? header_list_ : get_header_list_);
  if (state.range_done) result = {};
  long code = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code);
  if (result.ok() && code != 200 && !(range && code == 206)) {
    result = RemoteResult::failed("GET " + key + ": HTTP " + std::to_string(code));
  }
  release(handle);
  return result;
}

RemoteResult HttpRemote::store_bytes(const std::string& key, std::string_view bytes) {
  CURL* handle = acquire();
  MemoryReader reader{bytes};
  curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(handle, CURLOPT_READFUNCTION, on_read_memory);
  curl_easy_setopt(handle, CURLOPT_READDATA, &reader);
  curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(bytes.size()));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, discard);
  RemoteResult result = perform(handle, key, "PUT", header_list_);
  release(handle);
  return result;
}

RemoteResult HttpRemote::store_file(const std::string& key, const std::filesystem::path& file,
                                    StoredEncoding encoding) {
  std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(file.c_str(), "rb"), std::fclose);
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (!in || ec) return RemoteResult::failed("cannot read " + file.string() + " to upload it");
  CURL* handle = acquire();
  curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(handle, CURLOPT_READFUNCTION, on_read_file);
  curl_easy_setopt(handle, CURLOPT_READDATA, in.get());
  curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, discard);
  curl_slist* headers = header_list_;
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> encoding_headers(nullptr, curl_slist_free_all);
  if (encoding.zstd && config_.zstd_headers) {
    // bazel-remote's way to accept a compressed CAS entry.
    for (const curl_slist* h = header_list_; h; h = h->next) {
      encoding_headers.reset(curl_slist_append(encoding_headers.release(), h->data));
    }
    encoding_headers.reset(curl_slist_append(encoding_headers.release(), "Content-Encoding: zstd"));
    const std::string size = "X-Digest-SizeBytes: " + std::to_string(encoding.decoded_size);
    encoding_headers.reset(curl_slist_append(encoding_headers.release(), size.c_str()));
    headers = encoding_headers.get();
  }
  RemoteResult result = perform(handle, key, "PUT", headers);
  release(handle);
  return result;
}

}  // namespace gocachefs
