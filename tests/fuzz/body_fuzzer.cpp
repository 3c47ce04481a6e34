// Fuzzes read_body (src/body_decoder.h): the put body line, read through an
// InputStream whose small buffer splits it at every point.
// Checks read_body against a reference that takes the line whole: parse it
// as a JSON string, decode that as base64. read_body must accept exactly
// the bodies the reference accepts, hand the sink the same bytes, and leave
// the stream at the next request: the body line consumed whole, or nothing
// consumed when a request line ('{') comes instead of a body.
//
// Input: byte 0 picks the buffer size, bytes 1-2 the expected size
// (little-endian; 0xffff: whatever the reference decodes), then the stream.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "src/body_decoder.h"
#include "store/base64.h"
#include "tests/fuzz/fuzz_support.h"

using namespace gocachefs;

namespace {

struct Outcome {
  std::optional<std::string> body;  // empty when the body is refused
  std::string rest;                 // the stream after it
};

Outcome reference(std::string_view stream) {
  const std::size_t start = stream.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return {};
  stream.remove_prefix(start);
  if (stream.front() == '{') return {std::nullopt, std::string(stream)};
  const std::size_t end = stream.find('\n');
  const std::string rest(end == std::string_view::npos ? "" : stream.substr(end + 1));
  std::string_view line = stream.substr(0, end);
  line = line.substr(0, line.find_last_not_of(" \t\r") + 1);  // blanks may follow the string
  // A raw NUL is never valid JSON, but nlohmann::json stops at one.
  if (line.front() != '"' || line.find('\0') != std::string_view::npos) return {std::nullopt, rest};
  const auto text = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!text.is_string()) return {std::nullopt, rest};
  return {base64::decode(text.get_ref<const std::string&>()), rest};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::size_t buffer_size = fuzz::buffer_size_from(data[0]);
  const std::uint64_t size_field = data[1] | data[2] << 8;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 3, size - 3);

  Outcome expected = reference(stream);
  const std::uint64_t expected_size = size_field == 0xffff && expected.body ? expected.body->size() : size_field;
  if (expected.body && expected.body->size() != expected_size) expected.body.reset();

  InputStream in(fuzz::fd_reading(stream), buffer_size);
  std::string body;
  const std::string error = read_body(in, expected_size, [&](const char* d, std::size_t n) { body.append(d, n); });
  std::string rest;
  for (std::string_view view; !(view = in.available()).empty(); in.consume(view.size())) rest.append(view);

  FUZZ_CHECK(error.empty() == expected.body.has_value());
  if (error.empty()) FUZZ_CHECK(body == *expected.body);
  FUZZ_CHECK(rest == expected.rest);
  return 0;
}
