#include "src/body_decoder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "store/base64.h"

namespace gocachefs {

namespace {

struct Decoded {
  std::string error;
  std::string bytes;
  std::string rest;  // what the stream holds after the body
};

// Runs read_body over `stream` through a real pipe with a small buffer, so
// that bodies cross many refills.
Decoded decode(const std::string& stream, std::uint64_t expected_size, std::size_t buffer = 1000) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  std::thread writer([&] {
    std::size_t off = 0;
    while (off < stream.size()) off += static_cast<std::size_t>(write(fds[1], stream.data() + off, stream.size() - off));
    close(fds[1]);
  });
  InputStream in(fds[0], buffer);
  Decoded out;
  out.error = read_body(in, expected_size, [&](const char* d, std::size_t n) { out.bytes.append(d, n); });
  while (auto line = in.read_line(1 << 20)) out.rest += *line + "\n";
  writer.join();
  close(fds[0]);
  return out;
}

std::string body_of(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 + (i >> 7));
  return s;
}

}  // namespace

TEST(ReadBody, DecodesBodiesOfManySizes) {
  for (std::size_t n : {1, 2, 3, 4, 5, 100, 999, 1000, 1001, 4096, 300001}) {
    const std::string body = body_of(n);
    const Decoded d = decode("\n\"" + base64::encode(body) + "\"\n{\"ID\":2}\n", n);
    EXPECT_EQ(d.error, "") << n;
    EXPECT_EQ(d.bytes, body) << n;
    EXPECT_EQ(d.rest, "{\"ID\":2}\n") << n;
  }
}

TEST(ReadBody, TinyBufferSplitsQuartetsEverywhere) {
  for (std::size_t buffer : {1, 2, 3, 5, 7}) {
    const std::string body = body_of(200);
    const Decoded d = decode("\"" + base64::encode(body) + "\"\n", body.size(), buffer);
    EXPECT_EQ(d.error, "") << buffer;
    EXPECT_EQ(d.bytes, body) << buffer;
  }
}

TEST(ReadBody, StreamsLargeBodiesInBoundedPieces) {
  const std::string body = body_of(3 << 20);
  std::size_t largest_piece = 0, total = 0;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const std::string stream = "\"" + base64::encode(body) + "\"\n";
  std::thread writer([&] {
    std::size_t off = 0;
    while (off < stream.size()) off += static_cast<std::size_t>(write(fds[1], stream.data() + off, stream.size() - off));
    close(fds[1]);
  });
  InputStream in(fds[0], 64 * 1024);
  EXPECT_EQ(read_body(in, body.size(),
                      [&](const char*, std::size_t n) {
                        largest_piece = std::max(largest_piece, n);
                        total += n;
                      }),
            "");
  writer.join();
  close(fds[0]);
  EXPECT_EQ(total, body.size());
  EXPECT_LE(largest_piece, 256u * 1024);
}

TEST(ReadBody, AcceptsJsonEscapesOfBase64Characters) {
  const Decoded d = decode(R"("\/\/\u002b\u002B")" "\n", 3);
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.bytes, *base64::decode("//++"));
}

TEST(ReadBody, WrongLengthIsAnError) {
  const std::string b64 = base64::encode("hello");
  EXPECT_NE(decode("\"" + b64 + "\"\n", 4).error, "");
  EXPECT_NE(decode("\"" + b64 + "\"\n", 6).error, "");
  EXPECT_NE(decode("\"" + b64 + "\"\n", 6000).error, "");
}

TEST(ReadBody, InvalidBase64IsAnErrorAndTheLineIsConsumed) {
  for (const std::string bad : {"\"aGVsbG8\"", "\"aGV sbG8=\"", "\"aGVs*G8=\"", "\"aA==aA==\"", "\"aGVsbG8=\\n\"",
                                "\"aGVsbG8=\" trailing"}) {
    const Decoded d = decode(bad + "\n{\"ID\":5}\n", 5);
    EXPECT_NE(d.error, "") << bad;
    EXPECT_EQ(d.rest, "{\"ID\":5}\n") << bad;
  }
}

TEST(ReadBody, MissingBodyLeavesTheNextRequestUnread) {
  const Decoded d = decode("\n{\"ID\":5,\"Command\":\"get\"}\n", 5);
  EXPECT_NE(d.error, "");
  EXPECT_EQ(d.rest, "{\"ID\":5,\"Command\":\"get\"}\n");
}

TEST(ReadBody, NonStringBodyLineIsConsumed) {
  const Decoded d = decode("12345\n{\"ID\":5}\n", 5);
  EXPECT_NE(d.error, "");
  EXPECT_EQ(d.rest, "{\"ID\":5}\n");
}

TEST(ReadBody, EndOfInputIsAnError) {
  EXPECT_NE(decode("", 5).error, "");
  EXPECT_NE(decode("\"aGVs", 5).error, "");
  EXPECT_NE(decode("\"aGVsbG8=", 5).error, "");
}

TEST(ReadBody, UnterminatedStringStopsAtTheLineEnd) {
  const Decoded d = decode("\"aGVsbG8=\n{\"ID\":5}\n", 5);
  EXPECT_NE(d.error, "");
  EXPECT_EQ(d.rest, "{\"ID\":5}\n");
}

// Found by tests/fuzz/stream_fuzzer: the line end after a backslash was
// taken as the escaped character, and the next request as more of the body.
TEST(ReadBody, EscapeCutByTheLineEndStopsThere) {
  for (const std::string line : {"\"aGVsbG8=\\", "\"aGVsbG8=\\u", "\"aGVsbG8=\\u00"}) {
    const Decoded d = decode(line + "\n{\"ID\":5,\"Command\":\"get\"}\n", 5);
    EXPECT_NE(d.error, "") << line;
    EXPECT_EQ(d.rest, "{\"ID\":5,\"Command\":\"get\"}\n") << line;
  }
}

// A BodySize is what the go command says; a huge one makes us hold no more
// than a chunk, whatever the body is.
TEST(ReadBody, AHugeDeclaredSizeAllocatesNothingForIt) {
  const auto out = decode("\"" + base64::encode(body_of(1000)) + "\"\nrest\n", std::uint64_t{1} << 62);
  EXPECT_NE(out.error.find("BodySize"), std::string::npos) << out.error;
  EXPECT_EQ(out.rest, "rest\n");
}

}  // namespace gocachefs
