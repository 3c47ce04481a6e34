// Fuzzes a whole request stream as cmd/go writes it (request line, blank
// line, then a body line when BodySize > 0), read by the loop of
// Session::serve(): read_line, parse_request, then read_body for a put or
// skip_body for anything else. The request lines are well-formed and
// numbered 1, 2, ...; commands, IDs and sizes vary, and the bodies are any
// bytes on one line after the opening quote, valid or not, or missing.
// Checks that the reader stays in step: every request line is read, in
// order, as a request, however broken the bodies between them; and a valid
// put body is decoded to the bytes that were sent.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "src/body_decoder.h"
#include "src/protocol.h"
#include "store/base64.h"
#include "store/ids.h"
#include "tests/fuzz/fuzz_support.h"

using namespace gocachefs;

namespace {

constexpr std::size_t kMaxRequestLine = 64 * 1024;  // as in src/session.cpp

// An ActionID or OutputID field: absent, invalid or valid.
struct IdField {
  std::string json;
  bool valid = false;
};

IdField id_field(FuzzedDataProvider& input, const char* name) {
  switch (input.ConsumeIntegralInRange(0, 3)) {
    case 0: return {};
    case 1: return {std::string(",\"") + name + "\":\"YWJj\""};  // not 32 bytes
    default: {
      Id id{};
      for (auto& b : id) b = input.ConsumeIntegral<std::uint8_t>();
      return {std::string(",\"") + name + "\":\"" + id_to_base64(id) + "\"", true};
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const std::size_t buffer_size = fuzz::buffer_size_from(input.ConsumeIntegral<std::uint8_t>());

  std::string stream;
  // Per request sent: the body it must be decoded to, for a valid put.
  std::vector<std::optional<std::string>> sent;
  while (input.remaining_bytes() > 0 && sent.size() < 16) {
    const std::int64_t id = static_cast<std::int64_t>(sent.size()) + 1;
    const std::string command = input.PickValueInArray({"get", "put", "put", "stat"});
    const IdField action_id = id_field(input, "ActionID");
    const IdField output_id = id_field(input, "OutputID");
    const std::string payload = input.ConsumeRandomLengthString(300);
    // The size cmd/go declares: the payload's, or a wrong one.
    const auto body_size = input.ConsumeBool() ? payload.size() : input.ConsumeIntegralInRange<std::size_t>(0, 400);
    stream += "{\"ID\":" + std::to_string(id) + ",\"Command\":\"" + command + "\"" + action_id.json + output_id.json;
    if (body_size > 0) stream += ",\"BodySize\":" + std::to_string(body_size);
    stream += input.ConsumeBool() ? "}\n\n" : "}\r\n";

    std::optional<std::string> valid_body;
    if (body_size > 0) {
      switch (input.ConsumeIntegralInRange(0, 2)) {
        case 0:  // missing: the next request comes instead
          break;
        case 1:  // what cmd/go sends
          stream += "\"" + base64::encode(payload) + "\"\n";
          if (command == "put" && action_id.valid && output_id.valid && body_size == payload.size()) {
            valid_body = payload;
          }
          break;
        default: {  // anything on one line
          std::string line = "\"" + payload;
          std::erase(line, '\n');
          stream += line + "\n";
        }
      }
    }
    sent.push_back(valid_body);
  }

  // `FUZZ_PRINT=1 build-fuzz/stream_fuzzer INPUT` shows the stream an input stands for.
  if (std::getenv("FUZZ_PRINT")) std::fwrite(stream.data(), 1, stream.size(), stderr);
  InputStream in(fuzz::fd_reading(stream), buffer_size);
  std::size_t received = 0;
  while (auto line = in.read_line(kMaxRequestLine)) {
    if (line->find_first_not_of(" \t\r") == std::string::npos) continue;
    Request request;
    try {
      request = parse_request(*line);
    } catch (const ProtocolError& e) {
      std::fprintf(stderr, "out of step after %zu requests: %s\n", received, e.what());
      std::abort();
    }
    FUZZ_CHECK(received < sent.size() && request.id == static_cast<std::int64_t>(received) + 1);
    const std::optional<std::string>& valid_body = sent[received++];
    if (request.error.empty() && request.command == "put" && request.action_id && request.output_id) {
      if (request.body_size == 0) continue;
      std::string body;
      const std::string error = read_body(in, request.body_size, [&](const char* d, std::size_t n) { body.append(d, n); });
      if (valid_body) FUZZ_CHECK(error.empty() && body == *valid_body);
    } else if (request.body_size > 0 && in.peek_after_whitespace() == '"') {
      read_body(in, request.body_size, nullptr);
    }
  }
  FUZZ_CHECK(received == sent.size());
  return 0;
}
