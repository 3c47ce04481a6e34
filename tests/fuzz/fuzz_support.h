// What the fuzz targets share: a check that stops the run with a message,
// and an InputStream over bytes in memory.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

// Any failed check is a finding: libFuzzer saves the input and stops.
#define FUZZ_CHECK(condition)                                                       \
  do {                                                                              \
    if (!(condition)) {                                                             \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace gocachefs::fuzz {

// A file descriptor that reads `bytes`: one memfd, rewritten for each input.
// A regular file is always readable, so InputStream's poll-then-read never
// waits, and there is no writer thread to start.
inline int fd_reading(std::string_view bytes) {
  static const int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
  return fd;
}

// An InputStream buffer size from one input byte: mostly tiny, so that
// lines, escapes and base64 quartets get split across refills everywhere.
inline std::size_t buffer_size_from(unsigned char byte) { return byte < 192 ? 1 + byte % 16 : 4096; }

}  // namespace gocachefs::fuzz
