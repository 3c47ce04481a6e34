#include "src/protocol.h"

#include <cstdint>
#include <ctime>

#include <nlohmann/json.hpp>

#include "src/input_stream.h"

namespace gocachefs {

using nlohmann::json;

namespace {

// Reads an ID field ([]byte in Go, so base64 in JSON). Absent is fine here;
// the command decides whether it needs one.
std::optional<Id> read_id(const json& object, const char* field, std::string& error) {
  const auto it = object.find(field);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) {
    error = std::string(field) + " is not a base64 string";
    return std::nullopt;
  }
  auto id = id_from_base64(it->get_ref<const std::string&>());
  if (!id) error = std::string(field) + " is not standard base64 of 32 bytes";
  return id;
}

}  // namespace

Request parse_request(std::string_view line) {
  // nlohmann's parser stops at a NUL and would take what precedes it.
  if (line.find('\0') != std::string_view::npos) throw ProtocolError("request line contains a NUL byte");
  const json object = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) throw ProtocolError("request is not valid JSON: " + std::string(line.substr(0, 200)));
  if (!object.is_object()) throw ProtocolError("request is not a JSON object: " + std::string(line.substr(0, 200)));
  const auto id = object.find("ID");
  if (id == object.end() || !id->is_number_integer()) {
    throw ProtocolError("request has no integer ID: " + std::string(line.substr(0, 200)));
  }
  // cmd/go's IDs are int64: a larger one cannot be answered without wrapping.
  if (id->is_number_unsigned() && id->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    throw ProtocolError("request ID is larger than an int64: " + std::string(line.substr(0, 200)));
  }

  Request request;
  request.id = id->get<std::int64_t>();
  if (const auto size = object.find("BodySize"); size != object.end()) {
    if (size->is_number_unsigned()) {
      request.body_size = size->get<std::uint64_t>();
    } else if (!size->is_number_integer() || size->get<std::int64_t>() != 0) {
      request.error = "BodySize is not a non-negative integer";
    }
  }
  if (const auto command = object.find("Command"); command != object.end() && command->is_string()) {
    request.command = command->get<std::string>();
  } else {
    request.error = "request has no Command";
    return request;
  }
  std::string error;
  request.action_id = read_id(object, "ActionID", error);
  request.output_id = read_id(object, "OutputID", error);
  if (request.error.empty()) request.error = error;
  return request;
}

std::string serialize(const Response& response) {
  json object = {{"ID", response.id}};
  if (!response.err.empty()) object["Err"] = response.err;
  if (!response.known_commands.empty()) object["KnownCommands"] = response.known_commands;
  if (response.miss) object["Miss"] = true;
  if (response.output_id) object["OutputID"] = id_to_base64(*response.output_id);
  if (response.size != 0) object["Size"] = response.size;
  if (response.time_ns) object["Time"] = format_rfc3339(*response.time_ns);
  if (!response.disk_path.empty()) object["DiskPath"] = response.disk_path;
  // Replace invalid UTF-8 (a path, an error quoting bad input) instead of
  // throwing: the response must always go out.
  std::string line = object.dump(-1, ' ', false, json::error_handler_t::replace);
  line += '\n';
  return line;
}

std::string format_rfc3339(std::int64_t unix_ns) {
  std::int64_t seconds = unix_ns / 1000000000;
  std::int64_t nanos = unix_ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    --seconds;
  }
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[64];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%09lldZ", static_cast<long long>(nanos));
  return text;
}

}  // namespace gocachefs
