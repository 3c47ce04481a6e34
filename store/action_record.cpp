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

}  // namespace

std::string encode_action_record(const ActionRecord& record) {
  // Compressed when that pays, a large object's prefix too: every get reads
  // a record, and the lazy mount decompresses a head as cheaply as an object.
  const auto frame = compress_if_it_pays(record.inline_bytes);
  const std::string& body = frame ? *frame : record.inline_bytes;
  json header{{"v", kFormatVersion},
              {"output_id", to_hex(record.output_id)},
              {"size", record.size},
              {"put_time_ns", record.put_time_ns},
              {"inline_size", body.size()}};
  if (frame) header["inline_zstd"] = true;
  if (!record.inlines_whole_object()) header["head_sha256"] = to_hex(Sha256::of(record.inline_bytes));
  return header.dump() + "\n" + body;  // dump() writes no newline of its own
}

std::optional<ActionRecord> decode_action_record(std::string_view bytes) try {
  const std::size_t newline = bytes.find('\n');
  const json j = json::parse(bytes.substr(0, newline), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  const auto version = integer_field<std::int64_t>(j, "v");
  const auto output_id = j.find("output_id");
  const auto size = integer_field<std::uint64_t>(j, "size");
  const auto put_time = integer_field<std::int64_t>(j, "put_time_ns");
  if (!version || output_id == j.end() || !output_id->is_string() || !size || !put_time) return std::nullopt;
  const auto id = id_from_hex(output_id->get<std::string>());
  if (!id) return std::nullopt;

  std::optional<std::string> inline_bytes;
  if (*version == 2 && newline != std::string_view::npos) {
    const auto inline_size = integer_field<std::uint64_t>(j, "inline_size");
    const std::string_view body = bytes.substr(newline + 1);
    if (!inline_size || body.size() != *inline_size) return std::nullopt;  // truncated, or more than said
    inline_bytes = std::string(body);
  } else if (*version == 1 && newline == std::string_view::npos) {
    const auto inline_text = j.find("inline");
    if (inline_text == j.end() || !inline_text->is_string()) return std::nullopt;
    inline_bytes = base64::decode(inline_text->get<std::string>());
  }
  if (!inline_bytes) return std::nullopt;
  if (j.value("inline_zstd", false)) {
    inline_bytes = decompress_frame(*inline_bytes, kInlineObjectLimit);
    if (!inline_bytes) return std::nullopt;
  }
  if (inline_bytes->size() > *size) return std::nullopt;
  // Inline bytes are checked here, not only when an object is stored: the
  // lazy mount serves a head as it is, and a record whose bytes were damaged
  // on the way says nothing trustworthy (base64 in format 1 failed to decode).
  if (inline_bytes->size() == *size) {
    if (Sha256::of(*inline_bytes) != *id) return std::nullopt;
  } else if (*version >= 2) {
    const auto head_sha256 = j.find("head_sha256");
    if (head_sha256 == j.end() || !head_sha256->is_string()) return std::nullopt;
    if (id_from_hex(head_sha256->get<std::string>()) != Sha256::of(*inline_bytes)) return std::nullopt;
  }
  return ActionRecord{*id, *size, *put_time, std::move(*inline_bytes)};
} catch (const json::exception&) {  // a field of the wrong type
  return std::nullopt;
}

}  // namespace gocachefs
