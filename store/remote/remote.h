// A remote store shared by a team or by CI jobs: one small interface, one
// class per backend, chosen by URL scheme (make_remote). Keys follow the
// bazel-remote layout, so existing cache servers work as they are:
//   cas/<64 hex of OutputID>   an object's bytes
//   ac/<64 hex of ActionID>    an action record (store/action_record.h)
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gocachefs {

struct RemoteResult {
  enum Status {
    kOk,
    kNotFound,      // the remote answered: it does not have the key
    kFailed,        // the remote could not answer (down, timeout, 5xx, garbage)
    kUnauthorized,  // credentials refused: retrying will not help
    kRejected,      // the remote answered and refuses this request for good (HTTP 4xx other than
                    // auth, 408 and 429: too large, bad request): retrying it will not help
    kLocalError,    // stopped on our side: the sink threw (our disk failed); says nothing of the remote
  };
  Status status = kOk;
  std::string error;  // for all but kOk and kNotFound; never holds secrets
  std::optional<std::uint64_t> length;  // exists(): the entry's length, when the remote says

  bool ok() const { return status == kOk; }
  static RemoteResult failed(std::string error) { return {kFailed, std::move(error)}; }
};

// Part of an entry: `length` bytes from `offset`.
struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// How an uploaded entry's bytes are encoded, told to servers that care
// (bazel-remote decompresses zstd entries for clients that do not ask for it).
struct StoredEncoding {
  bool zstd = false;
  std::uint64_t decoded_size = 0;  // the object's own size when zstd
};

// Receives fetched bytes as they arrive. Returning false aborts the fetch
// because the bytes are wrong (too many, garbage: the remote's fault, kFailed);
// a sink whose own side fails (the local disk) throws instead, and the fetch
// ends with kLocalError, which is not held against the remote. Exceptions
// never cross into the transport.
using RemoteSink = std::function<bool(const char* data, std::size_t size)>;

class Remote {
 public:
  virtual ~Remote() = default;

  // The whole entry, as stored.
  virtual RemoteResult fetch(const std::string& key, const RemoteSink& sink) = 0;
  // Part of an entry, for reading an object lazily; the sink gets at most
  // range.length bytes (fewer when the entry ends first).
  virtual RemoteResult fetch_range(const std::string& key, ByteRange range, const RemoteSink& sink) = 0;
  // Whether the entry is there now, without its bytes (HTTP HEAD): kOk or
  // kNotFound when the remote answered.
  virtual RemoteResult exists(const std::string& key) = 0;
  // Writes are atomic: readers see the old entry, or none, or all of the new.
  virtual RemoteResult store_bytes(const std::string& key, std::string_view bytes) = 0;
  virtual RemoteResult store_file(const std::string& key, const std::filesystem::path& file,
                                  StoredEncoding encoding) = 0;

  // The URL without credentials, for logs and messages.
  virtual std::string describe() const = 0;

  // A store of packs only (gha://: a service that takes a few entries per
  // job, not one per object): per-action records and objects are neither
  // asked for nor sent, and the packs carry every body (src/warming/).
  virtual bool holds_packs_only() const { return false; }
};

// Settings that are not part of the URL.
struct RemoteOptions {
  std::string bearer_token;                // Authorization: Bearer ...
  std::vector<std::string> extra_headers;  // "Name: value"
  long connect_timeout_ms = 3000;
  long request_timeout_ms = 60000;
};

// For whole packs (src/warming/): the same, with a request timeout that
// suits hundreds of MiB (stalls are still caught by the low-speed limit).
RemoteOptions bulk_remote_options(RemoteOptions options);

// file:///path, http(s)://host[:port][/prefix], s3://bucket[/prefix]?...,
// gha://[PREFIX] (store/remote/gha_remote.h). Throws std::invalid_argument for an unknown scheme or a malformed URL.
std::unique_ptr<Remote> make_remote(const std::string& url, const RemoteOptions& options);

// `url` with any user:password@ part and secret query values replaced by
// "REDACTED".
std::string redact_url(const std::string& url);

}  // namespace gocachefs
