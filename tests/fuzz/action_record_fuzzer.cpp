// Fuzzes decode_action_record (store/action_record.h) with whatever a remote
// may return at ac/<ActionID>.
// Checks: it throws nothing; a record it accepts carries no more inline
// bytes than the object has; encoding that record and decoding the result
// gives the same record back.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "store/action_record.h"
#include "store/sha256.h"
#include "tests/fuzz/fuzz_support.h"

using namespace gocachefs;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Id action_id = Sha256::of("action");
  const auto record = decode_action_record({reinterpret_cast<const char*>(data), size}, action_id);
  if (!record) return 0;
  FUZZ_CHECK(record->inline_bytes.size() <= record->size);

  const auto again = decode_action_record(encode_action_record(action_id, *record), action_id);
  FUZZ_CHECK(again);
  FUZZ_CHECK(again->output_id == record->output_id);
  FUZZ_CHECK(again->size == record->size);
  FUZZ_CHECK(again->put_time_ns == record->put_time_ns);
  FUZZ_CHECK(again->inline_bytes == record->inline_bytes);
  return 0;
}
