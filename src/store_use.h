// Who is using a store: every process that serves one (a go command's
// gocachefs, the daemon) holds a shared lock on <store>/in-use.lock for its
// life, so `gocachefs clean` can tell whether a go command may be reading
// objects it was told about.
#pragma once

#include <filesystem>

namespace gocachefs {

class StoreUse {
 public:
  explicit StoreUse(const std::filesystem::path& store_dir);  // best effort: never fails
  ~StoreUse();
  StoreUse(const StoreUse&) = delete;
  StoreUse& operator=(const StoreUse&) = delete;

 private:
  int fd_ = -1;
};

// Whether a process holds a StoreUse on the store now.
bool store_in_use(const std::filesystem::path& store_dir);

}  // namespace gocachefs
