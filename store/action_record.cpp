#include "store/action_record.h"

#include <nlohmann/json.hpp>

#include "store/base64.h"
#include "store/remote/cas_encoding.h"

namespace gocachefs {

using nlohmann::json;

namespace {
constexpr int kFormatVersion = 1;
}

std::string encode_action_record(const ActionRecord& record) {
  json j{{"v", kFormatVersion},
         {"output_id", to_hex(record.output_id)},
         {"size", record.size},
         {"put_time_ns", record.put_time_ns}};
  // A prefix stays plain: the lazy mount reads it as it is.
  const auto frame = record.inlines_whole_object() ? compress_if_it_pays(record.inline_bytes) : std::nullopt;
  j["inline"] = base64::encode(frame ? *frame : record.inline_bytes);
  if (frame) j["inline_zstd"] = true;
  return j.dump();
}

std::optional<ActionRecord> decode_action_record(std::string_view bytes) try {
  const json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  // Not j.value("v", 0): it converts a float to int, undefined when it is out of range.
  const auto version = j.find("v");
  if (version == j.end() || !version->is_number_integer() || version->get<std::int64_t>() != kFormatVersion) {
    return std::nullopt;
  }
  const auto output_id = j.find("output_id");
  const auto size = j.find("size");
  const auto put_time = j.find("put_time_ns");
  const auto inline_text = j.find("inline");
  if (output_id == j.end() || !output_id->is_string() || size == j.end() || !size->is_number_unsigned() ||
      put_time == j.end() || !put_time->is_number_integer() || inline_text == j.end() || !inline_text->is_string()) {
    return std::nullopt;
  }
  ActionRecord record;
  const auto id = id_from_hex(output_id->get<std::string>());
  auto inline_bytes = base64::decode(inline_text->get<std::string>());
  if (!id || !inline_bytes) return std::nullopt;
  record.output_id = *id;
  record.size = size->get<std::uint64_t>();
  record.put_time_ns = put_time->get<std::int64_t>();
  if (j.value("inline_zstd", false)) {
    inline_bytes = decompress_frame(*inline_bytes, kInlineObjectLimit);
    if (!inline_bytes) return std::nullopt;
  }
  record.inline_bytes = std::move(*inline_bytes);
  if (record.inline_bytes.size() > record.size) return std::nullopt;
  return record;
} catch (const json::exception&) {  // a field of the wrong type
  return std::nullopt;
}

}  // namespace gocachefs
