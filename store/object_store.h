// The only code that names object files. Objects live at
// <root>/objects/<2 hex>/<64 hex of OutputID>, without an extension (cgo and
// golangci-lint break on one). They are written to <root>/tmp and renamed into
// place, so a reader never sees a half-written object.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "store/ids.h"
#include "store/sha256.h"
#include "store/temp_file.h"

namespace gocachefs {

// What stat says of an object file. Objects never change once written, so a
// file whose stamp differs from the one recorded when it was written has been
// touched by something else and must be re-hashed before it is trusted.
struct ObjectStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const ObjectStamp&) const = default;
};

// Receives an object's bytes, hashes them and, unless the stored file is
// already trusted, writes them to a temp file. Destroying an uncommitted
// writer removes the temp file.
class ObjectWriter {
 public:
  ~ObjectWriter();

  void append(const void* data, std::size_t size);
  std::uint64_t size() const { return size_; }

 private:
  friend class ObjectStore;
  explicit ObjectWriter(std::unique_ptr<TempFile> file);  // null: hash only
  std::unique_ptr<TempFile> file_;
  std::uint64_t size_ = 0;
  Sha256 hash_;
};

class ObjectStore {
 public:
  // Creates the directories it needs (unless `read_only`: a store on a
  // read-only volume, only read). Throws std::filesystem::filesystem_error.
  explicit ObjectStore(std::filesystem::path root, bool read_only = false);

  const std::filesystem::path& root() const { return root_; }
  // For other temp files that must not outlive a crash (see TempFile).
  const std::filesystem::path& temp_dir() const { return temp_dir_; }
  std::string path_of(const Id& output_id) const;

  // The object's stamp when it is stored as a regular file.
  std::optional<ObjectStamp> stat(const Id& output_id) const;

  enum class State {
    kMissing,   // no such file, or not of the recorded size
    kSame,      // its stamp is the recorded one: trusted without reading it
    kVerified,  // its stamp changed but its bytes still hash to its name
    kCorrupt,   // its bytes no longer hash to its name; removed when possible
  };
  // Checks the stored object against the stamp recorded when it was written.
  // `*current` is set to the file's stamp (to record after kVerified). A
  // corrupt file is removed so that the next put or fetch writes it anew.
  State check(const Id& output_id, const ObjectStamp& recorded, ObjectStamp* current) const;

  // Starts receiving an object of `expected_size` bytes. When the stored file
  // is trusted (its stamp is `recorded`) the writer only hashes what it is
  // given; otherwise the file is written anew.
  std::unique_ptr<ObjectWriter> begin_write(const Id& output_id, std::uint64_t expected_size,
                                            const std::optional<ObjectStamp>& recorded = std::nullopt);

  // Checks that the writer received exactly the object (its SHA-256 is
  // `output_id`, its size `expected_size`), then makes it visible under
  // path_of(output_id) and returns its stamp. Throws std::runtime_error with
  // a clear message otherwise, and the bytes are dropped.
  ObjectStamp commit(ObjectWriter& writer, const Id& output_id, std::uint64_t expected_size);

  // Removes temp files whose writers have died; returns how many.
  std::size_t remove_abandoned_temp_files();

 private:
  std::filesystem::path root_;
  std::filesystem::path objects_dir_;
  std::filesystem::path temp_dir_;
};

// SHA-256 of a whole file; empty when it cannot be read.
std::optional<Id> hash_file(const std::string& path);

}  // namespace gocachefs
