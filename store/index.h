// The only code that speaks SQL. One SQLite database per store (WAL mode, a
// busy timeout) shared by every gocachefs process working on that store.
//
//   actions:  ActionID -> OutputID, size, put time
//   objects:  OutputID -> size, last use
//   counters: lifetime hits, misses, puts, ...
//   uploads:  actions waiting to be sent to the remote (a durable queue:
//             a process that is killed leaves them to the next one)
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/ids.h"

struct sqlite3;
struct sqlite3_stmt;

namespace gocachefs {

// Objects' last use is recorded at most this often: enough to evict the
// least recently used, and a busy build does not rewrite every row.
constexpr std::int64_t kLastUseGranularityNs = 3600LL * 1000 * 1000 * 1000;

struct ActionEntry {
  Id output_id{};
  std::uint64_t size = 0;
  std::int64_t put_time_ns = 0;   // nanoseconds since the Unix epoch
  std::int64_t last_used_ns = 0;  // of the object; filled in by lookup()
};

struct IndexTotals {
  std::uint64_t actions = 0;
  std::uint64_t objects = 0;
  std::uint64_t object_bytes = 0;
  std::map<std::string, std::int64_t> counters;
  std::uint64_t pending_uploads = 0;
};

class IndexError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Index {
 public:
  explicit Index(const std::filesystem::path& db_path);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  std::optional<ActionEntry> lookup(const Id& action_id);
  // Records the action; with `queue_upload` it is also queued for the remote,
  // in the same transaction.
  void record_put(const Id& action_id, const ActionEntry& entry, bool queue_upload = false);

  // The upload queue. claim_uploads() takes up to `limit` uploads whose
  // backoff ends by `due_by_ns` and that nobody holds at `now_ns`, and leases
  // them until `lease_until_ns`: a process that dies holding a lease only
  // delays them.
  std::vector<Id> claim_uploads(std::int64_t now_ns, std::int64_t due_by_ns, std::int64_t lease_until_ns, int limit);
  void finish_upload(const Id& action_id);
  void retry_upload_at(const Id& action_id, std::int64_t not_before_ns);
  // Attempts made so far for a queued upload (0 when not queued).
  int upload_attempts(const Id& action_id);
  std::uint64_t pending_uploads();
  // Marks objects as used at `now_ns`, unless marked within the granularity.
  void record_uses(const std::vector<Id>& output_ids, std::int64_t now_ns);
  std::optional<std::int64_t> last_used_ns(const Id& output_id);
  void add_to_counters(const std::map<std::string, std::int64_t>& deltas);
  IndexTotals totals();

 private:
  class Statement;
  void exec(const char* sql);
  template <typename Fn>
  void in_write_transaction(Fn&& fn);

  std::mutex mutex_;  // one connection, used by one thread at a time
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
  // Prepared once: the get and put paths run them thousands of times a build.
  std::unique_ptr<Statement> lookup_;
  std::unique_ptr<Statement> upsert_action_;
  std::unique_ptr<Statement> upsert_object_;
};

}  // namespace gocachefs
