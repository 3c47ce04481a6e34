// Reads a put body from the protocol stream: one line holding a JSON string
// of standard base64. The bytes are decoded in fixed-size chunks and handed to
// a sink as they arrive, so memory use does not depend on the body's size.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "src/input_stream.h"

namespace gocachefs {

using BodySink = std::function<void(const char* data, std::size_t size)>;

// Consumes the body line from `in` and streams its decoded bytes to `sink`
// (which may be empty, to skip a body). Returns an empty string when the body
// was valid base64 of exactly `expected_size` bytes, else what was wrong.
// Whatever is wrong, the stream is left at the start of the next request:
// a body line is consumed whole, and when the next line is a request rather
// than a body it is left unread.
std::string read_body(InputStream& in, std::uint64_t expected_size, const BodySink& sink);

}  // namespace gocachefs
