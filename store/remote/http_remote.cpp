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
  bool aborted = false;
};

// Bodies of error responses are not the object: only a 200's body reaches
// the sink.
std::size_t on_fetch_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<FetchState*>(user);
  long code = 0;
  curl_easy_getinfo(state->handle, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) return size * count;
  if (!(*state->sink)(data, size * count)) {
    state->aborted = true;
    return 0;
  }
  return size * count;
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
  // No "Expect: 100-continue" round trip before each PUT.
  header_list_ = curl_slist_append(header_list_, "Expect:");
  for (const auto& header : config_.headers) header_list_ = curl_slist_append(header_list_, header.c_str());
}

HttpRemote::~HttpRemote() {
  for (CURL* handle : idle_) curl_easy_cleanup(handle);
  curl_slist_free_all(header_list_);
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

RemoteResult HttpRemote::perform(CURL* handle, const std::string& key, const char* method) {
  const std::string url = config_.base_url + "/" + key;
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list_);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, config_.connect_timeout_ms);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, config_.request_timeout_ms);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, kStallSeconds);
  if (!config_.userpwd.empty()) curl_easy_setopt(handle, CURLOPT_USERPWD, config_.userpwd.c_str());
  if (!config_.aws_sigv4.empty()) curl_easy_setopt(handle, CURLOPT_AWS_SIGV4, config_.aws_sigv4.c_str());

  char curl_error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, curl_error);
  const CURLcode rc = curl_easy_perform(handle);
  long code = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code);
  // Messages name the key and the redacted base, never the full URL.
  const std::string where = std::string(method) + " " + config_.description + "/" + key;
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

RemoteResult HttpRemote::fetch(const std::string& key, const RemoteSink& sink) {
  CURL* handle = acquire();
  FetchState state{handle, &sink};
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_fetch_data);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &state);
  RemoteResult result = perform(handle, key, "GET");
  long code = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code);
  if (result.ok() && code != 200) result = RemoteResult::failed("GET " + key + ": HTTP " + std::to_string(code));
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
  RemoteResult result = perform(handle, key, "PUT");
  release(handle);
  return result;
}

RemoteResult HttpRemote::store_file(const std::string& key, const std::filesystem::path& file) {
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
  RemoteResult result = perform(handle, key, "PUT");
  release(handle);
  return result;
}

}  // namespace gocachefs
