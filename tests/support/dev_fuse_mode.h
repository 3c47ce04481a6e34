// /dev/fuse's mode while a test makes it what a workstation has: Debian's
// udev rule leaves it 0666, so an ordinary user can mount through the setuid
// fusermount3 (CI machines may have it 0600). Needs root.
#pragma once

#include <sys/stat.h>

namespace gocachefs::testing {

class DevFuseMode {
 public:
  explicit DevFuseMode(mode_t mode) {
    struct stat st {};
    stat("/dev/fuse", &st);
    saved_ = st.st_mode & 07777;
    chmod("/dev/fuse", mode);
  }
  ~DevFuseMode() { chmod("/dev/fuse", saved_); }
  DevFuseMode(const DevFuseMode&) = delete;
  DevFuseMode& operator=(const DevFuseMode&) = delete;

 private:
  mode_t saved_ = 0;
};

}  // namespace gocachefs::testing
