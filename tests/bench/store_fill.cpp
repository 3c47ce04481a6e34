// Fills a store with many objects for scripts/bench_store_care.sh: sizes
// like a Go build's (most a few KiB, some hundreds), last uses spread over
// the last `days` days, one action each.
//
//   store_fill DIR COUNT DAYS
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "store/index.h"
#include "store/object_store.h"
#include "store/sha256.h"

int main(int argc, char** argv) {
  using namespace gocachefs;
  if (argc != 4) {
    std::fprintf(stderr, "usage: store_fill DIR COUNT DAYS\n");
    return 2;
  }
  const std::string dir = argv[1];
  const long count = std::atol(argv[2]);
  const long days = std::atol(argv[3]);
  ObjectStore objects(dir);
  Index index(dir + "/index.sqlite");
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::int64_t span = days * 24 * 3600LL * 1'000'000'000;
  std::mt19937_64 random(1);
  // Log-uniform from 256 B to 1 MiB: mostly small, a long tail.
  std::uniform_real_distribution<double> log_size(8, 20);
  std::string bytes;
  for (long i = 0; i < count; ++i) {
    const auto size = static_cast<std::size_t>(std::exp2(log_size(random)));
    bytes.resize(size);
    for (std::size_t j = 0; j < size; j += 8) {
      const std::uint64_t v = random();
      std::memcpy(bytes.data() + j, &v, std::min<std::size_t>(8, size - j));
    }
    const Id output_id = Sha256::of(bytes);
    auto writer = objects.begin_write(output_id, size);
    writer->append(bytes.data(), size);
    ActionEntry entry{output_id, size, now - static_cast<std::int64_t>(random() % span)};
    entry.set_stamp(objects.commit(*writer, output_id, size));
    index.record_put(Sha256::of("action " + std::to_string(i)), entry);
  }
  const auto totals = index.totals();
  std::printf("filled %s: %llu objects, %.1f MiB\n", dir.c_str(), static_cast<unsigned long long>(totals.objects),
              static_cast<double>(totals.object_bytes) / (1 << 20));
  return 0;
}
