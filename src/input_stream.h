// Buffered reading of the protocol stream from a file descriptor, with a
// fixed-size buffer so that nothing (not even a 1 GiB put body) is held whole.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gocachefs {

// The stream cannot be understood any more: gocachefs must say why and exit.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InputStream {
 public:
  explicit InputStream(int fd, std::size_t buffer_size = 1 << 20);

  // The next line without its '\n' (a final line without one is returned
  // too); nullopt at end of input. A line longer than `max_length` is a
  // ProtocolError: request lines are small, so it is not a request.
  std::optional<std::string> read_line(std::size_t max_length);

  // Skips spaces, tabs and line ends; returns the next byte without
  // consuming it, or -1 at end of input.
  int peek_after_whitespace();

  // Buffered bytes, reading more when none are buffered; empty only at end
  // of input. Call consume() for what was used.
  std::string_view available();
  void consume(std::size_t n) { begin_ += n; }

 private:
  bool fill();  // reads more bytes; false at end of input

  int fd_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // unread bytes are buffer_[begin_, end_)
  std::size_t end_ = 0;
  bool eof_ = false;
};

}  // namespace gocachefs
