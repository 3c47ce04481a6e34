// The only code that speaks SQL. One SQLite database per store (WAL mode, a
// busy timeout) shared by every gocachefs process working on that store.
//
//   actions:  ActionID -> OutputID, size, put time
//   objects:  OutputID -> size, last use, the file's stamp when written
//   counters: lifetime hits, misses, puts, ...
//   uploads:  actions waiting to be sent to the remote (a durable queue:
//             a process that is killed leaves them to the next one)
//   pack_journal, pack_jobs, packs, pack_members, lazy_objects: warming (src/warming/): what this job
//             used per pack key, and the packs this store knows
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/types.h>

#include "store/ids.h"
#include "store/object_store.h"

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
  std::int64_t mtime_ns = 0;      // the object file's stamp when it was written
  std::int64_t ctime_ns = 0;      // (0: not known, as in stores from before v3)

  ObjectStamp stamp() const { return {size, mtime_ns, ctime_ns}; }
  void set_stamp(const ObjectStamp& s) {
    mtime_ns = s.mtime_ns;
    ctime_ns = s.ctime_ns;
  }
};

struct IndexTotals {
  std::uint64_t actions = 0;
  std::uint64_t objects = 0;
  std::uint64_t object_bytes = 0;
  std::map<std::string, std::int64_t> counters;
  std::uint64_t pending_uploads = 0;
};

// An action a job used, for its pack (src/warming/).
struct JournalEntry {
  Id action_id{};
  Id output_id{};
  std::uint64_t size = 0;
  std::int64_t put_time_ns = 0;
  bool miss = false;  // asked for, found nowhere (until a put of the job turns it into a hit)
};

// An indexed object, for trim and verify.
struct IndexedObject {
  Id output_id{};
  std::int64_t last_used_ns = 0;
  ObjectStamp stamp;  // its size, and the file's stamp when written
};

struct KnownPack {
  Id id{};
  std::uint64_t size = 0;
  std::uint64_t actions = 0;
  bool complete = false;  // all of its objects were stored here
};

class IndexError : public std::runtime_error {
 public:
  IndexError(const std::string& message, int sqlite_code) : std::runtime_error(message), sqlite_code(sqlite_code) {}
  int sqlite_code;  // SQLITE_CORRUPT, SQLITE_BUSY, ...
};

struct IndexOptions {
  // Opens the database for reading only (a store on a read-only volume);
  // the write methods then throw.
  bool read_only = false;
  // Told, once per repair, when a damaged database was moved aside and
  // replaced by an empty one (its one line for the user's terminal).
  std::function<void(const std::string& message)> on_repair;
};

// A damaged database (SQLite says so, or quick_check does when another error
// appears) is moved aside to <db>.damaged and replaced by an empty one, once
// per damage however many processes notice it, and the operation runs again:
// a cache may forget, but must never stop a build. Objects stay on disk and
// are found again as builds put them.
class Index {
 public:
  explicit Index(const std::filesystem::path& db_path, IndexOptions options = {});
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  std::optional<ActionEntry> lookup(const Id& action_id);
  // Records the action; with `queue_upload` it is also queued for the remote,
  // in the same transaction, unless the action names that object already
  // (then the remote has it: it came from there, or went or goes there).
  // The entry's stamp is recorded for its object.
  void record_put(const Id& action_id, const ActionEntry& entry, bool queue_upload = false);
  // The stamp recorded for an object, if it is indexed.
  std::optional<ObjectStamp> object_stamp(const Id& output_id);
  // Records a new stamp for an object whose bytes were checked again.
  void record_stamp(const Id& output_id, const ObjectStamp& stamp);

  // The upload queue. claim_uploads() takes up to `limit` uploads whose
  // backoff ends by `due_by_ns` and that nobody holds at `now_ns`, and leases
  // them until `lease_until_ns`: a process that dies holding a lease only
  // delays them.
  std::vector<Id> claim_uploads(std::int64_t now_ns, std::int64_t due_by_ns, std::int64_t lease_until_ns, int limit);
  void finish_upload(const Id& action_id);
  // Counts a failed attempt and gives the lease back, for a retry once
  // `not_before_ns` has passed.
  void retry_upload_at(const Id& action_id, std::int64_t not_before_ns);
  // Gives the lease back without counting an attempt (it was not tried).
  void release_upload(const Id& action_id);
  // Attempts made so far for a queued upload (0 when not queued).
  int upload_attempts(const Id& action_id);
  std::uint64_t pending_uploads();
  // Those of `action_ids` still in the upload queue.
  std::vector<Id> still_queued(const std::vector<Id>& action_ids);
  // Marks objects as used at `now_ns`, unless marked within the granularity.
  // An object in the trash gets its row back.
  void record_uses(const std::vector<Id>& output_ids, std::int64_t now_ns);
  std::optional<std::int64_t> last_used_ns(const Id& output_id);
  void add_to_counters(const std::map<std::string, std::int64_t>& deltas);
  IndexTotals totals();
  // Warming. journal_uses() adds to the key's journal the actions it does
  // not hold yet (the first use counts; a miss becomes what was put after it), after clearing it when the key's
  // job has been idle for `job_gap_ns`: a new job. Returns how many pack
  // members were used for the first time.
  std::uint64_t journal_uses(const std::string& key, const std::vector<JournalEntry>& entries, std::int64_t now_ns,
                    std::int64_t job_gap_ns);
  std::vector<JournalEntry> journal(const std::string& key);  // in first-use order
  // The actions a pack holds, recorded once by whoever reads or writes it
  // (then `used`: its writer used them all), and for each whether the pack
  // holds its object's body (`body`) or holds it as a known miss (`miss`),
  // both in step with `action_ids` (none when empty); returns how many were new.
  std::uint64_t record_pack_members(const Id& pack_id, const std::vector<Id>& action_ids, bool used = false,
                                    const std::vector<bool>& body = {}, const std::vector<bool>& miss = {});
  std::vector<Id> pack_members(const Id& pack_id, bool with_body_only = false);
  std::vector<Id> pack_misses(const Id& pack_id);  // members the pack holds as known misses
  // Objects the lazy mount answered (`served`) and read beyond their head
  // (`read`): a job's pack carries only the head of those never read.
  void record_lazy_objects(const std::vector<Id>& served, const std::vector<Id>& read);
  // Those of `output_ids` that the mount answered and nobody read beyond the head.
  std::set<Id> lazy_objects_unread(const std::vector<Id>& output_ids);
  // The key's pointer as this store last read or wrote it ("" if never).
  std::string job_pointer(const std::string& key);
  void set_job_pointer(const std::string& key, const std::string& pointer, std::int64_t now_ns);
  void record_pack(const KnownPack& pack);  // `complete` is never taken back
  std::optional<KnownPack> known_pack(const Id& pack_id);

  // Maintenance (store/trim.h, store/verify.h, store/clean.h).
  // Every indexed object, least recently used first.
  std::vector<IndexedObject> objects_by_last_use();
  // Drops objects from the index with the actions that name them, in one
  // transaction, and lists them in the trash until their files are removed
  // (take_trash): a process killed in between leaves no row without its
  // file. Objects used at or after `unless_used_since_ns`, and those with an
  // upload queued, are kept unless `even_queued` (a damaged object: its
  // upload goes too). Returns those dropped.
  std::vector<IndexedObject> drop_objects(const std::vector<Id>& output_ids, std::int64_t unless_used_since_ns,
                                          bool even_queued = false);
  // Drops the actions that name these objects (which have no row).
  void drop_actions_naming(const std::vector<Id>& output_ids);
  // Drops everything the store holds (actions, objects, the upload queue and
  // the warming tables; the counters stay), listing the objects in the
  // trash; those used at or after `defer_used_since_ns` as if dropped an
  // hour from now (a running go command may still read them).
  std::uint64_t drop_everything(std::int64_t defer_used_since_ns);
  // The objects trashed before `dropped_before_ns` that have no row again (a
  // put or a late use may have brought one back), cleared from the trash:
  // their files are the caller's to remove.
  std::vector<Id> take_trash(std::int64_t dropped_before_ns);
  // The same for these objects only, whenever they were trashed.
  std::vector<Id> take_trash(const std::vector<Id>& output_ids);
  // Whether the object has a row; with `or_trashed`, also whether it waits
  // in the trash (its file is not an orphan).
  bool has_object(const Id& output_id, bool or_trashed = false);
  // Adds the row of an object that actions name but that has none (a
  // repair by `gocachefs verify`).
  void restore_object(const Id& output_id, const ObjectStamp& stamp, std::int64_t last_used_ns);
  // The objects that actions name but that have no row.
  std::vector<Id> objects_missing_rows();
  // PRAGMA quick_check: "ok", or what SQLite found.
  std::string quick_check();

  // How many times this process replaced a damaged database.
  int repairs() const { return repairs_; }

 private:
  class Statement;
  void open_connection();
  void close_connection();
  void exec(const char* sql);
  template <typename Fn>
  void in_write_transaction(Fn&& fn);
  template <typename Fn>
  auto with_repair(Fn&& fn) -> decltype(fn());
  bool is_damaged(const IndexError& error);
  void replace_damaged(const std::string& reason);

  std::mutex mutex_;  // one connection, used by one thread at a time
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
  IndexOptions options_;
  ino_t opened_inode_ = 0;  // tells whether another process already replaced the file
  int repairs_ = 0;
  // Prepared once: the get and put paths run them thousands of times a build.
  std::unique_ptr<Statement> lookup_;
  std::unique_ptr<Statement> upsert_action_;
  std::unique_ptr<Statement> upsert_object_;
};

}  // namespace gocachefs
