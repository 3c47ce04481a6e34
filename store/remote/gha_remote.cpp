#include "store/remote/gha_remote.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <regex>
#include <stdexcept>
#include <thread>

#include "store/base64.h"
#include "store/remote/http_remote.h"
#include "store/sha256.h"

namespace gocachefs {

namespace {

constexpr const char* kTwirpService = "/twirp/github.actions.results.api.v1.CacheService/";
constexpr int kTwirpAttempts = 5;
// Larger entries go up in blocks of this size (Put Block, Put Block List),
// as the Azure SDKs do, so that no single request carries a whole pack.
constexpr std::size_t kBlockSize = 32 << 20;
// Of an answer, enough for any Twirp reply we read.
constexpr std::size_t kMaxAnswer = 64 * 1024;

std::size_t keep_answer(char* data, std::size_t size, std::size_t count, void* user) {
  auto* answer = static_cast<std::string*>(user);
  const std::size_t n = size * count;
  answer->append(data, std::min(n, kMaxAnswer - std::min(kMaxAnswer, answer->size())));
  return n;
}

std::string percent_encoded(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", c);
      out += escaped;
    }
  }
  return out;
}

// A signed blob URL as HttpRemote takes it: the directory, the blob's name
// (the key of its requests, so the signature never reaches a message) and
// the signature's query.
struct BlobUrl {
  std::string directory, name, query;
};

std::optional<BlobUrl> split_blob_url(const std::string& url) {
  const auto query_start = url.find('?');
  const std::string path = url.substr(0, query_start);
  const auto scheme_end = path.find("://");
  const auto slash = path.rfind('/');
  if (!(path.starts_with("http://") || path.starts_with("https://")) || scheme_end == std::string::npos ||
      slash == std::string::npos || slash <= scheme_end + 2 || slash + 1 == path.size()) {
    return std::nullopt;
  }
  return BlobUrl{path.substr(0, slash), path.substr(slash + 1),
                 query_start == std::string::npos ? "" : url.substr(query_start + 1)};
}

// `extra_query` is added to the signature's (Azure's comp=block&blockid=...).
HttpRemote blob_remote(const BlobUrl& blob, const GhaConfig& config, const std::string& extra_query = "",
                       std::vector<std::string> headers = {}) {
  HttpConfig http;
  http.base_url = blob.directory;
  http.query = blob.query + (blob.query.empty() || extra_query.empty() ? "" : "&") + extra_query;
  http.description = "the GitHub Actions cache's blob store";
  headers.push_back("x-ms-version: 2024-11-04");
  http.headers = std::move(headers);
  http.zstd_headers = false;
  http.connect_timeout_ms = config.connect_timeout_ms;
  http.request_timeout_ms = config.request_timeout_ms;
  return HttpRemote(std::move(http));
}

std::string random_hex(int bytes) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned>(random() & 0xff));
    out += hex;
  }
  return out;
}

}  // namespace

GhaConfig gha_config(const std::string& url, const RemoteOptions& options) {
  GhaConfig config;
  const std::string prefix = url.substr(std::string("gha://").size());
  static const std::regex valid_prefix("[A-Za-z0-9._-]{1,100}");
  if (!prefix.empty()) {
    if (!std::regex_match(prefix, valid_prefix)) {
      throw std::invalid_argument("gha://PREFIX: the prefix may hold letters, digits, '.', '_' and '-' only: " + url);
    }
    config.prefix = prefix;
  }
  const char* results_url = std::getenv("ACTIONS_RESULTS_URL");
  const char* token = std::getenv("ACTIONS_RUNTIME_TOKEN");
  if (!results_url || !*results_url || !token || !*token) {
    throw std::invalid_argument(
        "gha:// needs ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN, which GitHub gives to actions only, not to "
        "run: steps; the action in scripts/github-action exports them");
  }
  config.results_url = results_url;
  while (config.results_url.ends_with("/")) config.results_url.pop_back();
  config.token = token;
  config.connect_timeout_ms = options.connect_timeout_ms;
  config.request_timeout_ms = options.request_timeout_ms;
  return config;
}

struct GhaRemote::Answer {
  long status = 0;          // the HTTP status; 0 when nothing answered
  nlohmann::json body;      // a 200's JSON
  RemoteResult failure;     // when not a 200 with JSON: why, for the caller to map
};

GhaRemote::GhaRemote(GhaConfig config)
    : config_(std::move(config)), version_(to_hex(Sha256::of("gocachefs packs, format 1"))) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string GhaRemote::describe() const { return "gha://" + config_.prefix + " at " + redact_url(config_.results_url); }

std::string GhaRemote::entry_name(const std::string& key) const {
  if (key.starts_with("cas/")) return config_.prefix + "-cas-" + key.substr(4);
  if (key.starts_with("ac/")) return config_.prefix + "-ac-" + key.substr(3) + "-";
  return "";
}

std::string GhaRemote::entry_key_for(const std::string& key) const {
  if (key.starts_with("cas/")) return entry_name(key);
  if (key.starts_with("ac/")) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    char time[24];
    std::snprintf(time, sizeof time, "%020lld",
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()));
    return entry_name(key) + time + "-" + random_hex(4);
  }
  return "";
}

GhaRemote::Answer GhaRemote::call(const std::string& method, const std::string& body) {
  const std::string url = config_.results_url + kTwirpService + method;
  const std::string authorization = "Authorization: Bearer " + config_.token;
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(nullptr, curl_slist_free_all);
  for (const char* header : {authorization.c_str(), "Content-Type: application/json", "Accept: application/json",
                             "User-Agent: gocachefs/" GOCACHEFS_VERSION, "Expect:"}) {
    headers.reset(curl_slist_append(headers.release(), header));
  }
  std::unique_ptr<CURL, void (*)(CURL*)> handle(curl_easy_init(), curl_easy_cleanup);
  auto pause = config_.retry_pause;
  Answer answer;
  for (int attempt = 1;; ++attempt) {
    std::string text;
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_reset(handle.get());
    curl_easy_setopt(handle.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(handle.get(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(handle.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(handle.get(), CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(handle.get(), CURLOPT_WRITEDATA, &text);
    curl_easy_setopt(handle.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle.get(), CURLOPT_CONNECTTIMEOUT_MS, config_.connect_timeout_ms);
    curl_easy_setopt(handle.get(), CURLOPT_TIMEOUT_MS, std::min(config_.request_timeout_ms, 60000L));
    curl_easy_setopt(handle.get(), CURLOPT_ERRORBUFFER, curl_error);
    const CURLcode rc = curl_easy_perform(handle.get());
    answer = Answer{};
    curl_easy_getinfo(handle.get(), CURLINFO_RESPONSE_CODE, &answer.status);
    const std::string where = method + ": ";
    bool retry = false;
    if (rc != CURLE_OK) {
      answer.status = 0;
      answer.failure = RemoteResult::failed(where + (curl_error[0] ? curl_error : curl_easy_strerror(rc)));
      // A cache that is not there costs one round trip; a slow one is tried again.
      retry = rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
              rc == CURLE_GOT_NOTHING;
    } else if (answer.status == 200) {
      answer.body = nlohmann::json::parse(text, nullptr, false);
      if (!answer.body.is_object()) answer.failure = RemoteResult::failed(where + "the answer is not JSON");
      return answer;
    } else {
      // Twirp says why as {"code": ..., "msg": ...}.
      const auto error = nlohmann::json::parse(text, nullptr, false);
      std::string why = "HTTP " + std::to_string(answer.status);
      if (error.is_object() && error.contains("msg") && error["msg"].is_string()) {
        why += " " + error.value("code", std::string()) + ": " + error["msg"].get<std::string>().substr(0, 300);
      }
      if (answer.status == 401 || answer.status == 403) {
        answer.failure = {RemoteResult::kUnauthorized,
                          where + why + " (ACTIONS_RUNTIME_TOKEN refused: it is another job's, or expired)"};
      } else if (answer.status == 404) {
        answer.failure = {RemoteResult::kNotFound, ""};
      } else if (answer.status == 429) {
        answer.failure = {RemoteResult::kRejected, where + why + " (the cache's rate limit: 200 uploads a minute "
                                                                 "per repository)"};
      } else if (answer.status >= 400 && answer.status < 500) {
        answer.failure = {RemoteResult::kRejected, where + why};
      } else {
        answer.failure = RemoteResult::failed(where + why);
        retry = answer.status >= 500;
      }
    }
    if (!retry || attempt == kTwirpAttempts) return answer;
    std::this_thread::sleep_for(pause);
    pause = pause * 3 / 2;
  }
}

RemoteResult GhaRemote::download_url(const std::string& key, std::string* url, bool fresh) {
  const std::string name = entry_name(key);
  if (name.empty()) return {RemoteResult::kRejected, key + ": gha:// holds packs only"};
  const bool pack = key.starts_with("cas/");
  if (pack && !fresh) {
    std::lock_guard lock(urls_mutex_);
    if (auto it = pack_urls_.find(key); it != pack_urls_.end()) {
      *url = it->second;
      return {};
    }
  }
  // A pack by its exact name; a pointer as the newest entry its prefix begins.
  const nlohmann::json request = {{"key", name},
                                  {"restore_keys", pack ? nlohmann::json::array() : nlohmann::json::array({name})},
                                  {"version", version_}};
  const Answer answer = call("GetCacheEntryDownloadURL", request.dump());
  if (answer.status != 200) {
    // A rate limit on a read is for later, not for good.
    if (answer.failure.status == RemoteResult::kRejected && answer.status == 429) {
      return RemoteResult::failed(answer.failure.error);
    }
    return answer.failure;
  }
  if (!answer.failure.ok()) return answer.failure;
  if (!answer.body.value("ok", false)) return {RemoteResult::kNotFound, ""};
  const auto signed_url = answer.body.value("signed_download_url", std::string());
  if (!split_blob_url(signed_url)) return RemoteResult::failed("GetCacheEntryDownloadURL: no usable download URL");
  *url = signed_url;
  if (key.starts_with("cas/")) {
    std::lock_guard lock(urls_mutex_);
    pack_urls_[key] = signed_url;
  }
  return {};
}

RemoteResult GhaRemote::get(const std::string& key, const ByteRange* range, const RemoteSink& sink) {
  for (const bool fresh : {false, true}) {
    std::string url;
    if (RemoteResult found = download_url(key, &url, fresh); !found.ok()) return found;
    const BlobUrl blob = *split_blob_url(url);
    HttpRemote remote = blob_remote(blob, config_);
    RemoteResult result = range ? remote.fetch_range(blob.name, *range, sink) : remote.fetch(blob.name, sink);
    if (result.status == RemoteResult::kOk) return result;
    // A signed URL that expired, or an entry evicted since: asked anew once.
    if (result.status != RemoteResult::kUnauthorized && result.status != RemoteResult::kNotFound) return result;
    {
      std::lock_guard lock(urls_mutex_);
      pack_urls_.erase(key);
    }
    if (fresh) return result.status == RemoteResult::kNotFound ? result : RemoteResult::failed(result.error);
  }
  return RemoteResult::failed("GET " + key + ": unreachable");
}

RemoteResult GhaRemote::fetch(const std::string& key, const RemoteSink& sink) { return get(key, nullptr, sink); }

RemoteResult GhaRemote::fetch_range(const std::string& key, ByteRange range, const RemoteSink& sink) {
  if (range.length == 0) return {};
  return get(key, &range, sink);
}

RemoteResult GhaRemote::exists(const std::string& key) {
  std::string url;
  return download_url(key, &url);
}

RemoteResult GhaRemote::store_bytes(const std::string& key, std::string_view bytes) {
  return store(key, bytes.size(), [&](std::uint64_t offset, std::size_t length, std::string* out) {
    out->assign(bytes.substr(offset, length));
    return RemoteResult{};
  });
}

RemoteResult GhaRemote::store_file(const std::string& key, const std::filesystem::path& file, StoredEncoding) {
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (!in || ec) return {RemoteResult::kLocalError, "cannot read " + file.string() + " to upload it"};
  return store(key, size, [&](std::uint64_t offset, std::size_t length, std::string* out) {
    out->resize(length);
    in.seekg(static_cast<std::streamoff>(offset));
    if (!in.read(out->data(), static_cast<std::streamsize>(length))) {
      return RemoteResult{RemoteResult::kLocalError, "cannot read " + file.string() + " to upload it"};
    }
    return RemoteResult{};
  });
}

RemoteResult GhaRemote::store(const std::string& key, std::uint64_t size, const BlockReader& read) {
  const std::string entry_key = entry_key_for(key);
  if (entry_key.empty()) return {RemoteResult::kRejected, key + ": gha:// holds packs only"};
  const nlohmann::json create = {{"key", entry_key}, {"version", version_}};
  const Answer created = call("CreateCacheEntry", create.dump());
  // Packs are named by their hash: one already there is this one.
  if (created.status == 409 && key.starts_with("cas/")) return {};
  if (created.status != 200 || !created.failure.ok()) return created.failure;
  if (!created.body.value("ok", false)) {
    return {RemoteResult::kRejected, "CreateCacheEntry refused " + entry_key + ": " +
                                         created.body.value("message", std::string("no reason given"))};
  }
  const std::string url = created.body.value("signed_upload_url", std::string());
  if (RemoteResult sent = upload(entry_key, url, size, read); !sent.ok()) return sent;
  const nlohmann::json finalize = {
      {"key", entry_key}, {"size_bytes", size}, {"version", version_}};
  const Answer finalized = call("FinalizeCacheEntryUpload", finalize.dump());
  if (finalized.status != 200 || !finalized.failure.ok()) return finalized.failure;
  if (!finalized.body.value("ok", false)) {
    return {RemoteResult::kRejected, "FinalizeCacheEntryUpload refused " + entry_key + ": " +
                                         finalized.body.value("message", std::string("no reason given"))};
  }
  return {};
}

RemoteResult GhaRemote::upload(const std::string& entry_key, const std::string& url, std::uint64_t size,
                               const BlockReader& read) {
  const auto blob = split_blob_url(url);
  if (!blob) return RemoteResult::failed("CreateCacheEntry for " + entry_key + ": no usable upload URL");
  std::string bytes;
  if (size <= kBlockSize) {  // Put Blob: one request
    if (RemoteResult r = read(0, size, &bytes); !r.ok()) return r;
    return blob_remote(*blob, config_, "", {"x-ms-blob-type: BlockBlob"}).store_bytes(blob->name, bytes);
  }
  std::string block_list = R"(<?xml version="1.0" encoding="utf-8"?><BlockList>)";
  for (std::uint64_t offset = 0, number = 0; offset < size; offset += kBlockSize, ++number) {
    char name[32];
    std::snprintf(name, sizeof name, "gocachefs-block-%08llu", static_cast<unsigned long long>(number));
    const std::string id = base64::encode(name);  // Azure wants ids of one length, base64
    if (RemoteResult r = read(offset, std::min<std::uint64_t>(kBlockSize, size - offset), &bytes); !r.ok()) return r;
    RemoteResult sent = blob_remote(*blob, config_, "comp=block&blockid=" + percent_encoded(id))
                            .store_bytes(blob->name, bytes);
    if (!sent.ok()) return sent;
    block_list += "<Latest>" + id + "</Latest>";
  }
  block_list += "</BlockList>";
  return blob_remote(*blob, config_, "comp=blocklist", {"Content-Type: application/xml"})
      .store_bytes(blob->name, block_list);
}

}  // namespace gocachefs
