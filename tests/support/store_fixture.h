// A local store in a temp dir with objects put the way the cache puts them,
// for the tests of store/ maintenance (eviction, verify).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "store/index.h"
#include "store/object_store.h"
#include "store/sha256.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_bytes.h"

namespace gocachefs::testing {

constexpr std::int64_t kHourNs = 3600LL * 1000 * 1000 * 1000;
constexpr std::int64_t kDayNs = 24 * kHourNs;

struct StoreFixture {
  TempDir dir;
  ObjectStore objects{dir.path()};
  Index index{dir / "index.sqlite"};

  // Puts an object of `size` bytes for action `name`, last used at `used_ns`
  // (and queued for upload with `queue_upload`); returns its OutputID.
  Id put(const std::string& name, std::size_t size, std::int64_t used_ns, bool queue_upload = false) {
    const std::string bytes = text_bytes(size, name + "\n");
    const Id output_id = Sha256::of(bytes);
    auto writer = objects.begin_write(output_id, bytes.size());
    writer->append(bytes.data(), bytes.size());
    const ObjectStamp stamp = objects.commit(*writer, output_id, bytes.size());
    ActionEntry entry{output_id, bytes.size(), used_ns};
    entry.set_stamp(stamp);
    index.record_put(Sha256::of("action " + name), entry, queue_upload);
    return output_id;
  }
  bool has_file(const Id& output_id) const { return objects.stat(output_id).has_value(); }
  bool has_action(const std::string& name) { return index.lookup(Sha256::of("action " + name)).has_value(); }
};

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace gocachefs::testing
