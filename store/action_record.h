// The record stored at ac/<ActionID> in a remote: what a get needs to answer
// a hit (OutputID, size, original put time) and the object's first bytes
// inline -- the whole object when it is small, so that most remote hits
// cost a single round trip.
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
  std::string inline_bytes;  // a prefix of the object (all of it when size <= the inline limit)

  bool inlines_whole_object() const { return inline_bytes.size() == size; }
};

// Objects up to this size travel inside their action record.
constexpr std::size_t kInlineObjectLimit = 16 * 1024;

// A small JSON document, readable with curl when debugging a team cache.
std::string encode_action_record(const ActionRecord& record);
// Empty when `bytes` is not a valid record (a remote returning garbage).
std::optional<ActionRecord> decode_action_record(std::string_view bytes);

}  // namespace gocachefs
