// Fuzzes parse_request (src/protocol.h) with one request line, then
// serialize() with a response built from what parsed.
// Checks: parse_request throws nothing but ProtocolError; serialize never
// throws and always writes one line of JSON that answers the same ID (and
// OutputID), even when the error or path it quotes is not UTF-8.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "src/input_stream.h"
#include "src/protocol.h"
#include "tests/fuzz/fuzz_support.h"

using namespace gocachefs;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  Request request;
  try {
    request = parse_request(line);
  } catch (const ProtocolError&) {
    return 0;  // the session reports it and exits: a correct answer
  }

  Response response{.id = request.id,
                    .err = request.error.empty() ? std::string(line) : request.error,  // raw bytes, maybe not UTF-8
                    .miss = request.command == "get",
                    .output_id = request.output_id ? request.output_id : request.action_id,
                    .size = request.body_size,
                    .time_ns = request.id,  // any int64, far past or future included
                    .disk_path = request.command};
  if (request.command == "close") response.known_commands = {request.command, "get", "put"};
  const std::string out = serialize(response);
  FUZZ_CHECK(!out.empty() && out.back() == '\n' && out.find('\n') == out.size() - 1);
  const auto parsed = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(parsed.is_object());
  FUZZ_CHECK(parsed.at("ID").get<std::int64_t>() == request.id);
  if (response.output_id) FUZZ_CHECK(id_from_base64(parsed.at("OutputID").get<std::string>()) == response.output_id);
  return 0;
}
