// The one way gocachefs makes temp files: a random name opened with O_EXCL
// (never someone else's file, never truncated under a writer), and an flock
// held for as long as the writer lives, so that start-up can tell a file whose
// writer died (no lock) from one still being written, whatever pid namespace
// the writer ran in.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace gocachefs {

class TempFile {
 public:
  // Creates `<dir>/<prefix><random>`, mode 0644. Throws std::system_error.
  TempFile(const std::filesystem::path& dir, std::string_view prefix);
  ~TempFile();  // closes and removes the file unless it was committed
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Writes all of `size` bytes at the current offset. Throws std::system_error.
  void write_all(const void* data, std::size_t size);
  // Closes the file (reporting a failed close: data may not have reached the
  // disk) and renames it to `final_path`, replacing what is there, creating
  // its directory when missing. Throws std::system_error.
  void commit_as(const std::filesystem::path& final_path);

 private:
  void close_fd();
  std::string path_;
  int fd_ = -1;
};

// Removes the temp files in `dir` whose writer has died (their lock is free)
// and that are older than `grace`, the window in which a live writer has
// created its file but not yet locked it. Returns how many it removed.
std::size_t remove_abandoned_temp_files(const std::filesystem::path& dir,
                                        std::chrono::seconds grace = std::chrono::seconds(2));

}  // namespace gocachefs
