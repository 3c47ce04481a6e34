// The commands that look after the local store: `gocachefs trim`, `verify`
// and `clean`. Each prints what it did on stdout; go commands may run
// meanwhile (store/eviction.h).
#pragma once

#include "src/config.h"

namespace gocachefs {

// `background`: started by start_trim_if_due(): lowest priority, nothing on
// stdout, skipped when the trim is no longer due or another one runs.
int run_trim(const Flags& flags, bool background);
int run_verify(const Flags& flags, bool quick);
int run_clean(const Flags& flags);

}  // namespace gocachefs
