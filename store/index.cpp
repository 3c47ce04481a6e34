#include "store/index.h"

#include "store/sqlite_uri.h"

#include <sqlite3.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

namespace gocachefs {

namespace {

// Other gocachefs processes may hold the write lock while they commit; they
// hold it for microseconds, so waiting this long means something is wrong.
constexpr int kBusyTimeoutMs = 10000;
// v3: objects record their file's stamp (mtime, ctime) when written.
// v4: the warming tables (pack_journal, pack_jobs, packs).
// v5: trim and verify: actions by object, and the dropped objects' trash.
constexpr int kSchemaVersion = 5;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS actions (
  action_id   BLOB PRIMARY KEY,
  output_id   BLOB NOT NULL,
  size        INTEGER NOT NULL,
  put_time_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
  output_id    BLOB PRIMARY KEY,
  size         INTEGER NOT NULL,
  last_used_ns INTEGER NOT NULL,
  mtime_ns     INTEGER NOT NULL DEFAULT 0,
  ctime_ns     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS actions_by_output ON actions (output_id);
CREATE TABLE IF NOT EXISTS trash (  -- objects dropped from the index whose files may still be there
  output_id  BLOB PRIMARY KEY,
  dropped_ns INTEGER NOT NULL,
  size       INTEGER NOT NULL,
  mtime_ns   INTEGER NOT NULL,
  ctime_ns   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
  action_id        BLOB PRIMARY KEY,
  attempts         INTEGER NOT NULL DEFAULT 0,
  not_before_ns    INTEGER NOT NULL,            -- backoff after a failure
  leased_until_ns  INTEGER NOT NULL DEFAULT 0   -- an uploader is on it
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pack_journal (  -- what this job used, per pack key
  key         TEXT NOT NULL,
  action_id   BLOB NOT NULL,
  seq         INTEGER NOT NULL,            -- first-use order
  output_id   BLOB NOT NULL,
  size        INTEGER NOT NULL,
  put_time_ns INTEGER NOT NULL,
  miss        INTEGER NOT NULL DEFAULT 0,  -- asked for and found nowhere
  PRIMARY KEY (key, action_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pack_jobs (
  key      TEXT PRIMARY KEY,
  last_ns  INTEGER NOT NULL,              -- the job's last use: a long pause starts a new job
  pointer  TEXT NOT NULL DEFAULT ''       -- the key's pointer as this store last saw it
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS packs (
  pack_id  BLOB PRIMARY KEY,
  size     INTEGER NOT NULL,
  actions  INTEGER NOT NULL,
  complete INTEGER NOT NULL DEFAULT 0     -- all of its objects are stored here
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pack_members (  -- the actions a known pack holds
  pack_id   BLOB NOT NULL,
  action_id BLOB NOT NULL,
  used      INTEGER NOT NULL DEFAULT 0,  -- a get of this store asked for it
  body      INTEGER NOT NULL DEFAULT 0,  -- 1: the pack holds its object's whole bytes beyond a head;
                                         -- 2: it holds a known miss
  PRIMARY KEY (pack_id, action_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pack_members_by_action ON pack_members (action_id);
CREATE TABLE IF NOT EXISTS lazy_objects (  -- objects answered in the lazy mount
  output_id BLOB PRIMARY KEY,
  read      INTEGER NOT NULL DEFAULT 0     -- and read beyond their head
) WITHOUT ROWID;
)sql";

// An older store gains the stamp columns; its objects are re-hashed once, on
// their next hit, and their stamps recorded then.
constexpr const char* kMigrateToV3 =
    "ALTER TABLE objects ADD COLUMN mtime_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE objects ADD COLUMN ctime_ns INTEGER NOT NULL DEFAULT 0;";

constexpr const char* kLookup =
    "SELECT a.output_id, a.size, a.put_time_ns, coalesce(o.last_used_ns, 0), coalesce(o.mtime_ns, 0), "
    "coalesce(o.ctime_ns, 0) FROM actions a LEFT JOIN objects o ON o.output_id = a.output_id WHERE a.action_id = ?";
// The same for a read-only store of an older version, which cannot gain the
// columns: its objects are re-hashed before they are served.
constexpr const char* kLookupV2 =
    "SELECT a.output_id, a.size, a.put_time_ns, coalesce(o.last_used_ns, 0), 0, 0 "
    "FROM actions a LEFT JOIN objects o ON o.output_id = a.output_id WHERE a.action_id = ?";

std::int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}


}  // namespace

// A prepared statement, reset after use so that it can be prepared once per
// call without leaking locks.
class Index::Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail("preparing");
  }
  ~Statement() { sqlite3_finalize(stmt_); }

  Statement& bind(int i, const Id& id) {
    sqlite3_bind_blob(stmt_, i, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
    return *this;
  }
  // True when a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail("running");
    return false;
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  void run() {
    try {
      step();
    } catch (...) {
      reset();
      throw;
    }
    reset();
  }
  std::int64_t int64(int col) { return sqlite3_column_int64(stmt_, col); }
  std::optional<Id> id(int col) {
    Id id{};
    if (sqlite3_column_bytes(stmt_, col) != static_cast<int>(id.size())) return std::nullopt;
    std::memcpy(id.data(), sqlite3_column_blob(stmt_, col), id.size());
    return id;
  }
  std::string text(int col) { return reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col)); }

 private:
  [[noreturn]] void fail(const char* what) {
    throw IndexError(std::string("SQLite error ") + what + " statement: " + sqlite3_errmsg(db_),
                     sqlite3_errcode(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

Index::Index(const std::filesystem::path& db_path, IndexOptions options)
    : path_(db_path), options_(std::move(options)) {
  try {
    open_connection();
  } catch (const IndexError& e) {
    if (options_.read_only || !is_damaged(e)) {
      close_connection();
      throw;
    }
    replace_damaged(e.what());
  }
}

Index::~Index() { close_connection(); }

void Index::open_connection() {
  if (options_.read_only) {
    // mode=ro needs the -shm file or a directory to create it in; a store on
    // a read-only volume has neither, and nobody can change it there, which
    // is what immutable=1 promises SQLite.
    for (const char* query : {"?mode=ro", "?immutable=1"}) {
      close_connection();
      const std::string uri = sqlite_uri(path_) + query;
      if (sqlite3_open_v2(uri.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                          nullptr) != SQLITE_OK) {
        continue;
      }
      try {
        exec("SELECT count(*) FROM sqlite_schema");
        break;
      } catch (const IndexError&) {
        if (query[1] == 'i') throw;
      }
    }
    if (!db_) throw IndexError("cannot open index " + path_.string() + " for reading", SQLITE_CANTOPEN);
  } else {
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
      const int code = db_ ? sqlite3_errcode(db_) : SQLITE_NOMEM;
      close_connection();
      throw IndexError("cannot open index " + path_.string() + ": " + message, code);
    }
  }
  struct stat st {};
  opened_inode_ = ::stat(path_.c_str(), &st) == 0 ? st.st_ino : 0;
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  std::int64_t version = 0;
  if (!options_.read_only) {
    // Switching to WAL needs a moment alone with the database, which the busy
    // handler does not wait for; another process starting at the same time
    // makes it fail with SQLITE_BUSY, so retry briefly.
    for (int attempt = 0;; ++attempt) {
      try {
        exec("PRAGMA journal_mode=WAL");
        break;
      } catch (const IndexError& e) {
        if (e.sqlite_code != SQLITE_BUSY || attempt == 200) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    // A crash may lose the last transactions but never corrupts the database:
    // right for a cache, and it saves an fsync per put.
    exec("PRAGMA synchronous=NORMAL");
  }
  {
    Statement select(db_, "PRAGMA user_version");
    if (select.step()) version = select.int64(0);
  }
  // Creating the schema takes the write lock: only do it for a new store.
  if (version < kSchemaVersion && !options_.read_only) {
    in_write_transaction([&] {
      Statement again(db_, "PRAGMA user_version");  // another process may have just done it
      const std::int64_t now = again.step() ? again.int64(0) : 0;
      if (now > 0 && now < 3) exec(kMigrateToV3);
      if (now < kSchemaVersion) {
        exec(kSchema);
        exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
      }
    });
    version = kSchemaVersion;
  }
  lookup_ = std::make_unique<Statement>(db_, version >= 3 ? kLookup : kLookupV2);
  if (options_.read_only) return;
  upsert_action_ = std::make_unique<Statement>(
      db_,
      "INSERT INTO actions (action_id, output_id, size, put_time_ns) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (action_id) DO UPDATE SET output_id = excluded.output_id, "
      "size = excluded.size, put_time_ns = excluded.put_time_ns");
  upsert_object_ = std::make_unique<Statement>(
      db_,
      "INSERT INTO objects (output_id, size, last_used_ns, mtime_ns, ctime_ns) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT (output_id) DO UPDATE SET size = excluded.size, last_used_ns = excluded.last_used_ns, "
      "mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns");
}

void Index::close_connection() {
  // Statements must be finalised before the connection closes.
  lookup_.reset();
  upsert_action_.reset();
  upsert_object_.reset();
  sqlite3_close(db_);
  db_ = nullptr;
}

bool Index::is_damaged(const IndexError& error) {
  switch (error.sqlite_code & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return true;
    // Not the database's fault: a busy peer, a full disk, a read-only file.
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_INTERRUPT:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return false;
  }
  if (!db_) return false;
  // Anything else may or may not be damage: ask SQLite.
  try {
    Statement check(db_, "PRAGMA quick_check(1)");
    return !check.step() || check.text(0) != "ok";
  } catch (const IndexError& e) {
    const int code = e.sqlite_code & 0xff;
    return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
  }
}

void Index::replace_damaged(const std::string& reason) {
  // One repair at a time across processes: the second to notice finds the
  // file already replaced and only reopens.
  const std::string lock_path = path_.string() + ".repair-lock";
  const int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd >= 0) flock(lock_fd, LOCK_EX);
  struct stat st {};
  const bool still_ours = ::stat(path_.c_str(), &st) == 0 && st.st_ino == opened_inode_;
  close_connection();
  if (still_ours) {
    const std::string aside = path_.string() + ".damaged";
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const std::string from = path_.string() + suffix;
      const std::string to = aside + suffix;
      if (std::rename(from.c_str(), to.c_str()) != 0) std::remove(to.c_str());
    }
    ++repairs_;
    if (options_.on_repair) {
      options_.on_repair("the index " + path_.string() + " was damaged (" + reason + "); moved it to " + aside +
                         " and started a new one. Cached objects are kept and are found again as builds put them");
    }
  }
  try {
    open_connection();
  } catch (...) {
    if (lock_fd >= 0) close(lock_fd);
    throw;
  }
  if (lock_fd >= 0) close(lock_fd);
}

// Runs `fn`; when SQLite reports damage, replaces the database and runs it
// once more. Called with mutex_ held.
template <typename Fn>
auto Index::with_repair(Fn&& fn) -> decltype(fn()) {
  try {
    if (!db_) open_connection();  // a repair that failed to reopen
    return fn();
  } catch (const IndexError& e) {
    if (options_.read_only || !is_damaged(e)) throw;
    replace_damaged(e.what());
  }
  return fn();
}

void Index::exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errmsg(db_);
    sqlite3_free(error);
    throw IndexError("SQLite error on " + path_.string() + ": " + message, sqlite3_errcode(db_));
  }
}

// BEGIN IMMEDIATE takes the write lock up front (waiting under the busy
// timeout), so two processes never deadlock upgrading read locks.
template <typename Fn>
void Index::in_write_transaction(Fn&& fn) {
  exec("BEGIN IMMEDIATE");
  try {
    fn();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::optional<ActionEntry> Index::lookup(const Id& action_id) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    Statement& select = *lookup_;
    select.bind(1, action_id);
    std::optional<ActionEntry> entry;
    try {
      if (select.step()) {
        if (const auto output_id = select.id(0)) {
          entry = ActionEntry{*output_id,       static_cast<std::uint64_t>(select.int64(1)),
                              select.int64(2),  select.int64(3),
                              select.int64(4),  select.int64(5)};
        }
      }
    } catch (...) {
      select.reset();
      throw;
    }
    select.reset();
    return entry;
  });
}

void Index::record_put(const Id& action_id, const ActionEntry& entry, bool queue_upload) {
  std::lock_guard lock(mutex_);
  with_repair([&] {
    in_write_transaction([&] {
      // Before the action is written: a put of what the action already names
      // is on the remote (its row came from there, or its own upload is
      // queued or done) and is not sent again. cmd/go puts every link's
      // "link-stdout" after the link, hit or not: a warmed job would send
      // them all anew.
      if (queue_upload) {
        Statement(db_,
                  "INSERT INTO uploads (action_id, not_before_ns) SELECT ?1, 0 WHERE NOT EXISTS "
                  "(SELECT 1 FROM actions WHERE action_id = ?1 AND output_id = ?2 AND size = ?3) "
                  "ON CONFLICT (action_id) DO UPDATE SET attempts = 0, not_before_ns = 0, leased_until_ns = 0")
            .bind(1, action_id)
            .bind(2, entry.output_id)
            .bind(3, static_cast<std::int64_t>(entry.size))
            .run();
      }
      upsert_action_->bind(1, action_id)
          .bind(2, entry.output_id)
          .bind(3, static_cast<std::int64_t>(entry.size))
          .bind(4, entry.put_time_ns)
          .run();
      // Last use is local: a fetched object's record carries the remote's
      // (older) put time, which would make it the first to be trimmed.
      upsert_object_->bind(1, entry.output_id)
          .bind(2, static_cast<std::int64_t>(entry.size))
          .bind(3, std::max(entry.put_time_ns, entry.last_used_ns))
          .bind(4, entry.mtime_ns)
          .bind(5, entry.ctime_ns)
          .run();
    });
  });
}

std::optional<ObjectStamp> Index::object_stamp(const Id& output_id) {
  std::lock_guard lock(mutex_);
  return with_repair([&]() -> std::optional<ObjectStamp> {
    Statement select(db_, "SELECT size, mtime_ns, ctime_ns FROM objects WHERE output_id = ?");
    select.bind(1, output_id);
    if (!select.step()) return std::nullopt;
    return ObjectStamp{static_cast<std::uint64_t>(select.int64(0)), select.int64(1), select.int64(2)};
  });
}

void Index::record_stamp(const Id& output_id, const ObjectStamp& stamp) {
  std::lock_guard lock(mutex_);
  with_repair([&] {
    Statement(db_, "UPDATE objects SET mtime_ns = ?, ctime_ns = ? WHERE output_id = ? AND size = ?")
        .bind(1, stamp.mtime_ns)
        .bind(2, stamp.ctime_ns)
        .bind(3, output_id)
        .bind(4, static_cast<std::int64_t>(stamp.size))
        .run();
  });
}

std::vector<Id> Index::claim_uploads(std::int64_t now_ns, std::int64_t due_by_ns, std::int64_t lease_until_ns,
                                     int limit) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::vector<Id> claimed;
    in_write_transaction([&] {
      Statement claim(db_,
                      "UPDATE uploads SET leased_until_ns = ? WHERE action_id IN "
                      "(SELECT action_id FROM uploads WHERE not_before_ns <= ? AND leased_until_ns <= ? "
                      "ORDER BY not_before_ns LIMIT ?) RETURNING action_id");
      claim.bind(1, lease_until_ns).bind(2, due_by_ns).bind(3, now_ns).bind(4, std::int64_t{limit});
      while (claim.step()) {
        if (auto id = claim.id(0)) claimed.push_back(*id);
      }
    });
    return claimed;
  });
}

void Index::finish_upload(const Id& action_id) {
  std::lock_guard lock(mutex_);
  with_repair([&] { Statement(db_, "DELETE FROM uploads WHERE action_id = ?").bind(1, action_id).run(); });
}

void Index::retry_upload_at(const Id& action_id, std::int64_t not_before_ns) {
  std::lock_guard lock(mutex_);
  with_repair([&] {
    Statement(db_,
              "UPDATE uploads SET attempts = attempts + 1, not_before_ns = ?, leased_until_ns = 0 WHERE action_id = ?")
        .bind(1, not_before_ns)
        .bind(2, action_id)
        .run();
  });
}

void Index::release_upload(const Id& action_id) {
  std::lock_guard lock(mutex_);
  with_repair([&] {
    Statement(db_, "UPDATE uploads SET leased_until_ns = 0 WHERE action_id = ?").bind(1, action_id).run();
  });
}

int Index::upload_attempts(const Id& action_id) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    Statement select(db_, "SELECT attempts FROM uploads WHERE action_id = ?");
    select.bind(1, action_id);
    return select.step() ? static_cast<int>(select.int64(0)) : 0;
  });
}

std::uint64_t Index::pending_uploads() {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    Statement count(db_, "SELECT count(*) FROM uploads");
    return count.step() ? static_cast<std::uint64_t>(count.int64(0)) : 0;
  });
}

std::vector<Id> Index::still_queued(const std::vector<Id>& action_ids) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::vector<Id> queued;
    Statement select(db_, "SELECT 1 FROM uploads WHERE action_id = ?");
    for (const Id& id : action_ids) {
      select.bind(1, id);
      const bool found = select.step();
      select.reset();
      if (found) queued.push_back(id);
    }
    return queued;
  });
}

void Index::record_uses(const std::vector<Id>& output_ids, std::int64_t now_ns) {
  if (output_ids.empty()) return;
  std::lock_guard lock(mutex_);
  with_repair([&] {
    in_write_transaction([&] {
      Statement update(db_, "UPDATE objects SET last_used_ns = ? WHERE output_id = ? AND last_used_ns < ?");
      // A trim may have dropped the object between this process's hit and
      // now: its row comes back, and its file stays (store/eviction.h).
      Statement restore(db_,
                        "INSERT OR IGNORE INTO objects (output_id, size, last_used_ns, mtime_ns, ctime_ns) "
                        "SELECT output_id, size, ?, mtime_ns, ctime_ns FROM trash WHERE output_id = ?");
      Statement untrash(db_, "DELETE FROM trash WHERE output_id = ?");
      for (const Id& id : output_ids) {
        update.bind(1, now_ns).bind(2, id).bind(3, now_ns - kLastUseGranularityNs).run();
        if (sqlite3_changes(db_) > 0) continue;
        restore.bind(1, now_ns).bind(2, id).run();
        if (sqlite3_changes(db_) > 0) untrash.bind(1, id).run();
      }
    });
  });
}

std::optional<std::int64_t> Index::last_used_ns(const Id& output_id) {
  std::lock_guard lock(mutex_);
  return with_repair([&]() -> std::optional<std::int64_t> {
    Statement select(db_, "SELECT last_used_ns FROM objects WHERE output_id = ?");
    select.bind(1, output_id);
    if (!select.step()) return std::nullopt;
    return select.int64(0);
  });
}

void Index::add_to_counters(const std::map<std::string, std::int64_t>& deltas) {
  if (std::all_of(deltas.begin(), deltas.end(), [](const auto& d) { return d.second == 0; })) return;
  std::lock_guard lock(mutex_);
  with_repair([&] {
    in_write_transaction([&] {
      Statement upsert(db_,
                       "INSERT INTO counters (name, value) VALUES (?, ?) "
                       "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value");
      for (const auto& [name, delta] : deltas) upsert.bind(1, name).bind(2, delta).run();
    });
  });
}

IndexTotals Index::totals() {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    IndexTotals totals;
    Statement actions(db_, "SELECT count(*) FROM actions");
    if (actions.step()) totals.actions = static_cast<std::uint64_t>(actions.int64(0));
    Statement objects(db_, "SELECT count(*), coalesce(sum(size), 0) FROM objects");
    if (objects.step()) {
      totals.objects = static_cast<std::uint64_t>(objects.int64(0));
      totals.object_bytes = static_cast<std::uint64_t>(objects.int64(1));
    }
    Statement counters(db_, "SELECT name, value FROM counters ORDER BY name");
    while (counters.step()) totals.counters[counters.text(0)] = counters.int64(1);
    Statement uploads(db_, "SELECT count(*) FROM uploads");
    if (uploads.step()) totals.pending_uploads = static_cast<std::uint64_t>(uploads.int64(0));
    return totals;
  });
}

std::vector<IndexedObject> Index::objects_by_last_use() {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::vector<IndexedObject> objects;
    Statement select(db_, "SELECT output_id, size, last_used_ns, mtime_ns, ctime_ns FROM objects ORDER BY last_used_ns");
    while (select.step()) {
      if (const auto id = select.id(0)) {
        objects.push_back({*id, select.int64(2),
                           ObjectStamp{static_cast<std::uint64_t>(select.int64(1)), select.int64(3), select.int64(4)}});
      }
    }
    return objects;
  });
}

std::vector<IndexedObject> Index::drop_objects(const std::vector<Id>& output_ids, std::int64_t unless_used_since_ns,
                                               bool even_queued) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::vector<IndexedObject> dropped;
    in_write_transaction([&] {
      // Checked again here, inside the write lock: a go command may have used
      // the object since the caller chose it.
      Statement drop(db_,
                     "DELETE FROM objects WHERE output_id = ?1 AND last_used_ns < ?2 AND (?3 OR NOT EXISTS "
                     "(SELECT 1 FROM actions a JOIN uploads u ON u.action_id = a.action_id WHERE a.output_id = ?1)) "
                     "RETURNING size, last_used_ns, mtime_ns, ctime_ns");
      Statement drop_uploads(
          db_, "DELETE FROM uploads WHERE action_id IN (SELECT action_id FROM actions WHERE output_id = ?)");
      Statement drop_actions(db_, "DELETE FROM actions WHERE output_id = ?");
      Statement trash(db_,
                      "INSERT OR REPLACE INTO trash (output_id, dropped_ns, size, mtime_ns, ctime_ns) "
                      "VALUES (?, ?, ?, ?, ?)");
      for (const Id& id : output_ids) {
        drop.bind(1, id).bind(2, unless_used_since_ns).bind(3, std::int64_t{even_queued});
        std::optional<IndexedObject> object;
        try {
          if (drop.step()) {
            object = IndexedObject{id, drop.int64(1),
                                   ObjectStamp{static_cast<std::uint64_t>(drop.int64(0)), drop.int64(2), drop.int64(3)}};
          }
          while (drop.step()) {
          }
        } catch (...) {
          drop.reset();
          throw;
        }
        drop.reset();
        if (!object) continue;
        if (even_queued) drop_uploads.bind(1, id).run();
        drop_actions.bind(1, id).run();
        trash.bind(1, id)
            .bind(2, wall_clock_ns())
            .bind(3, static_cast<std::int64_t>(object->stamp.size))
            .bind(4, object->stamp.mtime_ns)
            .bind(5, object->stamp.ctime_ns)
            .run();
        dropped.push_back(*object);
      }
    });
    return dropped;
  });
}

void Index::drop_actions_naming(const std::vector<Id>& output_ids) {
  if (output_ids.empty()) return;
  std::lock_guard lock(mutex_);
  with_repair([&] {
    in_write_transaction([&] {
      Statement drop_uploads(
          db_, "DELETE FROM uploads WHERE action_id IN (SELECT action_id FROM actions WHERE output_id = ?)");
      Statement drop(db_, "DELETE FROM actions WHERE output_id = ?");
      for (const Id& id : output_ids) {
        drop_uploads.bind(1, id).run();
        drop.bind(1, id).run();
      }
    });
  });
}

std::uint64_t Index::drop_everything(std::int64_t defer_used_since_ns) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::uint64_t objects = 0;
    in_write_transaction([&] {
      Statement count(db_, "SELECT count(*) FROM objects");
      if (count.step()) objects = static_cast<std::uint64_t>(count.int64(0));
      Statement(db_,
                "INSERT OR REPLACE INTO trash (output_id, dropped_ns, size, mtime_ns, ctime_ns) "
                "SELECT output_id, CASE WHEN last_used_ns >= ?1 THEN ?2 + ?3 ELSE ?2 END, size, mtime_ns, "
                "ctime_ns FROM objects")
          .bind(1, defer_used_since_ns)
          .bind(2, wall_clock_ns())
          .bind(3, kLastUseGranularityNs)
          .run();
      exec("DELETE FROM objects; DELETE FROM actions; DELETE FROM uploads; DELETE FROM pack_journal;"
           "DELETE FROM pack_jobs; DELETE FROM packs; DELETE FROM pack_members; DELETE FROM lazy_objects;");
    });
    return objects;
  });
}

std::vector<Id> Index::take_trash(std::int64_t dropped_before_ns) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::vector<Id> gone;
    in_write_transaction([&] {
      Statement select(db_,
                       "DELETE FROM trash WHERE dropped_ns < ? RETURNING output_id, "
                       "EXISTS (SELECT 1 FROM objects o WHERE o.output_id = trash.output_id)");
      select.bind(1, dropped_before_ns);
      while (select.step()) {
        const auto id = select.id(0);
        if (id && select.int64(1) == 0) gone.push_back(*id);
      }
    });
    return gone;
  });
}

std::vector<Id> Index::take_trash(const std::vector<Id>& output_ids) {
  if (output_ids.empty()) return {};
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::vector<Id> gone;
    in_write_transaction([&] {
      Statement take(db_,
                     "DELETE FROM trash WHERE output_id = ? RETURNING "
                     "EXISTS (SELECT 1 FROM objects o WHERE o.output_id = trash.output_id)");
      for (const Id& id : output_ids) {
        take.bind(1, id);
        const bool taken_without_row = take.step() && take.int64(0) == 0;
        take.reset();
        if (taken_without_row) gone.push_back(id);
      }
    });
    return gone;
  });
}

bool Index::has_object(const Id& output_id, bool or_trashed) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    Statement select(db_, or_trashed ? "SELECT 1 FROM objects WHERE output_id = ?1 "
                                       "UNION ALL SELECT 1 FROM trash WHERE output_id = ?1"
                                     : "SELECT 1 FROM objects WHERE output_id = ?");
    select.bind(1, output_id);
    return select.step();
  });
}

void Index::restore_object(const Id& output_id, const ObjectStamp& stamp, std::int64_t last_used_ns) {
  std::lock_guard lock(mutex_);
  with_repair([&] {
    Statement(db_,
              "INSERT OR IGNORE INTO objects (output_id, size, last_used_ns, mtime_ns, ctime_ns) "
              "VALUES (?, ?, ?, ?, ?)")
        .bind(1, output_id)
        .bind(2, static_cast<std::int64_t>(stamp.size))
        .bind(3, last_used_ns)
        .bind(4, stamp.mtime_ns)
        .bind(5, stamp.ctime_ns)
        .run();
  });
}

std::vector<Id> Index::objects_missing_rows() {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::vector<Id> missing;
    Statement select(db_,
                     "SELECT DISTINCT a.output_id FROM actions a "
                     "WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.output_id = a.output_id)");
    while (select.step()) {
      if (const auto id = select.id(0)) missing.push_back(*id);
    }
    return missing;
  });
}

std::string Index::quick_check() {
  std::lock_guard lock(mutex_);
  try {
    if (!db_) open_connection();
    Statement check(db_, "PRAGMA quick_check(5)");
    std::string result;
    while (check.step()) result += (result.empty() ? "" : "; ") + check.text(0);
    return result.empty() ? "no answer" : result;
  } catch (const IndexError& e) {
    return e.what();
  }
}

std::uint64_t Index::journal_uses(const std::string& key, const std::vector<JournalEntry>& entries,
                                  std::int64_t now_ns, std::int64_t job_gap_ns) {
  std::lock_guard lock(mutex_);
  std::uint64_t newly_used = 0;
  with_repair([&] {
    newly_used = 0;
    in_write_transaction([&] {
      Statement last(db_, "SELECT last_ns FROM pack_jobs WHERE key = ?");
      last.bind(1, key);
      const bool known = last.step();
      if (!known || last.int64(0) < now_ns - job_gap_ns) {
        Statement(db_, "DELETE FROM pack_journal WHERE key = ?").bind(1, key).run();
      }
      last.reset();
      Statement(db_,
                "INSERT INTO pack_jobs (key, last_ns) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET last_ns = "
                "excluded.last_ns")
          .bind(1, key)
          .bind(2, now_ns)
          .run();
      Statement next(db_, "SELECT coalesce(max(seq), 0) + 1 FROM pack_journal WHERE key = ?");
      next.bind(1, key);
      std::int64_t seq = next.step() ? next.int64(0) : 1;
      next.reset();
      // A miss followed by a put of the action (a compile) is the put, in the miss's place.
      Statement insert(db_,
                       "INSERT INTO pack_journal (key, action_id, seq, output_id, size, put_time_ns, miss) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key, action_id) DO UPDATE SET "
                       "output_id = excluded.output_id, size = excluded.size, put_time_ns = excluded.put_time_ns, "
                       "miss = 0 WHERE pack_journal.miss = 1 AND excluded.miss = 0");
      for (const auto& e : entries) {
        insert.bind(1, key).bind(2, e.action_id).bind(3, seq++).bind(4, e.output_id);
        insert.bind(5, static_cast<std::int64_t>(e.size)).bind(6, e.put_time_ns).bind(7, std::int64_t{e.miss}).run();
      }
      Statement mark(db_, "UPDATE pack_members SET used = 1 WHERE action_id = ? AND used = 0");
      for (const auto& e : entries) {
        mark.bind(1, e.action_id).run();
        newly_used += static_cast<std::uint64_t>(sqlite3_changes(db_));
      }
    });
  });
  return newly_used;
}

std::vector<JournalEntry> Index::journal(const std::string& key) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::vector<JournalEntry> entries;
    Statement select(db_,
                     "SELECT action_id, output_id, size, put_time_ns, miss FROM pack_journal WHERE key = ? "
                     "ORDER BY seq");
    select.bind(1, key);
    while (select.step()) {
      const auto action = select.id(0), output = select.id(1);
      if (!action || !output) continue;
      entries.push_back({*action, *output, static_cast<std::uint64_t>(select.int64(2)), select.int64(3), select.int64(4) != 0});
    }
    select.reset();
    return entries;
  });
}

std::uint64_t Index::record_pack_members(const Id& pack_id, const std::vector<Id>& action_ids, bool used,
                                         const std::vector<bool>& body, const std::vector<bool>& miss) {
  std::lock_guard lock(mutex_);
  std::uint64_t added = 0;
  with_repair([&] {
    added = 0;
    in_write_transaction([&] {
      Statement insert(db_, "INSERT OR IGNORE INTO pack_members (pack_id, action_id, used, body) VALUES (?, ?, ?, ?)");
      for (std::size_t i = 0; i < action_ids.size(); ++i) {
        const std::int64_t kind = i < miss.size() && miss[i] ? 2 : (i < body.size() && body[i] ? 1 : 0);
        insert.bind(1, pack_id).bind(2, action_ids[i]).bind(3, std::int64_t{used}).bind(4, kind).run();
        added += static_cast<std::uint64_t>(sqlite3_changes(db_));
      }
    });
  });
  return added;
}

std::vector<Id> Index::pack_members(const Id& pack_id, bool with_body_only) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::vector<Id> members;
    Statement select(db_, with_body_only ? "SELECT action_id FROM pack_members WHERE pack_id = ? AND body = 1"
                                         : "SELECT action_id FROM pack_members WHERE pack_id = ?");
    select.bind(1, pack_id);
    while (select.step()) {
      if (const auto id = select.id(0)) members.push_back(*id);
    }
    select.reset();
    return members;
  });
}

std::vector<Id> Index::pack_misses(const Id& pack_id) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::vector<Id> misses;
    Statement select(db_, "SELECT action_id FROM pack_members WHERE pack_id = ? AND body = 2");
    select.bind(1, pack_id);
    while (select.step()) {
      if (const auto id = select.id(0)) misses.push_back(*id);
    }
    select.reset();
    return misses;
  });
}

void Index::record_lazy_objects(const std::vector<Id>& served, const std::vector<Id>& read) {
  if (served.empty() && read.empty()) return;
  std::lock_guard lock(mutex_);
  with_repair([&] {
    in_write_transaction([&] {
      Statement serve(db_, "INSERT OR IGNORE INTO lazy_objects (output_id) VALUES (?)");
      for (const Id& id : served) serve.bind(1, id).run();
      Statement mark(db_,
                     "INSERT INTO lazy_objects (output_id, read) VALUES (?, 1) ON CONFLICT (output_id) DO UPDATE SET "
                     "read = 1");
      for (const Id& id : read) mark.bind(1, id).run();
    });
  });
}

std::set<Id> Index::lazy_objects_unread(const std::vector<Id>& output_ids) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    std::set<Id> unread;
    Statement select(db_, "SELECT 1 FROM lazy_objects WHERE output_id = ? AND read = 0");
    for (const Id& id : output_ids) {
      select.bind(1, id);
      if (select.step()) unread.insert(id);
      select.reset();
    }
    return unread;
  });
}

std::string Index::job_pointer(const std::string& key) {
  std::lock_guard lock(mutex_);
  return with_repair([&] {
    Statement select(db_, "SELECT pointer FROM pack_jobs WHERE key = ?");
    select.bind(1, key);
    std::string pointer = select.step() ? select.text(0) : "";
    select.reset();
    return pointer;
  });
}

void Index::set_job_pointer(const std::string& key, const std::string& pointer, std::int64_t now_ns) {
  std::lock_guard lock(mutex_);
  with_repair([&] {
    Statement(db_,
              "INSERT INTO pack_jobs (key, last_ns, pointer) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
              "pointer = excluded.pointer")
        .bind(1, key)
        .bind(2, now_ns)
        .bind(3, pointer)
        .run();
  });
}

void Index::record_pack(const KnownPack& pack) {
  std::lock_guard lock(mutex_);
  with_repair([&] {
    Statement(db_,
              "INSERT INTO packs (pack_id, size, actions, complete) VALUES (?, ?, ?, ?) ON CONFLICT (pack_id) DO "
              "UPDATE SET complete = max(complete, excluded.complete)")
        .bind(1, pack.id)
        .bind(2, static_cast<std::int64_t>(pack.size))
        .bind(3, static_cast<std::int64_t>(pack.actions))
        .bind(4, std::int64_t{pack.complete})
        .run();
  });
}

std::optional<KnownPack> Index::known_pack(const Id& pack_id) {
  std::lock_guard lock(mutex_);
  return with_repair([&]() -> std::optional<KnownPack> {
    Statement select(db_, "SELECT size, actions, complete FROM packs WHERE pack_id = ?");
    select.bind(1, pack_id);
    std::optional<KnownPack> pack;
    if (select.step()) {
      pack = KnownPack{pack_id, static_cast<std::uint64_t>(select.int64(0)),
                       static_cast<std::uint64_t>(select.int64(1)), select.int64(2) != 0};
    }
    select.reset();
    return pack;
  });
}

}  // namespace gocachefs
