// Fuzzes PackReader (store/pack.h), which reads packs as they stream in from
// a remote: whatever the bytes and however the network splits them, it must
// never crash, hold unbounded memory, or call back out of turn.
// Checks, for any input: feed() fails only with an error, and once failed
// stays failed; complete() means no error; callbacks come in stream order
// (the index once and first, each object's front once, of its front size,
// in object order; bodies only of objects with a head, in object order, at
// most their size, ended once when whole); a head handed on hashes to its
// head_sha256. A complete pack delivered every front and every body. Bodies
// come in body order: those read first, then the cold, each in object order;
// a frames section, when there is one, comes once, before the first body,
// and its sizes add up to where the body section ends.
// The same bytes fed whole and in random chunks give the same outcome.
//
// Input: bytes 0-1 seed the chunk sizes; the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "store/action_record.h"
#include "store/pack.h"
#include "store/sha256.h"
#include "tests/fuzz/fuzz_support.h"

using namespace gocachefs;

namespace {

// A cheap hash of a body (bodies may decode to many MiB: not kept).
struct Fnv {
  std::uint64_t value = 1469598103934665603ull;
  void add(const char* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) value = (value ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
  }
};

struct Outcome {
  bool complete = false;
  bool failed = false;
  bool has_index = false;
  PackIndex index;
  std::map<std::uint32_t, std::string> fronts;
  std::map<std::uint32_t, std::uint64_t> body_bytes;
  std::map<std::uint32_t, std::uint64_t> body_hashes;
  std::map<std::uint32_t, int> body_ends;
};

// Chunk sizes: mostly a few bytes, so that every boundary gets split.
class Chunks {
 public:
  explicit Chunks(std::uint64_t seed) : state_(seed) {}
  std::size_t next(std::size_t left) {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    const std::uint64_t r = state_ >> 33;
    std::size_t size;
    switch (r % 8) {
      case 0: size = left; break;
      case 1: size = 1 + (r >> 3) % 4096; break;
      default: size = 1 + (r >> 3) % 9; break;
    }
    return size < left ? size : left;
  }

 private:
  std::uint64_t state_;
};

Outcome read(std::string_view stream, Chunks* chunks) {
  Outcome out;
  std::int64_t last_front = -1, last_body = -1;  // last_body: a position in body order
  std::map<std::uint32_t, std::int64_t> body_position;
  int frames_calls = 0;
  std::map<std::uint32_t, Fnv> hashes;
  PackReader reader({
      .index =
          [&](const PackIndex& index) {
            FUZZ_CHECK(!out.has_index);
            out.has_index = true;
            out.index = index;
            for (const auto& action : index.actions) FUZZ_CHECK(action.object < index.objects.size() || action.object == kKnownMiss);
            for (const auto& object : index.objects) {
              FUZZ_CHECK(object.front_size <= object.size);
              FUZZ_CHECK(!object.has_head() || object.front_size <= kInlinePrefixLimit);  // heads are kept in memory
            }
            std::int64_t position = 0;
            for (const bool cold : {false, true}) {
              for (std::uint32_t i = 0; i < index.objects.size(); ++i) {
                if (index.objects[i].in_body() && index.objects[i].cold == cold) body_position[i] = position++;
              }
            }
          },
      .front =
          [&](std::uint32_t i, std::string bytes) {
            FUZZ_CHECK(out.has_index && i < out.index.objects.size());
            FUZZ_CHECK(static_cast<std::int64_t>(i) > last_front);  // once each, in order
            FUZZ_CHECK(last_body < 0);                               // fronts before bodies
            last_front = i;
            const PackObject& object = out.index.objects[i];
            FUZZ_CHECK(bytes.size() == object.front_size);
            if (object.in_body()) FUZZ_CHECK(Sha256::of(bytes) == object.head_sha256);
            out.fronts[i] = std::move(bytes);
          },
      .body_data =
          [&](std::uint32_t i, const char* data, std::size_t size) {
            FUZZ_CHECK(out.has_index && i < out.index.objects.size());
            const PackObject& object = out.index.objects[i];
            FUZZ_CHECK(object.in_body());
            FUZZ_CHECK(out.fronts.contains(i));  // its head came first
            FUZZ_CHECK(body_position.at(i) >= last_body);
            FUZZ_CHECK(!out.body_ends.contains(i));
            FUZZ_CHECK(size > 0);
            last_body = body_position.at(i);
            out.body_bytes[i] += size;
            FUZZ_CHECK(out.body_bytes[i] <= object.size);
            hashes[i].add(data, size);
          },
      .body_end =
          [&](std::uint32_t i) {
            FUZZ_CHECK(out.has_index && i < out.index.objects.size());
            const PackObject& object = out.index.objects[i];
            FUZZ_CHECK(object.in_body());
            FUZZ_CHECK(body_position.at(i) >= last_body);
            FUZZ_CHECK(!out.body_ends.contains(i));
            FUZZ_CHECK(out.body_bytes[i] == object.size);
            last_body = body_position.at(i);
            out.body_ends[i] = 1;
          },
      .frames =
          [&](const PackFrames& frames) {
            FUZZ_CHECK(out.has_index && ++frames_calls == 1);
            FUZZ_CHECK(last_body < 0);  // before the bodies
            FUZZ_CHECK(frames.body_start >= kPackHeaderSize);
          },
  });
  for (std::size_t at = 0; at < stream.size();) {
    const std::size_t n = chunks ? chunks->next(stream.size() - at) : stream.size() - at;
    if (!reader.feed(stream.data() + at, n)) {
      FUZZ_CHECK(!reader.error().empty());
      FUZZ_CHECK(!reader.feed("", 0) && !reader.feed("x", 1));  // failed stays failed
      FUZZ_CHECK(!reader.complete());
      out.failed = true;
      break;
    }
    FUZZ_CHECK(reader.error().empty());
    at += n;
  }
  out.complete = reader.complete();
  FUZZ_CHECK(out.complete == (reader.complete() && reader.error().empty()));
  if (out.complete) {
    FUZZ_CHECK(out.has_index);
    for (std::uint32_t i = 0; i < out.index.objects.size(); ++i) {
      FUZZ_CHECK(out.fronts.contains(i));
      FUZZ_CHECK(out.index.objects[i].in_body() == out.body_ends.contains(i));
    }
  }
  for (const auto& [i, hash] : hashes) out.body_hashes[i] = hash.value;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);
  Chunks chunks(data[0] | data[1] << 8);
  const Outcome whole = read(stream, nullptr);
  const Outcome split = read(stream, &chunks);
  FUZZ_CHECK(whole.complete == split.complete);
  FUZZ_CHECK(whole.failed == split.failed);
  FUZZ_CHECK(whole.has_index == split.has_index);
  if (whole.complete) {
    FUZZ_CHECK(whole.fronts == split.fronts);
    FUZZ_CHECK(whole.body_bytes == split.body_bytes);
    FUZZ_CHECK(whole.body_hashes == split.body_hashes);
  }
  return 0;
}
