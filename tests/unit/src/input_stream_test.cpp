#include "src/input_stream.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

namespace gocachefs {

// Feeds `text` through a pipe, from another thread, as a real stream would.
class PipeFeed {
 public:
  explicit PipeFeed(std::string text) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    read_fd = fds[0];
    writer_ = std::thread([text = std::move(text), fd = fds[1]] {
      std::size_t off = 0;
      while (off < text.size()) off += static_cast<std::size_t>(write(fd, text.data() + off, text.size() - off));
      close(fd);
    });
  }
  ~PipeFeed() {
    writer_.join();
    close(read_fd);
  }
  int read_fd;

 private:
  std::thread writer_;
};

TEST(InputStream, ReadsLinesAcrossBufferRefills) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "line " + std::to_string(i) + "\n";
  text += "last without newline";
  PipeFeed feed(text);
  InputStream in(feed.read_fd, 16);  // tiny buffer: every line crosses refills
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(in.read_line(100), "line " + std::to_string(i));
  EXPECT_EQ(in.read_line(100), "last without newline");
  EXPECT_EQ(in.read_line(100), std::nullopt);
}

TEST(InputStream, OverlongLineIsAProtocolError) {
  PipeFeed feed(std::string(5000, 'x') + "\n");
  InputStream in(feed.read_fd, 64);
  EXPECT_THROW(in.read_line(1000), ProtocolError);
}

TEST(InputStream, PeeksPastBlankLines) {
  PipeFeed feed("\n\r\n  \"body\"\n");
  InputStream in(feed.read_fd, 4);
  EXPECT_EQ(in.peek_after_whitespace(), '"');
  EXPECT_EQ(in.read_line(100), "\"body\"");
  EXPECT_EQ(in.peek_after_whitespace(), -1);
}

}  // namespace gocachefs
