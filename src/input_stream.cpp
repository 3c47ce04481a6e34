#include "src/input_stream.h"

#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

namespace gocachefs {

namespace {
constexpr std::chrono::microseconds kSpinBeforeSleeping{200};
}  // namespace

InputStream::InputStream(int fd, std::size_t buffer_size) : fd_(fd), buffer_(buffer_size) {}

bool InputStream::fill() {
  if (eof_) return false;
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (end_ == buffer_.size()) {
    // Keep the unread tail and make room behind it.
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (end_ == buffer_.size()) return true;  // full: the caller consumes first
  }
  // Waking a thread blocked in read() from another CPU costs ~40 us on a VM,
  // and cmd/go sends requests back to back, one or two at a time: polling for
  // a moment first answers the next one without that wake-up.
  const auto spin_until = std::chrono::steady_clock::now() + kSpinBeforeSleeping;
  pollfd pfd{fd_, POLLIN, 0};
  // Yielding while polling lets a peer on the same CPU run and send.
  while (poll(&pfd, 1, 0) == 0 && std::chrono::steady_clock::now() < spin_until) sched_yield();
  for (;;) {
    const ssize_t n = read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno != EINTR) throw ProtocolError(std::string("reading standard input: ") + std::strerror(errno));
  }
}

std::optional<std::string> InputStream::read_line(std::size_t max_length) {
  std::string line;
  for (;;) {
    const char* start = buffer_.data() + begin_;
    const std::size_t size = end_ - begin_;
    if (const void* nl = std::memchr(start, '\n', size)) {
      const std::size_t n = static_cast<std::size_t>(static_cast<const char*>(nl) - start);
      if (line.size() + n > max_length) throw ProtocolError("request line longer than " + std::to_string(max_length));
      line.append(start, n);
      begin_ += n + 1;
      return line;
    }
    line.append(start, size);
    begin_ = end_;
    if (line.size() > max_length) throw ProtocolError("request line longer than " + std::to_string(max_length));
    if (!fill()) {
      if (line.empty()) return std::nullopt;
      return line;
    }
  }
}

int InputStream::peek_after_whitespace() {
  for (;;) {
    while (begin_ < end_) {
      const char c = buffer_[begin_];
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return static_cast<unsigned char>(c);
      ++begin_;
    }
    if (!fill()) return -1;
  }
}

std::string_view InputStream::available() {
  if (begin_ == end_) fill();
  return {buffer_.data() + begin_, end_ - begin_};
}

}  // namespace gocachefs
