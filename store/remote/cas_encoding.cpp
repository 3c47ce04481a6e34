#include "store/remote/cas_encoding.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace gocachefs {

namespace {

// A zstd stream starts with a frame (magic 28 B5 2F FD) or a skippable frame
// (50..5F 2A 4D 18), as bazel-remote's compressed blobs do.
bool starts_like_zstd(const char* p, std::size_t n) {
  if (n < 4) return false;
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  const bool frame = b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd;
  const bool skippable = (b[0] & 0xf0) == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18;
  return frame || skippable;
}
constexpr std::size_t kMagicSize = 4;

// The rule in cas_encoding.h, for files and for bytes in memory alike.
bool compression_pays(std::uint64_t size, std::uint64_t compressed) { return compressed <= size - size / 8; }

std::runtime_error errno_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

// An fd closed on every path.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

void write_all(int fd, const char* p, std::size_t n, const std::filesystem::path& path) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw errno_error("writing " + path.string());
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Compresses `in` into `out`; returns the compressed size.
std::uint64_t compress(int in, const std::filesystem::path& in_path, int out, const std::filesystem::path& out_path) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> context(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_compressionLevel, kCompressLevel);
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_checksumFlag, 0);  // we verify the SHA-256 anyway
  std::vector<char> input(ZSTD_CStreamInSize()), output(ZSTD_CStreamOutSize());
  std::uint64_t written = 0;
  for (;;) {
    const ssize_t n = read(in, input.data(), input.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw errno_error("reading " + in_path.string());
    const ZSTD_EndDirective mode = n == 0 ? ZSTD_e_end : ZSTD_e_continue;
    ZSTD_inBuffer source{input.data(), static_cast<std::size_t>(n), 0};
    for (;;) {
      ZSTD_outBuffer sink{output.data(), output.size(), 0};
      const std::size_t left = ZSTD_compressStream2(context.get(), &sink, &source, mode);
      if (ZSTD_isError(left)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(left));
      write_all(out, output.data(), sink.pos, out_path);
      written += sink.pos;
      if (mode == ZSTD_e_end ? left == 0 : source.pos == source.size) break;
    }
    if (n == 0) return written;
  }
}

}  // namespace

CasUpload::CasUpload(const std::filesystem::path& object_file, std::uint64_t size,
                     const std::filesystem::path& temp_dir)
    : file_(object_file), stored_size_(size) {
  Fd in{open(object_file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) throw errno_error("opening " + object_file.string());
  char head[kMagicSize] = {};
  const bool looks_compressed = pread(in.fd, head, sizeof head, 0) == sizeof head && starts_like_zstd(head, sizeof head);
  if (size < kCompressMinSize && !looks_compressed) return;

  auto temp = std::make_unique<TempFile>(temp_dir, "upload-");
  const std::uint64_t compressed = compress(in.fd, object_file, temp->fd(), temp->path());
  if (!looks_compressed && !compression_pays(size, compressed)) return;  // send the object as it is
  file_ = temp->path();
  temp_ = std::move(temp);
  encoding_ = {true, size};
  stored_size_ = compressed;
}

CasUpload::~CasUpload() = default;

std::optional<std::string> compress_if_it_pays(std::string_view bytes) {
  if (bytes.size() < kCompressMinSize) return std::nullopt;
  std::string frame(ZSTD_compressBound(bytes.size()), '\0');
  // Level 1 without a checksum, as for files; the frame records its size.
  const std::size_t n = ZSTD_compress(frame.data(), frame.size(), bytes.data(), bytes.size(), kCompressLevel);
  if (ZSTD_isError(n) || !compression_pays(bytes.size(), n)) return std::nullopt;
  frame.resize(n);
  return frame;
}

std::optional<std::string> decompress_frame(std::string_view frame, std::size_t max_size) {
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > max_size) return std::nullopt;
  if (ZSTD_findFrameCompressedSize(frame.data(), frame.size()) != frame.size()) return std::nullopt;  // one frame
  std::string bytes(size, '\0');
  const std::size_t n = ZSTD_decompress(bytes.data(), bytes.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != size) return std::nullopt;
  return bytes;
}

CasDecoder::CasDecoder(RemoteSink out) : out_(std::move(out)) {}

CasDecoder::~CasDecoder() { ZSTD_freeDStream(stream_); }

bool CasDecoder::feed(const char* data, std::size_t size) {
  switch (mode_) {
    case Mode::kPlain:
      return out_(data, size);
    case Mode::kZstd:
      return decompress(data, size);
    case Mode::kUndecided:
      head_.append(data, size);
      return head_.size() < kMagicSize || decide_and_flush();
  }
  return false;
}

bool CasDecoder::finish() {
  if (mode_ == Mode::kUndecided && !decide_and_flush()) return false;
  return mode_ == Mode::kPlain || frame_complete_;
}

bool CasDecoder::decide_and_flush() {
  const bool zstd = starts_like_zstd(head_.data(), head_.size());
  mode_ = zstd ? Mode::kZstd : Mode::kPlain;
  std::string head = std::move(head_);
  head_.clear();
  if (!zstd) return out_(head.data(), head.size());
  stream_ = ZSTD_createDStream();
  if (!stream_ || ZSTD_isError(ZSTD_DCtx_setParameter(stream_, ZSTD_d_windowLogMax, kMaxWindowLog))) return false;
  return decompress(head.data(), head.size());
}

bool CasDecoder::decompress(const char* data, std::size_t size) {
  char output[1 << 16];
  ZSTD_inBuffer source{data, size, 0};
  while (source.pos < source.size) {
    ZSTD_outBuffer sink{output, sizeof output, 0};
    const std::size_t ret = ZSTD_decompressStream(stream_, &sink, &source);
    if (ZSTD_isError(ret)) return false;
    frame_complete_ = ret == 0;
    if (sink.pos > 0 && !out_(output, sink.pos)) return false;
  }
  // Flush what the decoder still holds for a full output buffer.
  for (;;) {
    ZSTD_outBuffer sink{output, sizeof output, 0};
    const std::size_t ret = ZSTD_decompressStream(stream_, &sink, &source);
    if (ZSTD_isError(ret)) return false;
    if (sink.pos == 0) return true;
    frame_complete_ = ret == 0;
    if (!out_(output, sink.pos)) return false;
  }
}

}  // namespace gocachefs
