// What gocachefs accepts from a remote. A team cache is written by every CI
// job and laptop with credentials and read through proxies, so what it
// serves is checked before it costs anything: records and packs for the
// ActionID asked, signed when the team has a key, objects no larger than a
// build makes.
#pragma once

#include <cstdint>
#include <memory>

#include "store/record_signing.h"

namespace gocachefs {

// No Go build output comes near this (the largest are linked test binaries
// and archives of a few hundred MiB); a remote naming a larger object is
// not serving a build's.
constexpr std::uint64_t kDefaultMaxObjectSize = 4ULL << 30;

struct RemoteTrust {
  // Null: nothing is signed and no signature is required (as before keys).
  std::shared_ptr<const SigningKeys> keys;
  // A record or pack declaring a larger object is refused before anything
  // is allocated or fetched.
  std::uint64_t max_object_size = kDefaultMaxObjectSize;
};

}  // namespace gocachefs
