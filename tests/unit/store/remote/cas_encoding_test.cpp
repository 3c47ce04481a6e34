#include "store/remote/cas_encoding.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <random>

#include <zstd.h>

#include "tests/support/subprocess.h"

namespace gocachefs {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

const std::string kMagic = "\x28\xb5\x2f\xfd";

std::string compressible(std::size_t n) {
  std::string s;
  for (int i = 0; s.size() < n; ++i) s += "package line " + std::to_string(i % 100) + "\n";
  s.resize(n);
  return s;
}

std::string random_bytes(std::size_t n) {
  std::mt19937 random(1);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(random());
  return s;
}

// Decodes `entry` fed in chunks of `chunk` bytes; nullopt when the decoder refuses.
std::optional<std::string> decode(const std::string& entry, std::size_t chunk) {
  std::string out;
  CasDecoder decoder([&](const char* data, std::size_t size) {
    out.append(data, size);
    return true;
  });
  for (std::size_t i = 0; i < entry.size(); i += chunk) {
    if (!decoder.feed(entry.data() + i, std::min(chunk, entry.size() - i))) return std::nullopt;
  }
  if (!decoder.finish()) return std::nullopt;
  return out;
}

class CasEncodingTest : public ::testing::Test {
 protected:
  std::string object(const std::string& bytes) {
    write_file(dir / "object", bytes);
    return dir / "object";
  }
  TempDir dir;
};

TEST_F(CasEncodingTest, SmallObjectIsSentAsItIs) {
  const CasUpload upload(object("small"), 5, dir.path());
  EXPECT_EQ(upload.file(), dir / "object");
  EXPECT_FALSE(upload.encoding().zstd);
  EXPECT_EQ(upload.stored_size(), 5u);
}

TEST_F(CasEncodingTest, CompressibleObjectIsSentAsAFrameThatDecodesBack) {
  const std::string bytes = compressible(300000);
  std::filesystem::path temp;
  {
    const CasUpload upload(object(bytes), bytes.size(), dir.path());
    ASSERT_TRUE(upload.encoding().zstd);
    EXPECT_EQ(upload.encoding().decoded_size, bytes.size());
    EXPECT_LT(upload.stored_size(), bytes.size() / 4);
    temp = upload.file();
    const std::string entry = read_file(temp);
    EXPECT_EQ(entry.size(), upload.stored_size());
    EXPECT_TRUE(entry.starts_with(kMagic));
    for (std::size_t chunk : {1ul, 7ul, 4096ul, entry.size()}) EXPECT_EQ(decode(entry, chunk), bytes) << chunk;
  }
  EXPECT_FALSE(std::filesystem::exists(temp)) << "the compressed temp file outlived the upload";
}

TEST_F(CasEncodingTest, IncompressibleObjectIsSentAsItIs) {
  const std::string bytes = random_bytes(100000);
  const CasUpload upload(object(bytes), bytes.size(), dir.path());
  EXPECT_FALSE(upload.encoding().zstd);
  EXPECT_EQ(upload.file(), dir / "object");
}

TEST_F(CasEncodingTest, ObjectThatLooksLikeAFrameIsAlwaysCompressed) {
  // Otherwise a reader would take the object for a frame.
  const std::string bytes = kMagic + "tiny";
  const CasUpload upload(object(bytes), bytes.size(), dir.path());
  ASSERT_TRUE(upload.encoding().zstd);
  EXPECT_EQ(decode(read_file(upload.file()), 3), bytes);
}

TEST_F(CasEncodingTest, StreamStartingWithASkippableFrameIsDecoded) {
  // As bazel-remote serves its compressed blobs: metadata in a skippable
  // frame, then the frame.
  const std::string bytes = compressible(50000);
  const CasUpload upload(object(bytes), bytes.size(), dir.path());
  const std::string skippable = std::string("\x50\x2a\x4d\x18\x03\x00\x00\x00", 8) + "abc";
  EXPECT_EQ(decode(skippable + read_file(upload.file()), 5), bytes);
  // And an object that begins like one is compressed, like one with the frame magic.
  const std::string lookalike = skippable + "tiny";
  const CasUpload small(object(lookalike), lookalike.size(), dir.path());
  EXPECT_TRUE(small.encoding().zstd);
}

TEST_F(CasEncodingTest, PlainEntriesPassThrough) {
  for (const std::string& bytes : {std::string(""), std::string("ab"), std::string("!<arch>\n"), random_bytes(70000)}) {
    EXPECT_EQ(decode(bytes, 1), bytes);
    EXPECT_EQ(decode(bytes, 1000), bytes);
  }
}

TEST_F(CasEncodingTest, TruncatedOrDamagedFramesAreRefused) {
  const std::string bytes = compressible(200000);
  const CasUpload upload(object(bytes), bytes.size(), dir.path());
  const std::string entry = read_file(upload.file());
  EXPECT_FALSE(decode(entry.substr(0, entry.size() / 2), 100)) << "truncated";
  EXPECT_FALSE(decode(kMagic + std::string(100, '\x7f'), 10)) << "garbage after the magic";
}

TEST_F(CasEncodingTest, SinkRefusalStopsDecoding) {
  const std::string bytes = compressible(200000);
  const CasUpload upload(object(bytes), bytes.size(), dir.path());
  const std::string entry = read_file(upload.file());
  std::size_t taken = 0;
  CasDecoder decoder([&](const char*, std::size_t size) {
    taken += size;
    return taken < 1000;  // "longer than the object"
  });
  EXPECT_FALSE(decoder.feed(entry.data(), entry.size()));
}

TEST(CasBufferTest, CompressesInMemoryOnlyWhenItPays) {
  EXPECT_FALSE(compress_if_it_pays(compressible(kCompressMinSize - 1))) << "too small to bother";
  EXPECT_FALSE(compress_if_it_pays(random_bytes(50000))) << "saves nothing";
  const std::string bytes = compressible(100000);
  const auto frame = compress_if_it_pays(bytes);
  ASSERT_TRUE(frame);
  EXPECT_LT(frame->size(), bytes.size() / 4);
  EXPECT_EQ(decompress_frame(*frame, bytes.size()), bytes);
  EXPECT_EQ(decode(*frame, 333), bytes) << "the same frames as cas entries";
}

TEST(CasBufferTest, DecompressRefusesWhatIsNotOneBoundedFrame) {
  const std::string bytes = compressible(100000);
  const std::string frame = *compress_if_it_pays(bytes);
  EXPECT_FALSE(decompress_frame(frame, bytes.size() - 1)) << "over the limit: a zstd bomb";
  EXPECT_FALSE(decompress_frame(frame.substr(0, frame.size() - 1), bytes.size())) << "truncated";
  EXPECT_FALSE(decompress_frame(frame + frame, 2 * bytes.size())) << "two frames";
  EXPECT_FALSE(decompress_frame("not zstd at all", bytes.size()));
  std::string damaged = frame;
  damaged[damaged.size() / 2] ^= 0x55;
  const auto out = decompress_frame(damaged, bytes.size());
  EXPECT_TRUE(!out || *out != bytes) << "damage is refused or at least never passes for the original";
}

// A zstd stream compressed with window log `window_log`, its size not in
// the frame (as a streaming writer leaves it).
std::string frame_with_window(const std::string& bytes, int window_log) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> context(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_windowLog, window_log);
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_contentSizeFlag, 0);
  std::string out(ZSTD_compressBound(bytes.size()) + 1024, '\0');
  ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
  ZSTD_outBuffer sink{out.data(), out.size(), 0};
  // Fed before the end is known, as a streaming writer does: the window
  // stays as set (zstd shrinks it to a size it knows).
  ZSTD_compressStream2(context.get(), &sink, &in, ZSTD_e_continue);
  ZSTD_inBuffer none{nullptr, 0, 0};
  EXPECT_EQ(ZSTD_compressStream2(context.get(), &sink, &none, ZSTD_e_end), 0u);
  out.resize(sink.pos);
  return out;
}

// A stream may make its decoder allocate its window: 128 MiB each by zstd's
// default. Ours and bazel-remote's use at most 8 MiB; 16 MiB are accepted.
TEST(CasDecoderTest, WindowsOverTheLimitAreRefused) {
  const std::string bytes = compressible(200000);
  EXPECT_EQ(decode(frame_with_window(bytes, kMaxWindowLog), 4096), bytes);
  std::string out;
  CasDecoder decoder([&](const char* data, std::size_t size) {
    out.append(data, size);
    return true;
  });
  const std::string wide = frame_with_window(bytes, kMaxWindowLog + 3);  // 128 MiB
  EXPECT_FALSE(decoder.feed(wide.data(), wide.size()) && decoder.finish());
  EXPECT_TRUE(out.empty());
}

// A small frame that expands far beyond what the record declared: the
// reader's sink stops it at the declared size, having held one buffer.
TEST(CasDecoderTest, AZstdBombStopsWhereTheSinkSays) {
  const std::string bomb = frame_with_window(std::string(64 << 20, '\0'), 20);
  ASSERT_LT(bomb.size(), 64u * 1024);
  constexpr std::uint64_t kDeclared = 1 << 20;
  std::uint64_t received = 0;
  CasDecoder decoder([&](const char*, std::size_t size) {
    if (received + size > kDeclared) return false;
    received += size;
    return true;
  });
  EXPECT_FALSE(decoder.feed(bomb.data(), bomb.size()));
  EXPECT_LE(received, kDeclared);
}

}  // namespace
}  // namespace gocachefs
