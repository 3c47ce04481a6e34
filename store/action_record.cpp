#include "store/action_record.h"

#include <nlohmann/json.hpp>

#include "store/base64.h"
#include "store/remote/cas_encoding.h"
#include "store/sha256.h"

namespace gocachefs {

using nlohmann::json;

namespace {

// Version 1 carried the inline bytes as base64 inside the JSON; version 2
// carries them raw after the JSON line: a third fewer bytes on every get.
constexpr int kFormatVersion = 2;

// The number at `key`, when it is an integer (not j.value(...): it converts a
// float to an integer, undefined when it is out of range).
template <typename T>
std::optional<T> integer_field(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  if (std::is_unsigned_v<T> && !it->is_number_unsigned()) return std::nullopt;
  return it->get<T>();
}

void put_u64(std::string& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void put_id(std::string& out, const Id& id) { out.append(reinterpret_cast<const char*>(id.data()), id.size()); }

// The string at `key`, "" when absent or not a string.
std::string string_field(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::optional<ActionRecord> fail(RecordProblem* problem, RecordProblem why) {
  if (problem) *problem = why;
  return std::nullopt;
}

}  // namespace

const char* describe(RecordProblem problem) {
  switch (problem) {
    case RecordProblem::kNone:
      return "valid";
    case RecordProblem::kMalformed:
      return "not a valid action record";
    case RecordProblem::kOtherAction:
      return "the record of another action";
    case RecordProblem::kTooLarge:
      return "declares an object larger than --max-object-size";
    case RecordProblem::kUnsigned:
      return "not signed, and a signing key is set";
    case RecordProblem::kUnknownKey:
      return "signed with a key id the signing key file does not hold";
    case RecordProblem::kBadSignature:
      return "its signature does not match its content";
  }
  return "?";
}

std::string record_signed_content(const Id& action_id, const ActionRecord& record, std::string_view key_id) {
  std::string message = "gocachefs action record\n";
  put_id(message, action_id);
  put_id(message, record.output_id);
  put_u64(message, record.size);
  put_u64(message, static_cast<std::uint64_t>(record.put_time_ns));
  put_u64(message, record.inline_bytes.size());
  put_id(message, Sha256::of(record.inline_bytes));
  if (record.stored_size != 0) {  // records written before it was said sign without it
    message += "stored\n";        // no key id holds a newline
    put_u64(message, record.stored_size);
  }
  message += key_id;  // last: its length is what remains
  return message;
}

std::string encode_action_record(const Id& action_id, const ActionRecord& record, const SigningKeys* keys) {
  // Compressed when that pays, a large object's prefix too: every get reads
  // a record, and the lazy mount decompresses a head as cheaply as an object.
  const auto frame = compress_if_it_pays(record.inline_bytes);
  const std::string& body = frame ? *frame : record.inline_bytes;
  json header{{"v", kFormatVersion},
              {"action_id", to_hex(action_id)},
              {"output_id", to_hex(record.output_id)},
              {"size", record.size},
              {"put_time_ns", record.put_time_ns},
              {"inline_size", body.size()}};
  if (frame) header["inline_zstd"] = true;
  if (record.stored_size != 0) header["stored_size"] = record.stored_size;
  if (!record.inlines_whole_object()) header["head_sha256"] = to_hex(Sha256::of(record.inline_bytes));
  if (keys) {
    const Signature signature = keys->sign(record_signed_content(action_id, record, keys->signer_id()));
    header["key_id"] = signature.key_id;
    header["sig"] = signature.mac_hex;
  }
  return header.dump() + "\n" + body;  // dump() writes no newline of its own
}

std::optional<ActionRecord> decode_action_record(std::string_view bytes, const Id& action_id,
                                                 const RemoteTrust& trust, RecordProblem* problem) try {
  if (problem) *problem = RecordProblem::kNone;
  const auto malformed = [&] { return fail(problem, RecordProblem::kMalformed); };
  const std::size_t newline = bytes.find('\n');
  const json j = json::parse(bytes.substr(0, newline), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return malformed();
  const auto version = integer_field<std::int64_t>(j, "v");
  const auto output_id = j.find("output_id");
  const auto size = integer_field<std::uint64_t>(j, "size");
  const auto put_time = integer_field<std::int64_t>(j, "put_time_ns");
  if (!version || output_id == j.end() || !output_id->is_string() || !size || !put_time) return malformed();
  const auto id = id_from_hex(output_id->get<std::string>());
  if (!id) return malformed();
  // Older gocachefs versions wrote no ActionID (see action_record.h).
  if (j.contains("action_id") && id_from_hex(string_field(j, "action_id")) != action_id) {
    return fail(problem, RecordProblem::kOtherAction);
  }
  if (!j.contains("action_id") && trust.keys) return fail(problem, RecordProblem::kUnsigned);
  // Before anything is decompressed, allocated or fetched for it.
  if (*size > trust.max_object_size) return fail(problem, RecordProblem::kTooLarge);

  std::optional<std::string> inline_bytes;
  if (*version == 2 && newline != std::string_view::npos) {
    const auto inline_size = integer_field<std::uint64_t>(j, "inline_size");
    const std::string_view body = bytes.substr(newline + 1);
    if (!inline_size || body.size() != *inline_size) return malformed();  // truncated, or more than said
    inline_bytes = std::string(body);
  } else if (*version == 1 && newline == std::string_view::npos) {
    const auto inline_text = j.find("inline");
    if (inline_text == j.end() || !inline_text->is_string()) return malformed();
    inline_bytes = base64::decode(inline_text->get<std::string>());
  }
  if (!inline_bytes) return malformed();
  if (j.value("inline_zstd", false)) {
    inline_bytes = decompress_frame(*inline_bytes, kInlineObjectLimit);
    if (!inline_bytes) return malformed();
  }
  if (inline_bytes->size() > *size) return malformed();
  // Inline bytes are checked here, not only when an object is stored: the
  // lazy mount serves a head as it is, and a record whose bytes were damaged
  // on the way says nothing trustworthy (base64 in format 1 failed to decode).
  if (inline_bytes->size() == *size) {
    if (Sha256::of(*inline_bytes) != *id) return malformed();
  } else if (*version == 1) {
    // Format 1 carried no hash of a head, so nothing could check one, and
    // no release ever wrote format 1 (it lived a few commits, before any
    // release): refused. Its whole objects are still checked and read.
    return malformed();
  } else {
    const auto head_sha256 = j.find("head_sha256");
    if (head_sha256 == j.end() || !head_sha256->is_string()) return malformed();
    if (id_from_hex(head_sha256->get<std::string>()) != Sha256::of(*inline_bytes)) return malformed();
  }
  ActionRecord record{*id, *size, *put_time, std::move(*inline_bytes)};
  if (j.contains("stored_size")) {
    const auto stored_size = integer_field<std::uint64_t>(j, "stored_size");
    if (!stored_size || *stored_size == 0) return malformed();
    record.stored_size = *stored_size;
  }
  if (trust.keys) {
    const Signature signature{string_field(j, "key_id"), string_field(j, "sig")};
    switch (trust.keys->verify(signature, record_signed_content(action_id, record, signature.key_id))) {
      case SignatureCheck::kValid:
        break;
      case SignatureCheck::kUnsigned:
        return fail(problem, RecordProblem::kUnsigned);
      case SignatureCheck::kUnknownKey:
        return fail(problem, RecordProblem::kUnknownKey);
      case SignatureCheck::kWrong:
        return fail(problem, RecordProblem::kBadSignature);
    }
  }
  return record;
} catch (const json::exception&) {  // a field of the wrong type
  return fail(problem, RecordProblem::kMalformed);
}

}  // namespace gocachefs
