#include "store/pack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "store/action_record.h"
#include "store/remote/cas_encoding.h"
#include "store/sha256.h"

namespace gocachefs {

namespace {

// Packs are written once per job and read by every later one: worth more
// effort than an upload's level 1.
constexpr int kPackCompressLevel = 3;
// Bounds on what a pack from a remote may make us hold in memory.
constexpr std::uint64_t kMaxIndexBytes = 32 << 20;
constexpr std::size_t kMaxIndexDecoded = 64 << 20;  // some 500,000 actions and objects
constexpr std::size_t kMaxObjects = 1 << 22;
// Decoded frames are at most kPackFrameSize: a larger window is not ours.
constexpr int kMaxPackWindowLog = 23;
static_assert(kMaxPackWindowLog <= kMaxWindowLog);

constexpr std::size_t kObjectRecordSize = 32 + 8 + 4 + 1 + 32;
constexpr std::size_t kActionRecordSize = 32 + 4 + 8;

std::runtime_error errno_error(const std::string& what) { return std::runtime_error(what + ": " + std::strerror(errno)); }

template <typename T>
void put(std::string& out, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xff));
}

template <typename T>
T get(const char*& p) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) value |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  p += sizeof(T);
  return static_cast<T>(value);
}

void put_id(std::string& out, const Id& id) { out.append(reinterpret_cast<const char*>(id.data()), id.size()); }

Id get_id(const char*& p) {
  Id id;
  std::memcpy(id.data(), p, id.size());
  p += id.size();
  return id;
}

std::string encode_index(const PackIndex& index) {
  std::string out;
  put<std::uint32_t>(out, index.objects.size());
  put<std::uint32_t>(out, index.actions.size());
  for (const auto& o : index.objects) {
    put_id(out, o.output_id);
    put<std::uint64_t>(out, o.size);
    put<std::uint32_t>(out, o.front_size);
    put<std::uint8_t>(out, (o.body ? 1 : 0) | (o.cold ? 2 : 0));
    put_id(out, o.head_sha256);
  }
  for (const auto& a : index.actions) {
    put_id(out, a.action_id);
    put<std::uint32_t>(out, a.object);
    put<std::int64_t>(out, a.put_time_ns);
  }
  return out;
}

std::optional<PackIndex> decode_index(std::string_view bytes, std::uint64_t max_object_size) {
  if (bytes.size() < 8) return std::nullopt;
  const char* p = bytes.data();
  const auto objects = get<std::uint32_t>(p);
  const auto actions = get<std::uint32_t>(p);
  if (objects > kMaxObjects || actions > kMaxObjects ||
      bytes.size() != 8 + objects * kObjectRecordSize + actions * kActionRecordSize) {
    return std::nullopt;
  }
  PackIndex index;
  index.objects.resize(objects);
  for (auto& o : index.objects) {
    o.output_id = get_id(p);
    o.size = get<std::uint64_t>(p);
    o.front_size = get<std::uint32_t>(p);
    const auto flags = get<std::uint8_t>(p);
    o.body = (flags & 1) != 0;
    o.cold = (flags & 2) != 0;
    o.head_sha256 = get_id(p);
    if (flags > 3 || (o.cold && !o.body) || o.front_size > o.size || o.front_size > kInlineObjectLimit || o.size > max_object_size) {
      return std::nullopt;
    }
    if (o.body && o.front_size == o.size) return std::nullopt;
    // A head is what a record carries of a large object, and write_pack
    // writes no other: readers keep heads in memory (the lazy mount serves
    // them), so a larger one is not ours.
    if (o.has_head() && o.front_size > kInlinePrefixLimit) return std::nullopt;
  }
  index.actions.resize(actions);
  for (auto& a : index.actions) {
    a.action_id = get_id(p);
    a.object = get<std::uint32_t>(p);
    a.put_time_ns = get<std::int64_t>(p);
    if (a.object >= objects && a.object != kKnownMiss) return std::nullopt;
  }
  return index;
}

// Writes frames of at most kPackFrameSize bytes to a file, counting them.
class FrameWriter {
 public:
  FrameWriter(int fd, const std::string& name) : fd_(fd), name_(name) {
    ZSTD_CCtx_setParameter(context_.get(), ZSTD_c_compressionLevel, kPackCompressLevel);
  }
  void append(const char* data, std::size_t size) {
    while (size > 0) {
      const std::size_t take = std::min(size, kPackFrameSize - pending_.size());
      pending_.append(data, take);
      data += take;
      size -= take;
      if (pending_.size() == kPackFrameSize) flush();
    }
  }
  void flush() {
    if (pending_.empty()) return;
    write_frame(pending_);
    pending_.clear();
  }
  // The index's frame has a checksum: damage must not decode to another
  // valid index, and nothing else verifies it. Objects are verified by
  // their hash: damage in one costs that one, not the rest of its frame.
  void write_frame(std::string_view bytes, bool checksum = false) {
    ZSTD_CCtx_setParameter(context_.get(), ZSTD_c_checksumFlag, checksum ? 1 : 0);
    std::string frame(ZSTD_compressBound(bytes.size()), '\0');
    const std::size_t n = ZSTD_compress2(context_.get(), frame.data(), frame.size(), bytes.data(), bytes.size());
    if (ZSTD_isError(n)) throw std::runtime_error(std::string("compressing a pack: ") + ZSTD_getErrorName(n));
    write_bytes(frame.data(), n);
    frame_sizes_.push_back(static_cast<std::uint32_t>(n));
  }
  void write_bytes(const char* p, std::size_t n) {
    written_ += n;
    while (n > 0) {
      const ssize_t w = write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw errno_error("writing " + name_);
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }
  std::uint64_t take_written() {
    frame_sizes_.clear();
    return std::exchange(written_, 0);
  }
  // The compressed size of each frame written since take_written().
  const std::vector<std::uint32_t>& frame_sizes() const { return frame_sizes_; }

 private:
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> context_{ZSTD_createCCtx(), ZSTD_freeCCtx};
  int fd_;
  const std::string& name_;
  std::string pending_;
  std::uint64_t written_ = 0;
  std::vector<std::uint32_t> frame_sizes_;
};

// The body section's objects in stream order: those read first, then the cold.
std::vector<std::uint32_t> body_order(const PackIndex& index) {
  std::vector<std::uint32_t> order;
  for (const bool cold : {false, true}) {
    for (std::uint32_t i = 0; i < index.objects.size(); ++i) {
      if (index.objects[i].in_body() && index.objects[i].cold == cold) order.push_back(i);
    }
  }
  return order;
}

std::uint64_t body_frame_count(const PackIndex& index) {
  std::uint64_t decoded = 0;
  for (const auto& object : index.objects) decoded += object.in_body() ? object.size : 0;
  return (decoded + kPackFrameSize - 1) / kPackFrameSize;
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Reads `size` bytes from `offset` of an object file that must be exactly
// `file_size` bytes long (it was recorded so).
std::string read_object(const std::filesystem::path& path, std::uint64_t file_size, std::uint64_t offset,
                        std::size_t size) {
  Fd in{open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) throw errno_error("reading " + path.string());
  struct stat st {};
  if (fstat(in.fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) != file_size) {
    throw std::runtime_error(path.string() + " is not of its recorded size");
  }
  std::string bytes(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    const ssize_t r = pread(in.fd, bytes.data() + done, size - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw errno_error("reading " + path.string());
    done += static_cast<std::size_t>(r);
  }
  return bytes;
}

}  // namespace

std::string pack_signed_content(std::uint64_t index_bytes, std::uint64_t front_bytes, std::uint64_t body_bytes,
                                std::string_view decoded_index, std::string_view key_id) {
  std::string message = "gocachefs pack\n";
  put<std::uint64_t>(message, index_bytes);
  put<std::uint64_t>(message, front_bytes);
  put<std::uint64_t>(message, body_bytes);
  put<std::uint64_t>(message, decoded_index.size());
  message += decoded_index;
  message += key_id;  // last: its length is what remains
  return message;
}

WrittenPack write_pack(const std::vector<PackInput>& inputs, int fd, const std::string& file_name,
                       const SigningKeys* keys) {
  PackIndex index;
  std::vector<std::filesystem::path> files;
  std::map<Id, std::uint32_t> object_of;
  for (const auto& input : inputs) {
    if (input.miss) {
      index.actions.push_back({input.action_id, kKnownMiss, 0});
      continue;
    }
    auto [it, added] = object_of.emplace(input.output_id, static_cast<std::uint32_t>(index.objects.size()));
    if (added) {
      const std::string first = read_object(input.object_file, input.size, 0, std::min<std::uint64_t>(input.size, 8));
      PackObject object{input.output_id, input.size, static_cast<std::uint32_t>(inline_size_for(input.size, first))};
      object.body = object.front_size < object.size && input.read_whole;
      object.cold = object.body && input.cold;
      index.objects.push_back(object);
      files.push_back(input.object_file);
    }
    index.actions.push_back({input.action_id, it->second, input.put_time_ns});
  }
  // Heads first (their hashes go in the index), then the bodies.
  FrameWriter out(fd, file_name);
  out.write_bytes(std::string(kPackHeaderSize, ' ').data(), kPackHeaderSize);
  out.take_written();
  std::string front;
  for (std::size_t i = 0; i < index.objects.size(); ++i) {
    auto& object = index.objects[i];
    std::string bytes = read_object(files[i], object.size, 0, object.front_size);
    if (object.has_head()) object.head_sha256 = Sha256::of(bytes);
    front += bytes;
  }
  const std::string encoded_index = encode_index(index);
  out.write_frame(encoded_index, /*checksum=*/true);
  const std::uint64_t index_bytes = out.take_written();
  out.append(front.data(), front.size());
  out.flush();
  const std::uint64_t front_bytes = out.take_written();
  // The frames' sizes are known once the body is written: room for them now.
  const std::uint64_t frames_bytes = 4 * body_frame_count(index);
  out.write_bytes(std::string(frames_bytes, '\0').data(), frames_bytes);
  out.take_written();
  for (const std::uint32_t i : body_order(index)) {
    const auto& object = index.objects[i];
    constexpr std::size_t kPiece = 1 << 20;
    for (std::uint64_t offset = 0; offset < object.size; offset += kPiece) {
      const std::string piece = read_object(files[i], object.size, offset, std::min<std::uint64_t>(kPiece, object.size - offset));
      out.append(piece.data(), piece.size());
    }
  }
  out.flush();
  if (out.frame_sizes().size() * 4 != frames_bytes) throw std::runtime_error("a pack's body frames miscounted");
  std::string frames;
  for (const std::uint32_t size : out.frame_sizes()) put<std::uint32_t>(frames, size);
  const std::uint64_t body_bytes = out.take_written();
  const off_t frames_at = static_cast<off_t>(kPackHeaderSize + index_bytes + front_bytes);
  if (!frames.empty() && pwrite(fd, frames.data(), frames.size(), frames_at) != static_cast<ssize_t>(frames.size())) {
    throw errno_error("writing " + file_name);
  }

  nlohmann::json header_fields{{"gocachefs_pack", 2},
                               {"index_bytes", index_bytes},
                               {"front_bytes", front_bytes},
                               {"frames_bytes", frames_bytes},
                               {"body_bytes", body_bytes}};
  if (keys) {
    const Signature signature = keys->sign(
        pack_signed_content(index_bytes, front_bytes, body_bytes, encoded_index, keys->signer_id()));
    header_fields["key_id"] = signature.key_id;
    header_fields["sig"] = signature.mac_hex;
  }
  std::string header = header_fields.dump();
  if (header.size() >= kPackHeaderSize) throw std::runtime_error("a pack header does not fit its " + std::to_string(kPackHeaderSize) + " bytes");
  header.resize(kPackHeaderSize - 1, ' ');
  header.push_back('\n');
  if (pwrite(fd, header.data(), header.size(), 0) != static_cast<ssize_t>(header.size())) {
    throw errno_error("writing " + file_name);
  }
  // The pack's name is the hash of all of it.
  Sha256 hash;
  std::string chunk(1 << 20, '\0');
  std::uint64_t size = 0;
  for (;;) {
    const ssize_t r = pread(fd, chunk.data(), chunk.size(), static_cast<off_t>(size));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw errno_error("reading " + file_name);
    if (r == 0) break;
    hash.update(chunk.data(), static_cast<std::size_t>(r));
    size += static_cast<std::uint64_t>(r);
  }
  std::vector<bool> body;
  for (const auto& action : index.actions) {
    body.push_back(action.object != kKnownMiss && index.objects[action.object].in_body() &&
                   !index.objects[action.object].cold);
  }
  return {hash.finish(), size, index.actions.size(), index.objects.size(), std::move(body)};
}

std::vector<std::uint64_t> body_offsets(const PackIndex& index) {
  std::vector<std::uint64_t> offsets(index.objects.size(), 0);
  std::uint64_t offset = 0;
  for (const std::uint32_t i : body_order(index)) {
    offsets[i] = offset;
    offset += index.objects[i].size;
  }
  return offsets;
}

std::optional<PackSlice> body_slice(const PackFrames& frames, std::uint64_t body_offset, std::uint64_t size) {
  if (size == 0) return std::nullopt;
  const std::uint64_t first = body_offset / kPackFrameSize, last = (body_offset + size - 1) / kPackFrameSize;
  if (last >= frames.sizes.size()) return std::nullopt;
  PackSlice slice{frames.body_start, 0, first * kPackFrameSize, (last + 1) * kPackFrameSize};
  for (std::uint64_t i = 0; i <= last; ++i) (i < first ? slice.offset : slice.length) += frames.sizes[i];
  return slice;
}

struct PackSliceReader::Stream {
  ZSTD_DCtx* context = ZSTD_createDCtx();
  ~Stream() { ZSTD_freeDCtx(context); }
};

PackSliceReader::PackSliceReader(const PackSlice& slice, Sink sink)
    : stream_(std::make_unique<Stream>()), position_(slice.body_begin), end_(slice.body_end), sink_(std::move(sink)) {
  ZSTD_DCtx_setParameter(stream_->context, ZSTD_d_windowLogMax, kMaxPackWindowLog);
}

PackSliceReader::~PackSliceReader() = default;

bool PackSliceReader::feed(const char* data, std::size_t size) {
  ZSTD_inBuffer in{data, size, 0};
  char out_bytes[64 * 1024];
  for (bool full = false; error_.empty() && (in.pos < in.size || full);) {
    ZSTD_outBuffer out{out_bytes, sizeof(out_bytes), 0};
    const std::size_t result = ZSTD_decompressStream(stream_->context, &out, &in);
    if (ZSTD_isError(result)) {
      error_ = std::string("a pack frame is damaged: ") + ZSTD_getErrorName(result);
    } else if (position_ + out.pos > end_) {
      error_ = "the pack's frames decode to more than their size";
    } else if (out.pos > 0) {
      sink_(position_, out_bytes, out.pos);
      position_ += out.pos;
    }
    full = out.pos == out.size;
  }
  return error_.empty();
}

struct PackReader::Stream {
  ZSTD_DCtx* context = ZSTD_createDCtx();
  ~Stream() { ZSTD_freeDCtx(context); }
};

PackReader::PackReader(Callbacks callbacks, RemoteTrust trust)
    : callbacks_(std::move(callbacks)), trust_(std::move(trust)), stream_(std::make_unique<Stream>()) {
  ZSTD_DCtx_setParameter(stream_->context, ZSTD_d_windowLogMax, kMaxPackWindowLog);
}

PackReader::~PackReader() = default;

bool PackReader::complete() const { return section_ == Section::kDone && error_.empty(); }

bool PackReader::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
  section_ = Section::kDone;
  return false;
}

bool PackReader::refuse(std::string why) {
  untrusted_ = true;
  return fail(std::move(why));
}

bool PackReader::feed(const char* data, std::size_t size) {
  while (size > 0 && error_.empty()) {
    switch (section_) {
      case Section::kHeader: {
        const std::size_t take = std::min(size, kPackHeaderSize - buffer_.size());
        buffer_.append(data, take);
        data += take;
        size -= take;
        if (buffer_.size() == kPackHeaderSize && !read_header()) return false;
        break;
      }
      case Section::kIndex:
      case Section::kFrames: {
        const std::size_t take = std::min<std::uint64_t>(size, section_left_);
        buffer_.append(data, take);
        data += take;
        size -= take;
        section_left_ -= take;
        if (section_left_ == 0 && !(section_ == Section::kIndex ? read_index() : read_frames())) return false;
        break;
      }
      case Section::kFront:
      case Section::kBody: {
        const std::size_t take = std::min<std::uint64_t>(size, section_left_);
        if (!decompress(data, take)) return false;
        data += take;
        size -= take;
        section_left_ -= take;
        if (section_left_ == 0 && !next_section()) return false;
        break;
      }
      case Section::kDone:
        return fail("bytes after the end of the pack");
    }
  }
  return error_.empty();
}

bool PackReader::read_header() {
  const auto header = nlohmann::json::parse(buffer_, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) return fail("not a gocachefs pack");
  // Every field an unsigned integer: anything else (a string, 1e89, -5) is not ours.
  const auto version = header.find("gocachefs_pack");
  if (version == header.end() || !version->is_number_unsigned() || version->get<std::uint64_t>() < 1 ||
      version->get<std::uint64_t>() > 2) {
    return fail("not a gocachefs pack of version 1 or 2");
  }
  version_ = version->get<int>();
  // Version 2 added the frames section.
  for (const char* name : {"index_bytes", "front_bytes", "frames_bytes", "body_bytes"}) {
    if (version_ == 1 && std::string_view(name) == "frames_bytes") continue;
    const auto it = header.find(name);
    if (it == header.end() || !it->is_number_unsigned()) return fail(std::string("a pack header without ") + name);
  }
  const auto size_of = [&](const char* name) { return header.contains(name) ? header.at(name).get<std::uint64_t>() : 0; };
  index_bytes_ = size_of("index_bytes");
  front_bytes_ = size_of("front_bytes");
  frames_bytes_ = version_ == 1 ? 0 : size_of("frames_bytes");
  body_bytes_ = size_of("body_bytes");
  if (index_bytes_ == 0 || index_bytes_ > kMaxIndexBytes) return fail("a pack index of an impossible size");
  for (const auto& [name, field] : {std::pair{"key_id", &signature_.key_id}, {"sig", &signature_.mac_hex}}) {
    const auto it = header.find(name);
    if (it != header.end() && it->is_string()) *field = it->get<std::string>();
  }
  buffer_.clear();
  section_ = Section::kIndex;
  section_left_ = index_bytes_;
  return true;
}

bool PackReader::read_index() {
  const auto decoded = decompress_frame(buffer_, kMaxIndexDecoded);
  if (decoded && trust_.keys) {
    const SignatureCheck check = trust_.keys->verify(
        signature_, pack_signed_content(index_bytes_, front_bytes_, body_bytes_, *decoded, signature_.key_id));
    if (check != SignatureCheck::kValid) return refuse(std::string("the pack is ") + describe(check));
  }
  auto index = decoded ? decode_index(*decoded, trust_.max_object_size) : std::nullopt;
  if (!index && decoded && decode_index(*decoded, ~std::uint64_t{0})) {
    return refuse("the pack declares an object larger than --max-object-size");
  }
  if (!index) return fail("the pack's index is damaged");
  index_ = std::move(*index);
  buffer_ = {};
  callbacks_.index(index_);
  section_ = Section::kIndex;
  return next_section();
}

bool PackReader::read_frames() {
  PackFrames frames{kPackHeaderSize + index_bytes_ + front_bytes_ + frames_bytes_, {}};
  std::uint64_t total = 0;
  for (const char* p = buffer_.data(); p < buffer_.data() + buffer_.size();) {
    frames.sizes.push_back(get<std::uint32_t>(p));
    total += frames.sizes.back();
  }
  if (total != body_bytes_) return fail("a pack's frames section is damaged");
  buffer_ = {};
  if (callbacks_.frames) callbacks_.frames(frames);
  return next_section();
}

// Moves on to the next section with bytes, checking that the one before
// delivered every object it should have.
bool PackReader::next_section() {
  if (section_ == Section::kFront || section_ == Section::kBody) {
    if (!deliver(nullptr, 0)) return false;  // completes trailing empty objects
    if (current_ != order_.size() || object_done_ != 0) return fail("a pack section ends before its objects do");
  }
  for (;;) {
    order_.clear();
    current_ = 0;
    if (section_ == Section::kIndex) {
      section_ = Section::kFront;
      section_left_ = front_bytes_;
      for (std::uint32_t i = 0; i < index_.objects.size(); ++i) order_.push_back(i);
    } else if (section_ == Section::kFront) {
      section_ = Section::kFrames;
      if (version_ >= 2 && frames_bytes_ != 4 * body_frame_count(index_)) return fail("a pack's frames section is damaged");
      if (frames_bytes_ > 0) {
        section_left_ = frames_bytes_;
        return true;
      }
      continue;
    } else if (section_ == Section::kFrames) {
      section_ = Section::kBody;
      section_left_ = body_bytes_;
      order_ = body_order(index_);
    } else {
      section_ = Section::kDone;
      return true;
    }
    if (section_left_ > 0) return true;
    // An empty section: its objects must all be empty.
    if (!deliver(nullptr, 0) || current_ != order_.size()) return fail("a pack section is missing");
  }
}

bool PackReader::decompress(const char* data, std::size_t size) {
  ZSTD_inBuffer in{data, size, 0};
  char out_bytes[64 * 1024];
  // Until the input is used up and the decoder holds nothing back.
  for (bool full = false; in.pos < in.size || full;) {
    ZSTD_outBuffer out{out_bytes, sizeof(out_bytes), 0};
    const std::size_t result = ZSTD_decompressStream(stream_->context, &out, &in);
    if (ZSTD_isError(result)) return fail(std::string("a pack frame is damaged: ") + ZSTD_getErrorName(result));
    if (!deliver(out_bytes, out.pos)) return false;
    full = out.pos == out.size;
  }
  return true;
}

bool PackReader::deliver(const char* data, std::size_t size) {
  for (;;) {
    if (current_ == order_.size()) {
      return size == 0 ? true : fail("a pack section holds more bytes than its objects");
    }
    const std::uint32_t number = order_[current_];
    const PackObject& object = index_.objects[number];
    const bool front = section_ == Section::kFront;
    const std::uint64_t total = front ? object.front_size : object.size;
    const std::size_t take = std::min<std::uint64_t>(size, total - object_done_);
    if (take > 0) {
      if (front) {
        front_object_.append(data, take);
      } else {
        callbacks_.body_data(number, data, take);
      }
      data += take;
      size -= take;
      object_done_ += take;
    }
    if (object_done_ < total) return true;  // needs more bytes
    if (front) {
      if (object.has_head() && Sha256::of(front_object_) != object.head_sha256) {
        return fail("the head of object " + to_hex(object.output_id) + " in the pack is damaged");
      }
      callbacks_.front(number, std::move(front_object_));
      front_object_.clear();
    } else {
      callbacks_.body_end(number);
    }
    ++current_;
    object_done_ = 0;
    if (size == 0 && current_ < order_.size()) {
      // Complete the empty objects that follow now: no byte will name them.
      const PackObject& next = index_.objects[order_[current_]];
      if ((front ? next.front_size : next.size) != 0) return true;
    }
  }
}

}  // namespace gocachefs
