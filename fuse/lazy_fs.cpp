// Lock order and threads (as libfuse's example/passthrough_hp.cc writes them):
//
// - libfuse's worker threads (at most kMaxThreads) run the LazyFsOps
//   callbacks; loop_ runs fuse_session_loop_mt, which starts and joins them.
// - session_mutex_ is held by mount, unmount (across the loop's end and the
//   unmount) and by add (around one kernel notification). Workers never
//   take it, so unmount may wait for them while holding it.
// - The table's mutex, files_mutex_ and the SingleFlight's mutex are leaves:
//   each is held only to read or write its own map, never while taking
//   another, calling the ObjectSource, or replying to the kernel.
// - ObjectSource::fetch_whole is called with no lock held. The daemon must
//   not call add while holding a lock that fetch_whole needs: add waits for
//   the kernel, which may be waiting for a worker.
// - Every callback sends exactly one fuse_reply_* (or none for forget, which
//   libfuse answers itself: inodes are never dropped, so there is nothing to
//   forget).

#include "fuse/lazy_fs.h"

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <utility>
#include <vector>

namespace gocachefs {

namespace {

// Contents never change, so the kernel may keep names and attributes long.
constexpr double kForever = 24 * 60 * 60;
// "No such file" only briefly: objects are added as gets arrive (add also
// invalidates the kernel's entry at once; this bounds anything missed).
constexpr double kNegativeTimeout = 1;
// Each worker blocked in a fetch holds a thread; readers of other objects
// must still find one free.
constexpr unsigned kMaxThreads = 64;
// Looked up by unmount to wake the loop; not hex, so never cached.
constexpr const char* kWakeName = ".gocachefs-unmount";

// libfuse's messages go to our log (never to stderr); the last one of this
// thread explains a failed mount.
thread_local std::string last_libfuse_message;

void log_from_libfuse(fuse_log_level level, const char* format, va_list args) {
  char line[1024];
  std::vsnprintf(line, sizeof line, format, args);
  std::string_view text(line);
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  last_libfuse_message = text;
  const auto spdlog_level = level <= FUSE_LOG_ERR       ? spdlog::level::err
                            : level == FUSE_LOG_WARNING ? spdlog::level::warn
                            : level <= FUSE_LOG_INFO    ? spdlog::level::info
                                                        : spdlog::level::debug;
  spdlog::log(spdlog_level, "libfuse: {}", text);
}

// The verified local copy, opened for reads: it must have the object's size
// (a short file would make the kernel shrink the one it shows) and begin
// with the head already served (a file must never show two contents).
int open_local_copy(const std::string& path, const LazyObject& object, std::string* error) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot open the fetched copy " + path + ": " + std::strerror(errno);
    return -1;
  }
  struct stat st {};
  std::string head(object.head.size(), '\0');
  if (fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) != object.size) {
    *error = "the fetched copy " + path + " does not have the object's " + std::to_string(object.size) + " bytes";
  } else if (pread(fd, head.data(), head.size(), 0) != static_cast<ssize_t>(head.size()) || head != object.head) {
    *error = "the fetched object's first " + std::to_string(head.size()) +
             " bytes differ from the head its action record carried";
  } else {
    return fd;
  }
  close(fd);
  return -1;
}

}  // namespace

// The libfuse callbacks: each one answers one request with exactly one reply.
struct LazyFsOps {
  static LazyFs& fs(fuse_req_t req) { return *static_cast<LazyFs*>(fuse_req_userdata(req)); }

  // `object` is null for the root directory.
  static struct stat attributes(const LazyFs& fs, Inode inode, const LazyObject* object) {
    struct stat st {};
    st.st_ino = inode;
    st.st_uid = fs.uid_;
    st.st_gid = fs.gid_;
    st.st_atim = st.st_mtim = st.st_ctim = timespec{.tv_sec = fs.start_time_};
    if (object == nullptr) {
      st.st_mode = S_IFDIR | 0555;
      st.st_nlink = 2;
    } else {
      st.st_mode = S_IFREG | 0444;
      st.st_nlink = 1;
      st.st_size = static_cast<off_t>(object->size);
      st.st_blocks = static_cast<blkcnt_t>((object->size + 511) / 512);
    }
    return st;
  }

  static void lookup(fuse_req_t req, fuse_ino_t /*parent: always the root*/, const char* name) {
    LazyFs& self = fs(req);
    fuse_entry_param entry{};
    if (const auto inode = self.table_.find(name)) {
      entry.ino = *inode;
      entry.attr = attributes(self, *inode, self.table_.object(*inode));
      entry.attr_timeout = entry.entry_timeout = kForever;
      fuse_reply_entry(req, &entry);
    } else if (id_from_hex(name)) {
      entry.entry_timeout = kNegativeTimeout;  // ino 0: the kernel caches the absence
      fuse_reply_entry(req, &entry);
    } else {
      fuse_reply_err(req, ENOENT);  // can never exist: not worth caching
    }
  }

  static void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) {
    LazyFs& self = fs(req);
    const LazyObject* object = self.table_.object(ino);
    if (object == nullptr && ino != kRootInode) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    const struct stat st = attributes(self, ino, object);
    fuse_reply_attr(req, &st, kForever);
  }

  static void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    LazyFs& self = fs(req);
    // The page cache may outlive this open: the bytes never change. No
    // direct_io: it would break MAP_SHARED, which dependent compiles use.
    fi->keep_cache = 1;
    if (self.table_.first_open(ino)) ++self.objects_opened_;
    ++self.open_files_;
    if (self.on_open_) self.on_open_(fuse_req_ctx(req)->pid);
    // -ENOENT: the opener was interrupted, and no release will follow.
    if (fuse_reply_open(req, fi) == -ENOENT) --self.open_files_;
  }

  static void read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* /*fi*/) {
    LazyFs& self = fs(req);
    const LazyObject* object = self.table_.object(ino);  // only objects are opened, so read
    const auto offset = static_cast<std::uint64_t>(off);
    if (offset >= object->size) {
      fuse_reply_buf(req, nullptr, 0);
      return;
    }
    const std::uint64_t end = std::min<std::uint64_t>(offset + size, object->size);
    if (end <= object->head.size()) {
      self.bytes_from_heads_ += end - offset;
      fuse_reply_buf(req, object->head.data() + offset, end - offset);
      return;
    }
    const int fd = self.local_file(ino, *object);
    if (fd < 0) {
      fuse_reply_err(req, EIO);
      return;
    }
    // libfuse preads the range from the local copy (FUSE_BUF_FD_SEEK).
    fuse_bufvec data{};
    data.count = 1;
    data.buf[0].size = end - offset;
    data.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY);
    data.buf[0].fd = fd;
    data.buf[0].pos = off;
    fuse_reply_data(req, &data, fuse_buf_copy_flags{});
  }

  static void release(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) {
    --fs(req).open_files_;
    fuse_reply_err(req, 0);
  }

  // The root lists every object; offset k resumes at entry k: 0 is ".",
  // 1 is "..", and from 2 on an offset is the object's inode.
  static void readdir(fuse_req_t req, fuse_ino_t /*ino: the root*/, size_t size, off_t off, fuse_file_info* /*fi*/) {
    LazyFs& self = fs(req);
    std::vector<char> buffer(size);
    std::size_t used = 0;
    for (auto next = static_cast<Inode>(off);; ++next) {
      struct stat st {};
      std::string name;
      if (next < 2) {
        name = next == 0 ? "." : "..";
        st.st_ino = kRootInode;
        st.st_mode = S_IFDIR;
      } else if (const LazyObject* object = self.table_.object(next)) {
        name = to_hex(object->output_id);
        st.st_ino = next;
        st.st_mode = S_IFREG;
      } else {
        break;
      }
      const std::size_t entry_size = fuse_add_direntry(req, buffer.data() + used, size - used, name.c_str(), &st,
                                                       static_cast<off_t>(next + 1));
      if (entry_size > size - used) break;  // the next call resumes here
      used += entry_size;
    }
    fuse_reply_buf(req, buffer.data(), used);
  }

  static void statfs(fuse_req_t req, fuse_ino_t /*ino*/) {
    struct statvfs st {};
    st.f_bsize = st.f_frsize = 4096;
    st.f_files = fs(req).table_.size() + 1;
    st.f_namemax = 64;
    fuse_reply_statfs(req, &st);
  }
};

namespace {
const fuse_lowlevel_ops kOps = {
    .lookup = LazyFsOps::lookup,
    .getattr = LazyFsOps::getattr,
    .open = LazyFsOps::open,
    .read = LazyFsOps::read,
    .release = LazyFsOps::release,
    .readdir = LazyFsOps::readdir,
    .statfs = LazyFsOps::statfs,
};
}  // namespace

LazyFs::LazyFs(ObjectSource& source, std::function<void(pid_t)> on_open)
    : source_(source), on_open_(std::move(on_open)), uid_(getuid()), gid_(getgid()), start_time_(std::time(nullptr)) {}

LazyFs::~LazyFs() { unmount(); }

std::string LazyFs::mount(const std::filesystem::path& dir) {
  static std::once_flag log_once;
  std::call_once(log_once, [] { fuse_set_log_func(log_from_libfuse); });
  last_libfuse_message.clear();
  const auto fail = [&](const std::string& what) {
    const std::string message =
        what + (last_libfuse_message.empty() ? std::string() : ": " + last_libfuse_message);
    spdlog::error("lazy mount: {}", message);
    return message;
  };

  std::lock_guard lock(session_mutex_);
  if (session_ != nullptr) return fail("already mounted at " + dir_.string());
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) return fail("cannot mount at " + dir.string() + ": not a directory");
  // fusermount3 mounts only where its user may write (and says so on stderr).
  if (access(dir.c_str(), W_OK) != 0) return fail("cannot mount at " + dir.string() + ": not writable by this user");

  // Read-only, for this user only (no allow_other), and gone with this
  // process however it ends (auto_unmount: fusermount3 stays to watch).
  std::string program = "gocachefs", dash_o = "-o", options = "ro,auto_unmount,fsname=gocachefs,subtype=gocachefs";
  char* argv[] = {program.data(), dash_o.data(), options.data()};
  fuse_args args = FUSE_ARGS_INIT(3, argv);
  fuse_session* session = fuse_session_new(&args, &kOps, sizeof kOps, this);
  fuse_opt_free_args(&args);
  if (session == nullptr) return fail("cannot start a FUSE session");
  dir_ = std::filesystem::absolute(dir);
  if (fuse_session_mount(session, dir_.c_str()) != 0) {
    fuse_session_destroy(session);
    return fail("cannot mount a FUSE file system at " + dir_.string());
  }
  session_ = session;
  loop_ = std::thread([session] {
    fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(config, kMaxThreads);
    fuse_session_loop_mt(session, config);
    fuse_loop_cfg_destroy(config);
  });
  spdlog::info("lazy mount: serving {}", dir_.string());
  return "";
}

void LazyFs::unmount() {
  std::lock_guard lock(session_mutex_);
  if (session_ == nullptr) return;
  // libfuse 3.14's loop notices the exit only between requests: send it
  // one. From a thread of its own: the loop may end without answering it,
  // and then only closing the session's fd (fuse_session_unmount) ends it.
  fuse_session_exit(session_);
  std::thread waker([path = dir_ / kWakeName] {
    struct stat st {};
    (void)stat(path.c_str(), &st);
  });
  loop_.join();
  fuse_session_unmount(session_);
  waker.join();
  fuse_session_destroy(session_);
  session_ = nullptr;
  std::unique_lock files_lock(files_mutex_);
  for (const auto& [inode, fd] : files_) close(fd);
  files_.clear();
  spdlog::info("lazy mount: unmounted {}", dir_.string());
}

std::optional<Inode> LazyFs::add(const LazyObject& object) {
  const bool known = table_.find(object.output_id).has_value();
  const auto inode = table_.add(object);
  if (inode && !known) {
    // A lookup just before may have left "no such file" in the kernel's
    // cache; the file exists now.
    std::lock_guard lock(session_mutex_);
    if (session_ != nullptr) {
      const std::string name = to_hex(object.output_id);
      fuse_lowlevel_notify_inval_entry(session_, kRootInode, name.data(), name.size());
    }
  }
  return inode;
}

bool LazyFs::failed(const Id& output_id) const {
  const auto inode = table_.find(output_id);
  return inode && std::holds_alternative<FetchFailed>(table_.state(*inode));
}

LazyFsCounters LazyFs::counters() const {
  return {.objects_opened = objects_opened_,
          .bytes_from_heads = bytes_from_heads_,
          .bytes_fetched = bytes_fetched_,
          .fetches_failed = fetches_failed_};
}

bool LazyFs::fetch_ahead(const Id& output_id) {
  const auto inode = table_.find(output_id);
  if (!inode || !std::holds_alternative<NotFetched>(table_.state(*inode))) return false;
  // Not behind a fetch in flight: this thread would only wait for it.
  const LazyObject& object = *table_.object(*inode);
  if (source_.arriving(output_id)) return false;
  const auto fd = fetches_.run_unless_running(*inode, [&] { return fetch(*inode, object); });
  return fd && *fd >= 0;
}

int LazyFs::local_file(Inode inode, const LazyObject& object) {
  if (const int fd = opened_file(inode); fd >= 0) return fd;
  return fetches_.run(inode, [&] { return fetch(inode, object); });
}

int LazyFs::fetch(Inode inode, const LazyObject& object) {
  // A flight that ended just before this one began has settled it already.
  if (const int fd = opened_file(inode); fd >= 0) return fd;
  if (std::holds_alternative<FetchFailed>(table_.state(inode))) return -1;

  FetchResult result;
  try {
    result = source_.fetch_whole(object.output_id, object.size);
  } catch (const std::exception& e) {  // must not unwind through libfuse
    result.error = e.what();
  }
  std::string error = result.error;
  const int fd = result.ok() ? open_local_copy(result.path, object, &error) : -1;
  if (fd < 0) {
    ++fetches_failed_;
    spdlog::error("lazy mount: object {} ({} bytes) failed, its reads get EIO: {}", to_hex(object.output_id),
                  object.size, error);
    table_.set_failed(inode, std::move(error));
    return -1;
  }
  {
    std::unique_lock lock(files_mutex_);
    files_.emplace(inode, fd);
  }
  bytes_fetched_ += object.size;
  table_.set_fetched(inode, result.path);
  return fd;
}

int LazyFs::opened_file(Inode inode) const {
  std::shared_lock lock(files_mutex_);
  const auto it = files_.find(inode);
  return it == files_.end() ? -1 : it->second;
}

}  // namespace gocachefs
