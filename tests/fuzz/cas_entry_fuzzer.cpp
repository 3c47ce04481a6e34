// Fuzzes the decoding of cas/<OutputID> entries (store/remote/cas_encoding.h)
// with what a remote may return: plain bytes, zstd frames, bazel-remote style
// streams that open with a skippable frame, and garbage. CasDecoder is fed
// each entry whole and in chunks whose sizes come from the input.
// Checks, for any entry: one that does not start with a zstd magic number
// passes through unchanged; the decodings that succeed agree with each other
// and with zstd's one-shot decoder. Which ones succeed may differ for a
// broken frame, as zstd's streaming decoder is laxer than its one-shot one
// in places (a frame ending in an empty block is not checked against its
// declared size; an RLE block may exceed the block size limit): the fetch's
// size and SHA-256 check refuses what that lets through.
// For a valid entry, made by zstd from the input: every chunking decodes it.
// A sink that refuses is not called again. decompress_frame accepts only one
// frame of at most max_size bytes. compress_if_it_pays round-trips.
//
// Input: byte 0 = mode (top 2 bits: 0-1 the rest is the entry, 2 it is the
// object to compress into a frame, 3 into a bazel-remote style stream) and
// the first chunk size; byte 1 = the second chunk size; then the bytes.
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/remote/cas_encoding.h"
#include "tests/fuzz/fuzz_support.h"

using namespace gocachefs;

namespace {

// Larger outputs are refused by the sink, as a fetch refuses an entry longer
// than its object; this keeps zstd bombs cheap.
constexpr std::size_t kMaxOutput = 1 << 20;

// The entry decoded in chunks of `a`, `b`, `a`, ... bytes (0 and 0: whole);
// nullopt when the decoder refuses it.
std::optional<std::string> decode(std::string_view entry, std::size_t a, std::size_t b) {
  std::string out;
  bool refused = false;
  CasDecoder decoder([&](const char* data, std::size_t size) {
    FUZZ_CHECK(!refused);  // a refusal ends the fetch
    out.append(data, size);
    refused = out.size() > kMaxOutput;
    return !refused;
  });
  if (a == 0 && b == 0) a = entry.size();
  for (std::size_t i = 0, n = 0; i < entry.size() || n == 0; ++n) {
    const std::size_t chunk = std::min(n % 2 ? b : a, entry.size() - i);
    if (!decoder.feed(entry.data() + i, chunk)) return std::nullopt;
    i += chunk;
  }
  if (!decoder.finish()) return std::nullopt;
  return out;
}

bool starts_with_zstd_magic(std::string_view entry) {
  if (entry.size() < 4) return false;
  const auto* b = reinterpret_cast<const unsigned char*>(entry.data());
  return (b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) ||
         ((b[0] & 0xf0) == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18);
}

// What zstd's one-shot decoder makes of the entry; nullopt when it refuses.
std::optional<std::string> one_shot(std::string_view entry) {
  static std::string buffer(kMaxOutput, '\0');
  const std::size_t n = ZSTD_decompress(buffer.data(), buffer.size(), entry.data(), entry.size());
  if (ZSTD_isError(n)) return std::nullopt;
  return buffer.substr(0, n);
}

void check_any_entry(std::string_view entry, std::size_t a, std::size_t b) {
  const auto whole = decode(entry, 0, 0);
  const auto chunked = decode(entry, a, b);
  if (!starts_with_zstd_magic(entry)) {
    FUZZ_CHECK(whole && *whole == entry);
    FUZZ_CHECK(chunked && *chunked == entry);
    return;
  }
  if (whole && chunked) FUZZ_CHECK(*whole == *chunked);
  if (whole || chunked) {
    if (const auto expected = one_shot(entry)) FUZZ_CHECK(*expected == (whole ? *whole : *chunked));
  }
}

// `object` as a gocachefs upload stores it (level 1, size declared), or as
// bazel-remote serves it: a skippable frame of metadata, then a frame that
// does not declare its size, with a checksum.
std::string encode(std::string_view object, bool bazel_remote_style) {
  static ZSTD_CCtx* const context = ZSTD_createCCtx();
  ZSTD_CCtx_reset(context, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, kCompressLevel);
  ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, !bazel_remote_style);
  ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, bazel_remote_style);
  std::string frame(ZSTD_compressBound(object.size()), '\0');
  ZSTD_inBuffer in{object.data(), object.size(), 0};
  ZSTD_outBuffer out{frame.data(), frame.size(), 0};
  // Streamed, so that a frame can leave its size out.
  while (const std::size_t left = ZSTD_compressStream2(context, &out, &in, ZSTD_e_end)) FUZZ_CHECK(!ZSTD_isError(left));
  frame.resize(out.pos);
  if (!bazel_remote_style) return frame;
  return std::string("\x50\x2a\x4d\x18\x03\x00\x00\x00" "abc", 11) + frame;
}

void check_valid_entry(std::string_view object, bool bazel_remote_style, std::size_t a, std::size_t b) {
  const std::string entry = encode(object, bazel_remote_style);
  FUZZ_CHECK(decode(entry, 0, 0) == object);
  FUZZ_CHECK(decode(entry, a, b) == object);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t a = data[0] % 64, b = data[1] % 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  const int mode = data[0] >> 6;
  if (mode < 2) {
    check_any_entry(bytes, a, b);
  } else {
    check_valid_entry(bytes, mode == 3, a, b);
  }

  const std::size_t max_size = data[1] * 64;
  if (const auto content = decompress_frame(bytes, max_size)) {
    FUZZ_CHECK(content->size() <= max_size);
    FUZZ_CHECK(ZSTD_findFrameCompressedSize(bytes.data(), bytes.size()) == bytes.size());
    FUZZ_CHECK(one_shot(bytes) == content);
  }
  if (const auto frame = compress_if_it_pays(bytes)) FUZZ_CHECK(decompress_frame(*frame, bytes.size()) == bytes);
  return 0;
}
