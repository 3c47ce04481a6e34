// Whether the lazy mount can work on this machine, and cleaning up after a
// mount whose process died without unmounting.
#pragma once

#include <filesystem>
#include <string>

namespace gocachefs {

// Empty when FUSE works here for this user: /dev/fuse opens read-write,
// fusermount3 is installed (auto_unmount needs it, and so does a user who is
// not root), and a test mount of an empty LazyFs in a temp dir succeeds.
// Otherwise one line saying what is missing, for the log and the fallback
// to eager fetches. fusermount3 writes its own complaints to stderr.
std::string probe_fuse();

// A mount left by a killed process answers with ENOTCONN: unmount it lazily
// (umount2 as root, else `fusermount3 -u -z`) so that `dir` can be mounted
// again. auto_unmount usually spares this, but not always: its fusermount3
// may be killed too, and libfuse 3.14's sometimes misses a mount whose
// server died mid-request (ECONNABORTED). Does nothing to a directory that
// answers.
void cleanup_stale_mount(const std::filesystem::path& dir);

}  // namespace gocachefs
