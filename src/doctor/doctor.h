// `gocachefs doctor`: checks what gocachefs depends on, one line per check
// on stdout, each OK or what is wrong and the command or setting that fixes
// it:
//   go            the go command on PATH, 1.24 or newer (GOCACHEPROG)
//   GOCACHEPROG   `go env GOCACHEPROG` runs gocachefs, with this store
//   settings      flags and GOCACHEFS_* variables resolve
//   store, store owner, free space, index   the store directory and its SQLite index
//   FUSE          /dev/fuse, fusermount3 and a test mount (the lazy mount)
//   daemon        the store's daemon, if it runs, and whether its mount answers
//   remote read, remote write, clock   the remote, when one is configured
//   upload backlog   uploads queued in the index
// The exit status is 1 when a check fails; warnings (things that do not
// break builds: no FUSE with --lazy=auto, GOCACHEPROG not in `go env`, little
// free space) leave it 0.
#pragma once

#include "src/config.h"

namespace gocachefs {

int run_doctor(const Flags& flags);

}  // namespace gocachefs
