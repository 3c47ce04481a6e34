#include "store/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <system_error>

namespace gocachefs {

namespace {

// Preallocating large objects roughly doubles ext4's write speed for them.
constexpr std::uint64_t kPreallocateFrom = 1 << 20;

std::system_error errno_error(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

std::string unique_temp_name() {
  static std::atomic<std::uint64_t> counter{0};
  static const std::uint64_t salt = std::random_device{}();
  return std::to_string(getpid()) + "." + std::to_string(counter++) + "." + std::to_string(salt % 100000);
}

}  // namespace

ObjectWriter::ObjectWriter(std::string temp_path, int fd) : temp_path_(std::move(temp_path)), fd_(fd) {}

ObjectWriter::~ObjectWriter() {
  if (fd_ >= 0) close(fd_);
  if (!temp_path_.empty()) unlink(temp_path_.c_str());
}

void ObjectWriter::append(const void* data, std::size_t size) {
  hash_.update(data, size);
  size_ += size;
  if (fd_ < 0) return;
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw errno_error("writing " + temp_path_);
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

ObjectStore::ObjectStore(std::filesystem::path root)
    : root_(std::move(root)), objects_dir_(root_ / "objects"), temp_dir_(root_ / "tmp") {
  std::filesystem::create_directories(objects_dir_);
  std::filesystem::create_directories(temp_dir_);
}

std::string ObjectStore::path_of(const Id& output_id) const {
  const std::string hex = to_hex(output_id);
  return (objects_dir_ / hex.substr(0, 2) / hex).string();
}

bool ObjectStore::has(const Id& output_id, std::uint64_t size) const {
  struct stat st {};
  return stat(path_of(output_id).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         static_cast<std::uint64_t>(st.st_size) == size;
}

std::unique_ptr<ObjectWriter> ObjectStore::begin_write(const Id& output_id, std::uint64_t expected_size) {
  if (has(output_id, expected_size)) {
    return std::unique_ptr<ObjectWriter>(new ObjectWriter("", -1));
  }
  std::string temp_path = (temp_dir_ / unique_temp_name()).string();
  const int fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw errno_error("creating " + temp_path);
  auto writer = std::unique_ptr<ObjectWriter>(new ObjectWriter(std::move(temp_path), fd));
  if (expected_size >= kPreallocateFrom) {
    // Best effort: a file system without fallocate simply writes slower.
    (void)posix_fallocate(fd, 0, static_cast<off_t>(expected_size));
  }
  return writer;
}

std::string ObjectStore::commit(ObjectWriter& writer, const Id& output_id, std::uint64_t expected_size) {
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
  if (writer.fd_ < 0) {
    // Hash-only writer: the object was already stored when the put began.
    // Check it is still there; if it vanished meanwhile the put must fail
    // rather than answer a path that does not exist.
    if (!has(output_id, expected_size)) throw std::runtime_error("object " + final_path + " vanished during put");
    return final_path;
  }
  if (close(writer.fd_) != 0) {
    writer.fd_ = -1;
    throw errno_error("closing " + writer.temp_path_);
  }
  writer.fd_ = -1;
  if (rename(writer.temp_path_.c_str(), final_path.c_str()) != 0) {
    if (errno != ENOENT) throw errno_error("renaming into " + final_path);
    // First object with this prefix: make its directory and try again.
    std::filesystem::create_directories(std::filesystem::path(final_path).parent_path());
    if (rename(writer.temp_path_.c_str(), final_path.c_str()) != 0) throw errno_error("renaming into " + final_path);
  }
  writer.temp_path_.clear();
  return final_path;
}

void ObjectStore::remove_stale_temp_files(std::chrono::seconds older_than) {
  std::error_code ec;
  const auto cutoff = std::filesystem::file_time_type::clock::now() - older_than;
  for (const auto& entry : std::filesystem::directory_iterator(temp_dir_, ec)) {
    std::error_code entry_ec;
    if (entry.last_write_time(entry_ec) < cutoff && !entry_ec) std::filesystem::remove(entry.path(), entry_ec);
  }
}

}  // namespace gocachefs
