// The record stored at ac/<ActionID> in a remote: what a get needs to answer
// a hit (OutputID, size, original put time) and the object's bytes inline --
// the whole object, zstd-compressed when that pays, when it is small (see
// inline_size_for), so that most remote hits cost a single round trip; the
// first kInlinePrefixLimit bytes of larger objects, for the lazy mount's
// first read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/ids.h"
#include "store/remote_trust.h"

namespace gocachefs {

struct ActionRecord {
  Id output_id{};
  std::uint64_t size = 0;
  std::int64_t put_time_ns = 0;
  std::string inline_bytes;  // a prefix of the object, or all of it
  // The length of the object's cas/ entry as its writer stored it (0: not
  // said: carried whole, or an older writer). The lazy mount answers from
  // the remote only when the entry there is still that long.
  std::uint64_t stored_size = 0;

  bool inlines_whole_object() const { return inline_bytes.size() == size; }
};

// Objects up to this size travel whole inside their action record. Measured
// on a 20 ms / 100 Mbit/s link (BENCHMARKS.md), a second round trip costs
// as much time as 250 KB on the wire, so carrying 256 KiB objects (about
// 75 KB compressed) in the first one pays; 90% of a std build's actions have
// objects this small.
constexpr std::size_t kInlineObjectLimit = 256 * 1024;
// Except Go archives (compile outputs), of which most readers read only the
// build ID in the first KiB: the lazy mount never fetches more of them
// unless a linker or compiler reads them. Carried whole up to this size;
// larger ones cost an eager reader a second round trip and a lazy one an
// existence check, and save a lazy `go vet std` 40% of its bytes
// (BENCHMARKS.md, section 5).
constexpr std::size_t kInlineArchiveLimit = 64 * 1024;
// How much of a larger object its record carries: what the kernel reads of
// a file when a program reads its first KiB (a 16 KiB request).
constexpr std::size_t kInlinePrefixLimit = 16 * 1024;

constexpr bool is_go_archive(std::string_view first_bytes) { return first_bytes.starts_with("!<arch>\n"); }

// How many of an object's first bytes its record carries.
constexpr std::uint64_t inline_size_for(std::uint64_t object_size, std::string_view first_bytes) {
  const std::size_t whole_limit = is_go_archive(first_bytes) ? kInlineArchiveLimit : kInlineObjectLimit;
  return object_size <= whole_limit ? object_size : kInlinePrefixLimit;
}

// A line of JSON (readable with curl when debugging a team cache: what
// action and object, its size and put time, the SHA-256 of a head, the key
// that signed it) followed by the inline bytes, zstd when that pays. With
// `keys`, the record carries an HMAC-SHA-256 by the first key over all it
// says (record_signed_content).
std::string encode_action_record(const Id& action_id, const ActionRecord& record, const SigningKeys* keys = nullptr);

// Why a record was not accepted.
enum class RecordProblem {
  kNone,
  kMalformed,     // not a record, truncated, or its inline bytes are not what it says
  kOtherAction,   // the record of another action (a proxy serving the wrong key, a copied entry)
  kTooLarge,      // declares an object over RemoteTrust::max_object_size
  kUnsigned,      // a key is set and the record carries no signature (or is of an older gocachefs)
  kUnknownKey,    // signed with a key id the key file does not hold
  kBadSignature,  // its signature does not match what it says
};
const char* describe(RecordProblem problem);

// The record stored for `action_id`; empty when `bytes` is not one, with
// `*problem` (when given) saying why:
// - not a valid record (a remote returning garbage), or its inline bytes are
//   not what it says: a whole object must hash to its OutputID, a head to
//   its head_sha256;
// - the record names another ActionID;
// - it declares an object larger than trust.max_object_size;
// - trust.keys is set and the record is not validly signed by one of them.
// Records of older gocachefs versions carry no ActionID: they are accepted
// when no key is set (a team without keys trusts its writers anyway) and
// rejected when one is (they are unsigned). Records of the earlier format
// (JSON with base64 inline bytes) stay valid on those terms when they carry
// their whole object; one carrying a head is refused (that format had no
// hash to check a head by). Heads shorter than inline_size_for() are valid:
// their objects are in cas/.
std::optional<ActionRecord> decode_action_record(std::string_view bytes, const Id& action_id,
                                                 const RemoteTrust& trust = {}, RecordProblem* problem = nullptr);

// What a record's signature covers: the ActionID, OutputID, size, put time,
// the inline bytes (their length and SHA-256) and the signing key's id.
std::string record_signed_content(const Id& action_id, const ActionRecord& record, std::string_view key_id);

}  // namespace gocachefs
