// The only code that names object files. Objects live at
// <root>/objects/<2 hex>/<64 hex of OutputID>, without an extension (cgo and
// golangci-lint break on one). They are written to <root>/tmp and renamed into
// place, so a reader never sees a half-written object.
#pragma once

#include <cstdint>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "store/ids.h"
#include "store/sha256.h"

namespace gocachefs {

// Receives an object's bytes, hashes them and, unless the object is already
// stored, writes them to a temp file. Destroying an uncommitted writer removes
// the temp file.
class ObjectWriter {
 public:
  ObjectWriter(ObjectWriter&&) = delete;
  ~ObjectWriter();

  void append(const void* data, std::size_t size);
  std::uint64_t size() const { return size_; }

 private:
  friend class ObjectStore;
  ObjectWriter(std::string temp_path, int fd);  // fd < 0: hash only
  std::string temp_path_;
  int fd_;
  std::uint64_t size_ = 0;
  Sha256 hash_;
};

class ObjectStore {
 public:
  explicit ObjectStore(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  // For other temp files that must not outlive a crash (stale ones are
  // removed by remove_stale_temp_files).
  const std::filesystem::path& temp_dir() const { return temp_dir_; }
  std::string path_of(const Id& output_id) const;

  // True when the object is stored as a regular file of exactly `size` bytes.
  // Anything else (missing, truncated, replaced) is not the object.
  bool has(const Id& output_id, std::uint64_t size) const;

  // Starts receiving an object of `expected_size` bytes. When the object is
  // already stored the writer only hashes what it is given.
  std::unique_ptr<ObjectWriter> begin_write(const Id& output_id, std::uint64_t expected_size);

  // Checks that the writer received exactly the object (its SHA-256 is
  // `output_id`, its size `expected_size`), then makes it visible under
  // path_of(output_id). Throws std::runtime_error with a clear message
  // otherwise, and the bytes are dropped.
  std::string commit(ObjectWriter& writer, const Id& output_id, std::uint64_t expected_size);

  // Removes temp files that processes killed mid-write left behind.
  void remove_stale_temp_files(std::chrono::seconds older_than);

 private:
  std::filesystem::path root_;
  std::filesystem::path objects_dir_;
  std::filesystem::path temp_dir_;
};

}  // namespace gocachefs
