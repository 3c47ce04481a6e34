// How objects are kept under cas/ in a remote. An entry is either the
// object's bytes or a zstd stream of them; an entry that begins with a zstd
// magic number (a frame's, or a skippable frame's as bazel-remote sends) is
// always a stream. Objects that begin with one themselves are therefore
// always compressed, so the rule has no exception and readers need no side
// channel (the entry may have been written by another gocachefs with another
// threshold, or recompressed by the server).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/remote/remote.h"
#include "store/temp_file.h"

typedef struct ZSTD_DCtx_s ZSTD_DStream;

namespace gocachefs {

// Objects at least this large are compressed (zstd level 1, as bazel-remote
// does) when compression saves at least an eighth of their size.
constexpr std::uint64_t kCompressMinSize = 4 * 1024;
constexpr int kCompressLevel = 1;
// The largest zstd window a reader of remote bytes accepts (16 MiB; zstd's
// own default is 128 MiB): the memory a decoder may take per stream. Our
// writers use at most 4 MiB (a pack's frame; level 1 uploads 512 KiB),
// bazel-remote's encoder 8 MiB.
constexpr int kMaxWindowLog = 24;

// What to upload for an object: the object file itself, or a compressed
// temp file that is removed when this is destroyed.
class CasUpload {
 public:
  // Reads `object_file` (`size` bytes) and compresses it into `temp_dir`
  // when that pays. Throws std::runtime_error when the object is unreadable.
  CasUpload(const std::filesystem::path& object_file, std::uint64_t size, const std::filesystem::path& temp_dir);
  ~CasUpload();
  CasUpload(const CasUpload&) = delete;
  CasUpload& operator=(const CasUpload&) = delete;

  const std::filesystem::path& file() const { return file_; }
  StoredEncoding encoding() const { return encoding_; }
  std::uint64_t stored_size() const { return stored_size_; }

 private:
  std::filesystem::path file_;
  std::unique_ptr<TempFile> temp_;  // the compressed copy, when there is one
  StoredEncoding encoding_;
  std::uint64_t stored_size_ = 0;
};

// In memory, for an object carried whole inside its action record: the zstd
// frame of `bytes` when compressing pays by the rule above, else nothing.
std::optional<std::string> compress_if_it_pays(std::string_view bytes);
// The content of the zstd frame `frame`; nothing when it is not one frame
// that declares its size, or when that size is over `max_size`.
std::optional<std::string> decompress_frame(std::string_view frame, std::size_t max_size);

// Turns a fetched cas entry, streamed in, back into the object's bytes.
class CasDecoder {
 public:
  explicit CasDecoder(RemoteSink out);
  ~CasDecoder();
  CasDecoder(const CasDecoder&) = delete;
  CasDecoder& operator=(const CasDecoder&) = delete;

  // False when the entry is not a valid frame or `out` refused the bytes.
  bool feed(const char* data, std::size_t size);
  // False when the entry ended in the middle of a frame.
  bool finish();

 private:
  bool decide_and_flush();
  bool decompress(const char* data, std::size_t size);

  RemoteSink out_;
  std::string head_;  // the first bytes, until we know whether they are a frame
  enum class Mode { kUndecided, kPlain, kZstd } mode_ = Mode::kUndecided;
  ZSTD_DStream* stream_ = nullptr;
  bool frame_complete_ = false;
};

}  // namespace gocachefs
