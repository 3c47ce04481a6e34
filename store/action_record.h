// The record stored at ac/<ActionID> in a remote: what a get needs to answer
// a hit (OutputID, size, original put time) and the object's bytes inline --
// the whole object, zstd-compressed when that pays, up to kInlineObjectLimit,
// so that most remote hits cost a single round trip; the first
// kInlinePrefixLimit bytes of larger objects, for the lazy mount's first read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "store/ids.h"

namespace gocachefs {

struct ActionRecord {
  Id output_id{};
  std::uint64_t size = 0;
  std::int64_t put_time_ns = 0;
  std::string inline_bytes;  // a prefix of the object, or all of it

  bool inlines_whole_object() const { return inline_bytes.size() == size; }
};

// Objects up to this size travel whole inside their action record. Measured
// on a 20 ms / 100 Mbit/s link (BENCHMARKS.md), a second round trip costs
// as much time as 250 KB on the wire, so carrying 256 KiB objects (about
// 75 KB compressed) in the first one pays; 90% of a std build's actions have
// objects this small.
constexpr std::size_t kInlineObjectLimit = 256 * 1024;
// How much of a larger object its record carries.
constexpr std::size_t kInlinePrefixLimit = 16 * 1024;

constexpr std::uint64_t inline_size_for(std::uint64_t object_size) {
  return object_size <= kInlineObjectLimit ? object_size : kInlinePrefixLimit;
}

// A line of JSON (readable with curl when debugging a team cache: what
// object, its size and put time) followed by the inline bytes, zstd when
// that pays.
std::string encode_action_record(const ActionRecord& record);
// Empty when `bytes` is not a valid record (a remote returning garbage).
// Records of the earlier format (JSON with base64 inline bytes) stay valid,
// and so do prefixes shorter than inline_size_for(size): their objects are
// in cas/.
std::optional<ActionRecord> decode_action_record(std::string_view bytes);

}  // namespace gocachefs
