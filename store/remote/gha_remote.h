// gha://[PREFIX]: the GitHub Actions cache, spoken as actions/toolkit's
// @actions/cache speaks its service v2. Three Twirp JSON calls at
// ACTIONS_RESULTS_URL with ACTIONS_RUNTIME_TOKEN (CreateCacheEntry,
// FinalizeCacheEntryUpload, GetCacheEntryDownloadURL), and the signed Azure
// blob URLs they return: Put Blob, or Put Block and Put Block List for what
// is larger than one block; GET, whole or by range.
//
// The service takes 200 uploads a minute per repository, keeps entries
// immutable and evicts them a week after their last use, so it holds packs
// only (src/warming/), never an entry per object:
//   cas/<hash of a pack>  ->  entry PREFIX-cas-<hash>, read by its exact key
//   ac/<hash of a key>    ->  a pointer; each one written is a new entry
//                             PREFIX-ac-<hash>-<time>-<random>, and reading
//                             asks for the prefix PREFIX-ac-<hash>-, which the
//                             service answers with the newest
// Other keys are refused (kRejected) without a request.
//
// Twirp calls are retried as the toolkit does: 5 attempts with a pause
// growing 1.5 times from 3 s, on 5xx and timeouts only. A refused
// connection is not retried (a cache that is not there costs one round
// trip), nor is a 429: the job's upload is dropped, not the build.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "store/remote/remote.h"

namespace gocachefs {

struct GhaConfig {
  std::string results_url;  // ACTIONS_RESULTS_URL
  std::string token;        // ACTIONS_RUNTIME_TOKEN: a secret, never in messages
  std::string prefix = "gocachefs";
  long connect_timeout_ms = 3000;
  long request_timeout_ms = 60000;
  std::chrono::milliseconds retry_pause{3000};  // before the second attempt
};

// From a gha://[PREFIX] URL and the environment. Throws std::invalid_argument
// when a variable is missing (GitHub gives them to actions only, not to
// `run:` steps: scripts/github-action exports them).
GhaConfig gha_config(const std::string& url, const RemoteOptions& options);

class GhaRemote : public Remote {
 public:
  explicit GhaRemote(GhaConfig config);

  RemoteResult fetch(const std::string& key, const RemoteSink& sink) override;
  RemoteResult fetch_range(const std::string& key, ByteRange range, const RemoteSink& sink) override;
  RemoteResult exists(const std::string& key) override;
  RemoteResult store_bytes(const std::string& key, std::string_view bytes) override;
  RemoteResult store_file(const std::string& key, const std::filesystem::path& file, StoredEncoding encoding) override;
  std::string describe() const override;
  bool holds_packs_only() const override { return true; }

  // The entry key a remote key is written under ("" for keys not stored here).
  std::string entry_key_for(const std::string& key) const;

 private:
  // A pack's entry name, or the prefix of every pointer entry written for
  // the key ("" for keys not stored here).
  std::string entry_name(const std::string& key) const;
  struct Answer;
  // One Twirp call, retried as the toolkit does.
  Answer call(const std::string& method, const std::string& body);
  // The signed download URL of the entry that holds `key` now.
  RemoteResult download_url(const std::string& key, std::string* url, bool fresh = false);
  // A GET of the entry (whole or a range), asking for a fresh URL once when
  // the signed one is refused (it expired).
  RemoteResult get(const std::string& key, const ByteRange* range, const RemoteSink& sink);
  // Create, upload `size` bytes that `read(offset, length, out)` supplies, finalize.
  using BlockReader = std::function<RemoteResult(std::uint64_t offset, std::size_t length, std::string* out)>;
  RemoteResult store(const std::string& key, std::uint64_t size, const BlockReader& read);
  RemoteResult upload(const std::string& entry_key, const std::string& url, std::uint64_t size,
                      const BlockReader& read);

  GhaConfig config_;
  std::string version_;  // of every entry we write and read: the service matches on it
  std::mutex urls_mutex_;
  std::map<std::string, std::string> pack_urls_;  // cas/ keys are immutable: their URLs are kept
};

}  // namespace gocachefs
