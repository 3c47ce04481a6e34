#include "store/free_space.h"

#include <sys/statvfs.h>

namespace gocachefs {

bool has_room_for(const std::filesystem::path& dir, std::uint64_t size) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return true;
  const std::uint64_t available = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  return available >= kFetchReserveBytes && available - kFetchReserveBytes >= size;
}

}  // namespace gocachefs
