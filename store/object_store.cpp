#include "store/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

namespace gocachefs {

namespace {

// Preallocating large objects roughly doubles ext4's write speed for them.
constexpr std::uint64_t kPreallocateFrom = 1 << 20;

std::optional<ObjectStamp> stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return ObjectStamp{static_cast<std::uint64_t>(st.st_size), st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                     st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec};
}

}  // namespace

std::optional<Id> hash_file(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  for (;;) {
    const ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    hash.update(buffer.data(), static_cast<std::size_t>(n));
  }
  close(fd);
  return hash.finish();
}

ObjectWriter::ObjectWriter(std::unique_ptr<TempFile> file) : file_(std::move(file)) {}

ObjectWriter::~ObjectWriter() = default;

void ObjectWriter::append(const void* data, std::size_t size) {
  hash_.update(data, size);
  size_ += size;
  if (file_) file_->write_all(data, size);
}

ObjectStore::ObjectStore(std::filesystem::path root, bool read_only)
    : root_(std::move(root)), objects_dir_(root_ / "objects"), temp_dir_(root_ / "tmp") {
  if (read_only) return;
  std::filesystem::create_directories(objects_dir_);
  std::filesystem::create_directories(temp_dir_);
}

std::string ObjectStore::path_of(const Id& output_id) const {
  const std::string hex = to_hex(output_id);
  return (objects_dir_ / hex.substr(0, 2) / hex).string();
}

std::optional<ObjectStamp> ObjectStore::stat(const Id& output_id) const { return stamp_of(path_of(output_id)); }

ObjectStore::State ObjectStore::check(const Id& output_id, const ObjectStamp& recorded, ObjectStamp* current) const {
  const auto stamp = stat(output_id);
  if (!stamp || stamp->size != recorded.size) return State::kMissing;
  const bool same = *stamp == recorded;
  *current = *stamp;
  if (same) return State::kSame;
  const std::string path = path_of(output_id);
  if (hash_file(path) == output_id) return State::kVerified;
  unlink(path.c_str());
  return State::kCorrupt;
}

std::unique_ptr<ObjectWriter> ObjectStore::begin_write(const Id& output_id, std::uint64_t expected_size,
                                                       const std::optional<ObjectStamp>& recorded) {
  const auto stamp = stat(output_id);
  if (stamp && recorded && *stamp == *recorded && stamp->size == expected_size) {
    return std::unique_ptr<ObjectWriter>(new ObjectWriter(nullptr));
  }
  auto file = std::make_unique<TempFile>(temp_dir_, "object-");
  if (expected_size >= kPreallocateFrom) {
    // Best effort: a file system without fallocate simply writes slower.
    (void)posix_fallocate(file->fd(), 0, static_cast<off_t>(expected_size));
  }
  return std::unique_ptr<ObjectWriter>(new ObjectWriter(std::move(file)));
}

ObjectStamp ObjectStore::commit(ObjectWriter& writer, const Id& output_id, std::uint64_t expected_size) {
  if (writer.size() != expected_size) {
    throw std::runtime_error("body has " + std::to_string(writer.size()) + " bytes but BodySize is " +
                             std::to_string(expected_size));
  }
  const Id digest = writer.hash_.finish();
  if (digest != output_id) {
    throw std::runtime_error("OutputID " + to_hex(output_id) + " does not match the body's SHA-256 " +
                             to_hex(digest));
  }
  const std::string final_path = path_of(output_id);
  if (writer.file_) {
    writer.file_->commit_as(final_path);
    writer.file_.reset();
  }
  // Stat after the rename: renaming changes the ctime. A hash-only writer
  // also lands here: if the object vanished meanwhile the put must fail
  // rather than answer a path that does not exist.
  const auto stamp = stamp_of(final_path);
  if (!stamp || stamp->size != expected_size) {
    throw std::runtime_error("object " + final_path + " vanished during put");
  }
  return *stamp;
}

std::size_t ObjectStore::remove_abandoned_temp_files() { return gocachefs::remove_abandoned_temp_files(temp_dir_); }

}  // namespace gocachefs
