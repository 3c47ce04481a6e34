#include "store/action_record.h"

#include <nlohmann/json.hpp>

#include "store/base64.h"

namespace gocachefs {

using nlohmann::json;

namespace {
constexpr int kFormatVersion = 1;
}

std::string encode_action_record(const ActionRecord& record) {
  return json{{"v", kFormatVersion},
              {"output_id", to_hex(record.output_id)},
              {"size", record.size},
              {"put_time_ns", record.put_time_ns},
              {"inline", base64::encode(record.inline_bytes)}}
      .dump();
}

std::optional<ActionRecord> decode_action_record(std::string_view bytes) {
  const json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("v", 0) != kFormatVersion) return std::nullopt;
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
  auto prefix = base64::decode(inline_text->get<std::string>());
  if (!id || !prefix) return std::nullopt;
  record.output_id = *id;
  record.size = size->get<std::uint64_t>();
  record.put_time_ns = put_time->get<std::int64_t>();
  record.inline_bytes = std::move(*prefix);
  if (record.inline_bytes.size() > record.size) return std::nullopt;
  return record;
}

}  // namespace gocachefs
