#include "src/body_decoder.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "store/base64.h"

namespace gocachefs {

namespace {

// Base64 text decoded per call: large enough to amortise the call, small
// enough that the decoded chunk stays in L2 while SHA-256 and write() use it.
constexpr std::size_t kTextChunk = 256 * 1024;

class Base64Stream {
 public:
  // Most bodies are small: the chunk (and the buffer, left uninitialised)
  // is no larger than the body's text, so a put costs no 192 KiB memset.
  Base64Stream(std::uint64_t expected_size, const BodySink& sink)
      : expected_size_(expected_size),
        sink_(sink),
        chunk_(std::min<std::uint64_t>(kTextChunk, (expected_size + 2) / 3 * 4 + 4)),
        decoded_(new char[base64::decoded_capacity(chunk_)]) {}

  // Feeds base64 text (no quotes or escapes), in pieces of any length.
  void feed(const char* text, std::size_t size) {
    if (!error_.empty() || size == 0) return;
    while (quad_size_ > 0 && quad_size_ < 4 && size > 0) {
      quad_[quad_size_++] = *text++;
      --size;
    }
    if (quad_size_ == 4) {
      decode(quad_, 4);
      quad_size_ = 0;
    }
    if (quad_size_ > 0) return;  // all of it went into the split quartet
    const std::size_t whole = size / 4 * 4;
    for (std::size_t offset = 0; offset < whole; offset += chunk_) {
      decode(text + offset, std::min(chunk_, whole - offset));
    }
    quad_size_ = size - whole;
    std::memcpy(quad_, text + whole, quad_size_);
  }

  void fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }

  // The error, if any, once the whole text has been fed.
  std::string finish() {
    if (error_.empty() && quad_size_ != 0) fail("invalid base64 in put body: length is not a multiple of 4");
    if (error_.empty() && size_ != expected_size_) {
      fail("put body has " + std::to_string(size_) + " bytes but BodySize is " + std::to_string(expected_size_));
    }
    return error_;
  }

 private:
  void decode(const char* text, std::size_t size) {
    if (!error_.empty()) return;
    if (padded_) return fail("invalid base64 in put body: data after padding");
    // '=' may only pad the very last quartet; modp_b64 checks its position
    // within this piece, so a piece that has one must be the last.
    if (std::memchr(text, '=', size) != nullptr) padded_ = true;
    const auto n = base64::decode_into({text, size}, decoded_.get());
    if (!n) return fail("invalid base64 in put body");
    size_ += *n;
    if (size_ > expected_size_) {
      return fail("put body is longer than BodySize " + std::to_string(expected_size_));
    }
    if (sink_) sink_(decoded_.get(), *n);
  }

  std::uint64_t expected_size_;
  const BodySink& sink_;
  std::size_t chunk_;  // a multiple of 4
  std::unique_ptr<char[]> decoded_;
  char quad_[4] = {};  // a quartet split across pieces
  std::size_t quad_size_ = 0;
  std::uint64_t size_ = 0;
  bool padded_ = false;
  std::string error_;
};

// The next byte of an escape, or -1 at end of input. A line end is left
// unread: it ends the body line, however broken the escape before it, so
// the next request is not taken for more of the body.
int next_byte(InputStream& in) {
  const std::string_view view = in.available();
  if (view.empty()) return -1;
  if (view[0] != '\n') in.consume(1);
  return static_cast<unsigned char>(view[0]);
}

int hex_digit(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes a JSON escape (after its backslash). JSON lets an encoder escape
// '/' and write any character as \uXXXX; every other escape stands for a
// character outside the base64 alphabet. Returns -1 when it is not one we
// can use in base64, -2 at end of input.
int read_escape(InputStream& in) {
  const int c = next_byte(in);
  if (c < 0) return -2;
  if (c == '/') return '/';
  if (c != 'u') return -1;
  int code = 0;
  for (int i = 0; i < 4; ++i) {
    const int digit_char = next_byte(in);
    if (digit_char < 0) return -2;
    const int digit = hex_digit(digit_char);
    if (digit < 0) return -1;
    code = code * 16 + digit;
  }
  return code < 0x80 ? code : -1;
}

// Consumes the rest of the current line, including its '\n'.
void skip_line(InputStream& in) {
  for (;;) {
    const std::string_view view = in.available();
    if (view.empty()) return;
    if (const void* nl = std::memchr(view.data(), '\n', view.size())) {
      in.consume(static_cast<std::size_t>(static_cast<const char*>(nl) - view.data()) + 1);
      return;
    }
    in.consume(view.size());
  }
}

}  // namespace

std::string read_body(InputStream& in, std::uint64_t expected_size, const BodySink& sink) {
  const int first = in.peek_after_whitespace();
  if (first < 0) return "end of input where the put body was expected";
  if (first == '{') return "put body is missing (a request came instead)";
  if (first != '"') {
    skip_line(in);
    return "put body is not a JSON string";
  }
  in.consume(1);

  Base64Stream body(expected_size, sink);
  for (;;) {
    const std::string_view view = in.available();
    if (view.empty()) {
      body.fail("end of input inside the put body");
      return body.finish();
    }
    // The plain run ends at the closing quote, an escape or (in a broken
    // stream) the end of the line.
    const char* data = view.data();
    std::size_t run = view.size();
    for (const char stop : {'"', '\\', '\n'}) {
      if (const void* p = std::memchr(data, stop, run)) run = static_cast<std::size_t>(static_cast<const char*>(p) - data);
    }
    body.feed(data, run);
    in.consume(run);
    if (run == view.size()) continue;

    const char stop = data[run];
    in.consume(1);
    if (stop == '"') break;
    if (stop == '\n') {
      body.fail("put body line ends inside its JSON string");
      return body.finish();
    }
    const int escaped = read_escape(in);
    if (escaped == -2) {
      body.fail("end of input inside the put body");
      return body.finish();
    }
    if (escaped < 0) {
      body.fail("invalid base64 in put body: escaped character outside the base64 alphabet");
    } else {
      const char c = static_cast<char>(escaped);
      body.feed(&c, 1);
    }
  }

  // After the closing quote only blanks may follow on the line.
  for (;;) {
    const std::string_view view = in.available();
    if (view.empty()) break;
    const char c = view[0];
    if (c == '\n') {
      in.consume(1);
      break;
    }
    if (c != ' ' && c != '\t' && c != '\r') {
      body.fail("unexpected text after the put body");
      skip_line(in);
      break;
    }
    in.consume(1);
  }
  return body.finish();
}

}  // namespace gocachefs
