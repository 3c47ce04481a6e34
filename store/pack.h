// A pack: the entries one CI job used, in one immutable file that the next
// similar job reads in a single streamed request (warming; src/warming/).
// Stored at cas/<SHA-256 of the pack>, so that two jobs never write the same
// name and a pack never changes under a reader. Layout, in stream order:
//
//   header  one JSON line, padded to kPackHeaderSize: the sections' sizes,
//           and with a signing key its id and an HMAC-SHA-256 over the
//           sizes and the decoded index (pack_signed_content), which binds
//           every action to its object and every head to its SHA-256 (whole
//           objects are verified against their OutputID)
//   index   one zstd frame with a checksum: the objects, in first-use order,
//           then the actions (of which known misses have no object)
//   front   zstd frames: each object's first bytes (all of a small object,
//           the head a lazy reader reads first of a large one), object order
//   frames  the compressed size of each body frame (little-endian u32s), so
//           that a reader can fetch any body by a range request
//   body    zstd frames of exactly kPackFrameSize decoded bytes (the last
//           may be shorter): the whole bytes of the large objects that the
//           recording job read beyond their head, object order, then those
//           it did not ("cold": a lazy reader stops its stream there and
//           reads one by range when a tool wants it). Of the others only
//           the head travels: a reader that wants more fetches
//           cas/<OutputID>
//
// Everything a reader needs to answer gets comes first, the large bodies
// last, in the order the recording job first used them. Frames compress
// many objects together (similar archives share much), which per-object
// compression cannot.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/ids.h"
#include "store/remote_trust.h"

namespace gocachefs {

constexpr std::size_t kPackHeaderSize = 256;
constexpr std::size_t kPackFrameSize = 4 << 20;

struct PackObject {
  Id output_id{};
  std::uint64_t size = 0;
  std::uint32_t front_size = 0;  // bytes in the front: all of it, or a head (at most kInlinePrefixLimit)
  bool body = false;             // its whole bytes are in the body section (then front_size < size)
  bool cold = false;             // in the body, after the bodies the recording job read
  Id head_sha256{};              // of the head, when front_size < size
  bool in_body() const { return body; }
  bool has_head() const { return front_size < size; }
};

// An action the recording job asked for and found nowhere: a reader
// answers its get with a miss at once (at worst it rebuilds what another job
// put since).
constexpr std::uint32_t kKnownMiss = 0xffffffff;

struct PackAction {
  Id action_id{};
  std::uint32_t object = 0;  // index into PackIndex::objects, or kKnownMiss
  std::int64_t put_time_ns = 0;
};

struct PackIndex {
  std::vector<PackObject> objects;
  std::vector<PackAction> actions;
};

// What goes into a pack: an action and the file holding its object.
struct PackInput {
  Id action_id{};
  Id output_id{};
  std::uint64_t size = 0;
  std::int64_t put_time_ns = 0;
  std::filesystem::path object_file;
  bool read_whole = true;  // false: the job read no more than its head, which is all the pack carries
  bool cold = false;       // with read_whole: the job read no more than its head; its body goes last
  bool miss = false;       // a known miss: no object
};

struct WrittenPack {
  Id id{};  // SHA-256 of the file
  std::uint64_t size = 0;
  std::size_t actions = 0;
  std::size_t objects = 0;
  std::vector<bool> body;  // per input: whether the pack holds its object's body among those read first
};

// Where the body section starts in a pack file, and its frames' compressed
// sizes, in order: enough to read any body by a range request.
struct PackFrames {
  std::uint64_t body_start = 0;
  std::vector<std::uint32_t> sizes;
};

// The decoded offset of each object's bytes in the body section (of objects
// without a body: where it would be), in the order write_pack puts them.
std::vector<std::uint64_t> body_offsets(const PackIndex& index);

// The frames of a pack file that hold the `size` decoded bytes at
// `body_offset` of the body section: where they lie in the file, and the
// body offsets they decode to. Empty when the frames do not reach that far.
struct PackSlice {
  std::uint64_t offset = 0, length = 0;  // in the pack file
  std::uint64_t body_begin = 0, body_end = 0;  // decoded, in the body section (the last frame may end sooner)
};
std::optional<PackSlice> body_slice(const PackFrames& frames, std::uint64_t body_offset, std::uint64_t size);

// Decodes the frames of a PackSlice as they arrive and hands every decoded
// byte to `sink` with its offset in the body section.
class PackSliceReader {
 public:
  using Sink = std::function<void(std::uint64_t body_offset, const char* data, std::size_t size)>;
  PackSliceReader(const PackSlice& slice, Sink sink);
  ~PackSliceReader();
  PackSliceReader(const PackSliceReader&) = delete;
  PackSliceReader& operator=(const PackSliceReader&) = delete;
  // False, with error() set, once the bytes are not valid frames or decode
  // beyond the slice.
  bool feed(const char* data, std::size_t size);
  const std::string& error() const { return error_; }

 private:
  struct Stream;
  std::unique_ptr<Stream> stream_;
  std::uint64_t position_, end_;
  Sink sink_;
  std::string error_;
};

// Writes the pack of `inputs` (in first-use order; an object used by several
// actions is stored once) to `file`, an open empty file. Throws
// std::runtime_error when an object file cannot be read as it was recorded.
// With `keys`, the header carries the first key's signature.
WrittenPack write_pack(const std::vector<PackInput>& inputs, int fd, const std::string& file_name,
                       const SigningKeys* keys = nullptr);

// What a pack's signature covers: the sections' sizes, the decoded index and
// the signing key's id.
std::string pack_signed_content(std::uint64_t index_bytes, std::uint64_t front_bytes, std::uint64_t body_bytes,
                                std::string_view decoded_index, std::string_view key_id);

// Reads a pack as it streams in, with whatever chunks the network delivers.
// Checks every size and bound before it trusts it (a pack comes from a
// remote); objects' bytes are not verified here, heads are (the caller
// verifies whole objects against their OutputID as it stores them). With
// trust.keys, a pack without a valid signature fails before its index is
// delivered; one declaring an object over trust.max_object_size fails too.
class PackReader {
 public:
  struct Callbacks {
    std::function<void(const PackIndex&)> index;
    // An object's front bytes, whole: all of a small object, or its head.
    std::function<void(std::uint32_t object, std::string bytes)> front;
    // A large object's bytes, in order, then its end.
    std::function<void(std::uint32_t object, const char* data, std::size_t size)> body_data;
    std::function<void(std::uint32_t object)> body_end;
    // The body frames' places, before the first body byte (optional).
    std::function<void(const PackFrames&)> frames;
  };
  explicit PackReader(Callbacks callbacks, RemoteTrust trust = {});
  ~PackReader();
  PackReader(const PackReader&) = delete;
  PackReader& operator=(const PackReader&) = delete;

  // False, with error() set, once the stream is not a valid pack; then
  // nothing more is called back.
  bool feed(const char* data, std::size_t size);
  // Whether the whole pack arrived.
  bool complete() const;
  // Whether the index and fronts are read and the bodies come next.
  bool in_body_section() const { return section_ == Section::kBody; }
  const std::string& error() const { return error_; }
  // Whether it failed because it is not trusted (unsigned, wrongly signed,
  // an object too large), rather than damaged.
  bool untrusted() const { return untrusted_; }

 private:
  bool fail(std::string why);
  bool read_header();
  bool read_index();
  bool read_frames();
  bool decompress(const char* data, std::size_t size);
  bool deliver(const char* data, std::size_t size);
  bool next_section();

  bool refuse(std::string why);

  Callbacks callbacks_;
  RemoteTrust trust_;
  std::string error_;
  bool untrusted_ = false;
  Signature signature_;  // from the header
  enum class Section { kHeader, kIndex, kFront, kFrames, kBody, kDone } section_ = Section::kHeader;
  std::string buffer_;  // header, index or frames bytes so far
  int version_ = 0;
  std::uint64_t index_bytes_ = 0, front_bytes_ = 0, frames_bytes_ = 0, body_bytes_ = 0;
  std::uint64_t section_left_ = 0;  // compressed bytes of the current section still to come
  PackIndex index_;
  std::vector<std::uint32_t> order_;  // objects whose bytes the current section holds, in order
  std::size_t current_ = 0;           // position in order_
  std::uint64_t object_done_ = 0;     // bytes of the current object delivered
  std::string front_object_;          // the current front object's bytes so far
  struct Stream;
  std::unique_ptr<Stream> stream_;
};

}  // namespace gocachefs
