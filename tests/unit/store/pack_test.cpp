#include "store/pack.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <memory>
#include <stdexcept>
#include <tuple>

#include <nlohmann/json.hpp>

#include "store/action_record.h"
#include "store/sha256.h"
#include "tests/support/crafted_pack.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_bytes.h"

namespace gocachefs {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

using testing::random_bytes;
using testing::text_bytes;

// What a PackReader called back, in order.
struct Received {
  int index_calls = 0;
  PackIndex index;
  std::map<std::uint32_t, std::vector<std::string>> fronts;  // every call, per object
  std::map<std::uint32_t, std::string> bodies;
  std::map<std::uint32_t, int> body_ends;
  std::vector<std::string> misuse;  // callbacks that should not have come
  bool complete = false;
  bool untrusted = false;
  std::string error;
  std::uint64_t fed = 0;  // bytes fed before feed() returned false
};

// Feeds `pack` to a PackReader `chunk` bytes at a time.
Received read_pack(std::string_view pack, std::size_t chunk, RemoteTrust trust = {}) {
  Received r;
  auto known = [&](std::uint32_t object) { return r.index_calls == 1 && object < r.index.objects.size(); };
  PackReader reader({
      .index =
          [&](const PackIndex& index) {
            if (++r.index_calls > 1) r.misuse.push_back("index twice");
            r.index = index;
          },
      .front =
          [&](std::uint32_t object, std::string bytes) {
            if (!known(object)) r.misuse.push_back("front of an unknown object");
            r.fronts[object].push_back(std::move(bytes));
          },
      .body_data =
          [&](std::uint32_t object, const char* data, std::size_t size) {
            if (!known(object)) r.misuse.push_back("body of an unknown object");
            if (r.body_ends.contains(object)) r.misuse.push_back("body bytes after the body's end");
            r.bodies[object].append(data, size);
          },
      .body_end =
          [&](std::uint32_t object) {
            if (!known(object)) r.misuse.push_back("end of an unknown object");
            ++r.body_ends[object];
          },
  }, std::move(trust));
  for (std::size_t at = 0; at < pack.size(); at += chunk) {
    const std::size_t n = std::min(chunk, pack.size() - at);
    if (!reader.feed(pack.data() + at, n)) {
      EXPECT_FALSE(reader.error().empty()) << "feed() failed without saying why";
      EXPECT_FALSE(reader.feed("x", 1)) << "fed again after an error";
      break;
    }
    r.fed += n;
  }
  r.complete = reader.complete();
  r.error = reader.error();
  r.untrusted = reader.untrusted();
  return r;
}

struct PackHeader {
  std::uint64_t index_bytes = 0, front_bytes = 0, frames_bytes = 0, body_bytes = 0;
  std::uint64_t body_start() const { return kPackHeaderSize + index_bytes + front_bytes + frames_bytes; }
};

PackHeader header_of(const std::string& pack) {
  const auto json = nlohmann::json::parse(pack.substr(0, kPackHeaderSize));
  return {json.at("index_bytes").get<std::uint64_t>(), json.at("front_bytes").get<std::uint64_t>(),
          json.at("frames_bytes").get<std::uint64_t>(), json.at("body_bytes").get<std::uint64_t>()};
}

class PackTest : public ::testing::Test {
 protected:
  // An action `action` whose object is `bytes`, kept in a file of its own.
  PackInput input(const std::string& action, const std::string& bytes, std::int64_t put_time_ns = kPutTime) {
    const Id output_id = Sha256::of(bytes);
    const std::string file = dir / ("object-" + to_hex(output_id));
    write_file(file, bytes);
    return {Sha256::of(action), output_id, bytes.size(), put_time_ns, file};
  }
  // Writes the pack of `inputs` and returns its bytes.
  std::string write(const std::vector<PackInput>& inputs, WrittenPack* written = nullptr,
                    const SigningKeys* keys = nullptr) {
    const std::string file = dir / ("pack-" + std::to_string(packs_written_++));
    const int fd = open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    EXPECT_GE(fd, 0);
    WrittenPack pack;
    try {
      pack = write_pack(inputs, fd, file, keys);
    } catch (...) {
      close(fd);
      throw;
    }
    close(fd);
    const std::string bytes = read_file(file);
    EXPECT_EQ(pack.id, Sha256::of(bytes)) << "a pack is named by its hash";
    EXPECT_EQ(pack.size, bytes.size());
    if (written) *written = pack;
    return bytes;
  }

  // A small pack of a few KiB: whole objects and one compressible archive
  // in the body.
  std::string small_pack() {
    return write({input("a", "tiny"), input("b", ""), input("c", text_bytes(3000)),
                  input("d", "!<arch>\n" + std::string(kInlineArchiveLimit, 'a')), input("e", "tiny")});
  }

  static constexpr std::int64_t kPutTime = 1690000000000000000;
  TempDir dir;
  int packs_written_ = 0;
};

// The objects of the big pack, in first-use order.
struct BigPack {
  std::string tiny = "tiny object";
  std::string empty;
  std::string small = text_bytes(100 * 1024);                                  // whole in the front
  std::string archive = text_bytes(kInlineArchiveLimit + 40000, "!<arch>\n");  // a head, then the body
  std::string large = random_bytes(kPackFrameSize + kPackFrameSize / 2, 7);    // the body spans frames
  std::vector<const std::string*> objects() const { return {&tiny, &empty, &small, &archive, &large}; }
};

class BigPackTest : public PackTest {
 protected:
  void SetUp() override {
    inputs = {input("a1", big.tiny, 1),    input("a2", big.empty, 2), input("a3", big.small, 3),
              input("a4", big.archive, 4), input("a5", big.large, 5), input("a6", big.tiny, 6)};
    pack = write(inputs, &written);
  }
  BigPack big;
  std::vector<PackInput> inputs;
  WrittenPack written;
  std::string pack;
};

void expect_whole_big_pack(const BigPack& big, const std::vector<PackInput>& inputs, const Received& r) {
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.misuse, std::vector<std::string>{});
  ASSERT_EQ(r.index_calls, 1);

  const auto objects = big.objects();
  ASSERT_EQ(r.index.objects.size(), objects.size()) << "an object used twice is stored once";
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const std::string& bytes = *objects[i];
    const PackObject& object = r.index.objects[i];
    SCOPED_TRACE("object " + std::to_string(i));
    EXPECT_EQ(object.output_id, Sha256::of(bytes)) << "objects in first-use order";
    EXPECT_EQ(object.size, bytes.size());
    const std::uint64_t front = inline_size_for(bytes.size(), bytes);
    EXPECT_EQ(object.front_size, front);
    if (object.in_body()) {
      EXPECT_EQ(object.head_sha256, Sha256::of(bytes.substr(0, front)));
    }

    ASSERT_EQ(r.fronts.count(i), 1u);
    ASSERT_EQ(r.fronts.at(i).size(), 1u) << "one front callback per object";
    EXPECT_TRUE(r.fronts.at(i)[0] == bytes.substr(0, front)) << "the front is the whole object or its head";
    if (object.in_body()) {
      EXPECT_TRUE(r.bodies.count(i) && r.bodies.at(i) == bytes) << "the body is the whole object";
      EXPECT_EQ(r.body_ends.count(i) ? r.body_ends.at(i) : 0, 1);
    } else {
      EXPECT_FALSE(r.bodies.count(i));
      EXPECT_FALSE(r.body_ends.count(i));
    }
  }
  EXPECT_FALSE(r.index.objects[0].in_body());
  EXPECT_FALSE(r.index.objects[1].in_body());
  EXPECT_FALSE(r.index.objects[2].in_body()) << "a small non-archive is whole in the front";
  EXPECT_TRUE(r.index.objects[3].in_body()) << "an archive over 64 KiB has a head";
  EXPECT_TRUE(r.index.objects[4].in_body());

  ASSERT_EQ(r.index.actions.size(), inputs.size());
  const std::vector<std::uint32_t> object_of = {0, 1, 2, 3, 4, 0};
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(r.index.actions[i].action_id, inputs[i].action_id);
    EXPECT_EQ(r.index.actions[i].object, object_of[i]);
    EXPECT_EQ(r.index.actions[i].put_time_ns, inputs[i].put_time_ns);
  }
}

TEST_F(BigPackTest, WrittenPackDescribesItself) {
  EXPECT_EQ(written.actions, 6u);
  EXPECT_EQ(written.objects, 5u);
  ASSERT_GT(pack.size(), kPackHeaderSize);
  EXPECT_EQ(pack[kPackHeaderSize - 1], '\n');
  const PackHeader header = header_of(pack);
  EXPECT_EQ(header.body_start() + header.body_bytes, pack.size());
  EXPECT_EQ(header.frames_bytes, 4u * 2) << "the archive's and the large object's bodies: 6.1 MiB in 2 frames";
  EXPECT_GT(header.body_bytes, big.large.size()) << "random bytes do not compress";
  // Frames of at most kPackFrameSize: the large object's body spans two.
  const std::string_view body = std::string_view(pack).substr(pack.size() - header.body_bytes);
  const std::string magic = "\x28\xb5\x2f\xfd";
  ASSERT_TRUE(body.starts_with(magic));
  std::size_t frames = 0;
  for (std::size_t at = body.find(magic); at != std::string_view::npos; at = body.find(magic, at + 1)) ++frames;
  EXPECT_GE(frames, 2u);
}

TEST_F(BigPackTest, ReadsInOneByteChunks) { expect_whole_big_pack(big, inputs, read_pack(pack, 1)); }
TEST_F(BigPackTest, ReadsInSevenByteChunks) { expect_whole_big_pack(big, inputs, read_pack(pack, 7)); }
TEST_F(BigPackTest, ReadsIn64KiBChunks) { expect_whole_big_pack(big, inputs, read_pack(pack, 64 * 1024)); }
TEST_F(BigPackTest, ReadsAllAtOnce) { expect_whole_big_pack(big, inputs, read_pack(pack, pack.size())); }

TEST_F(BigPackTest, TruncatedIsNeverComplete) {
  const PackHeader header = header_of(pack);
  const std::uint64_t front_start = kPackHeaderSize + header.index_bytes;
  const std::uint64_t body_start = header.body_start();
  std::vector<std::uint64_t> lengths = {0, 1, kPackHeaderSize - 1, kPackHeaderSize, kPackHeaderSize + 1};
  for (const std::uint64_t boundary : {front_start, body_start, static_cast<std::uint64_t>(pack.size())}) {
    for (const std::uint64_t delta : {1, 2, 3, 100}) lengths.push_back(boundary - delta);
    lengths.push_back(boundary);
  }
  for (std::uint64_t length = 17; length < pack.size(); length += pack.size() / 29) lengths.push_back(length);
  for (const std::uint64_t length : lengths) {
    if (length >= pack.size()) continue;
    SCOPED_TRACE("prefix of " + std::to_string(length) + " bytes");
    const Received r = read_pack(std::string_view(pack).substr(0, length), 64 * 1024);
    EXPECT_FALSE(r.complete);
    EXPECT_EQ(r.error, "") << "a prefix of a pack is not damaged, only short";
    EXPECT_EQ(r.misuse, std::vector<std::string>{});
    for (const auto& [object, ends] : r.body_ends) {
      EXPECT_EQ(r.bodies.at(object), *big.objects()[object]) << "an ended body is whole";
    }
  }
}

TEST_F(PackTest, EveryPrefixOfASmallPackIsIncomplete) {
  const std::string pack = small_pack();
  ASSERT_LT(pack.size(), 8192u);
  ASSERT_TRUE(read_pack(pack, pack.size()).complete);
  for (std::size_t length = 0; length < pack.size(); ++length) {
    SCOPED_TRACE("prefix of " + std::to_string(length) + " bytes");
    for (const std::size_t chunk : {std::size_t{7}, std::max<std::size_t>(length, 1)}) {
      const Received r = read_pack(std::string_view(pack).substr(0, length), chunk);
      ASSERT_FALSE(r.complete);
      ASSERT_EQ(r.error, "");
      ASSERT_EQ(r.misuse, std::vector<std::string>{});
    }
  }
}

TEST_F(PackTest, DamagedHeaderIsAnError) {
  const std::string pack = small_pack();
  const std::string header = pack.substr(0, kPackHeaderSize);
  // The digits of body_bytes: a larger body only makes the pack look short.
  const std::size_t body_key = header.find("\"body_bytes\":");
  ASSERT_NE(body_key, std::string::npos);
  const std::size_t body_digits = body_key + std::strlen("\"body_bytes\":");
  for (std::size_t i = 0; i < kPackHeaderSize; ++i) {
    SCOPED_TRACE("byte " + std::to_string(i) + " of the header");
    std::string damaged = pack;
    damaged[i] ^= 0x01;
    const Received r = read_pack(damaged, damaged.size());
    EXPECT_FALSE(r.complete);
    const bool larger_body = i >= body_digits && std::isdigit(static_cast<unsigned char>(pack[i])) &&
                             damaged[i] > pack[i];
    if (!larger_body) {
      EXPECT_NE(r.error, "");
    }
  }
}

TEST_F(PackTest, NotAPackIsAnError) {
  for (const std::string& bytes :
       {std::string(kPackHeaderSize, ' '), std::string(kPackHeaderSize, '\0'),
        nlohmann::json{{"gocachefs_pack", 2}, {"index_bytes", 10}}.dump() + std::string(kPackHeaderSize, ' '),
        nlohmann::json{{"gocachefs_pack", 1}, {"index_bytes", 0}}.dump() + std::string(kPackHeaderSize, ' '),
        nlohmann::json{{"gocachefs_pack", 1}, {"index_bytes", 1ull << 40}}.dump() + std::string(kPackHeaderSize, ' ')}) {
    const Received r = read_pack(bytes, bytes.size());
    EXPECT_FALSE(r.complete);
    EXPECT_NE(r.error, "") << bytes.substr(0, 60);
    EXPECT_EQ(r.index_calls, 0);
  }
}

// A header whose fields have the wrong JSON types comes from a remote too:
// an error, never an exception out of feed() nor a double beyond uint64
// converted (undefined; pack_fuzzer found it in seconds).
TEST_F(PackTest, HeaderOfWrongTypesIsAnErrorNotAnException) {
  for (const std::string json : {R"({"gocachefs_pack":"1","index_bytes":10})",
                                  R"({"gocachefs_pack":1,"index_bytes":"10"})",
                                  R"({"gocachefs_pack":1,"index_bytes":10,"front_bytes":[],"body_bytes":0})",
                                  R"({"gocachefs_pack":1,"index_bytes":10,"front_bytes":1e89,"body_bytes":0})",
                                  R"({"gocachefs_pack":1,"index_bytes":10,"front_bytes":-5,"body_bytes":0})"}) {
    SCOPED_TRACE(json);
    std::string header = json;
    header.resize(kPackHeaderSize - 1, ' ');
    header += '\n';
    Received r;
    EXPECT_NO_THROW(r = read_pack(header, header.size()));
    EXPECT_FALSE(r.complete);
    EXPECT_NE(r.error, "");
  }
}

// The index frame carries a checksum: a flipped byte is an error, unless it
// lies in bits the decoder ignores (then the index decodes unchanged).
TEST_F(PackTest, DamagedIndexIsAnError) {
  const std::string pack = small_pack();
  const PackHeader header = header_of(pack);
  const Received intact = read_pack(pack, pack.size());
  for (std::size_t i = kPackHeaderSize; i < kPackHeaderSize + header.index_bytes; ++i) {
    SCOPED_TRACE("byte " + std::to_string(i - kPackHeaderSize) + " of the index");
    std::string damaged = pack;
    damaged[i] ^= 0x01;
    const Received r = read_pack(damaged, damaged.size());
    if (r.complete) {
      EXPECT_EQ(r.index.actions.size(), intact.index.actions.size());
      for (std::size_t a = 0; a < r.index.actions.size() && a < intact.index.actions.size(); ++a) {
        EXPECT_EQ(r.index.actions[a].action_id, intact.index.actions[a].action_id);
        EXPECT_EQ(r.index.actions[a].object, intact.index.actions[a].object);
      }
    } else {
      EXPECT_NE(r.error, "");
    }
  }
}

// What the index frame does check: its zstd framing and its sizes.
TEST_F(PackTest, IndexOfBrokenFramingIsAnError) {
  const std::string pack = small_pack();
  const PackHeader header = header_of(pack);
  std::vector<std::size_t> positions = {0, 1, 2, 3, 4, 5};  // magic number, frame header
  positions.push_back(header.index_bytes - 1);               // the last block's end
  for (const std::size_t i : positions) {
    SCOPED_TRACE("byte " + std::to_string(i) + " of the index");
    std::string damaged = pack;
    damaged[kPackHeaderSize + i] ^= 0x01;
    const Received r = read_pack(damaged, 5);
    EXPECT_FALSE(r.complete);
    EXPECT_NE(r.error, "");
    EXPECT_EQ(r.index_calls, 0);
  }
}

// What an unchecked index would cost: a flipped byte giving an action
// another object of the pack, which every later get of that action would be
// answered with (the object itself is intact and hashes right).
TEST_F(PackTest, DamagedIndexNeverGivesAnActionAnotherObject) {
  const std::vector<PackInput> inputs = {input("a", "one"), input("b", "two"), input("c", "three")};
  const std::string pack = write(inputs);
  const PackHeader header = header_of(pack);
  std::map<Id, Id> original;
  std::set<Id> outputs;
  for (const auto& in : inputs) {
    original[in.action_id] = in.output_id;
    outputs.insert(in.output_id);
  }
  int remapped = 0;
  for (std::size_t i = kPackHeaderSize; i < kPackHeaderSize + header.index_bytes; ++i) {
    for (const int bit : {0x01, 0x02, 0x04}) {
      std::string damaged = pack;
      damaged[i] ^= static_cast<char>(bit);
      const Received r = read_pack(damaged, damaged.size());
      if (r.index_calls == 0) continue;
      for (const auto& action : r.index.actions) {
        const auto it = original.find(action.action_id);
        const Id& output_id = r.index.objects[action.object].output_id;
        // Another output_id that is no object's is harmless: storing fails its check.
        if (it != original.end() && it->second != output_id && outputs.contains(output_id)) {
          ++remapped;
          ADD_FAILURE() << "flipping bit " << bit << " of index byte " << i - kPackHeaderSize << " gives action "
                        << to_hex(action.action_id) << " another object, and the pack reads "
                        << (r.complete ? "whole" : "short");
        }
      }
    }
  }
  EXPECT_EQ(remapped, 0);
}

TEST_F(PackTest, DamagedHeadIsAnError) {
  // Random bytes are stored as they are: a flipped byte changes the head,
  // and the frame stays valid.
  const std::string large = random_bytes(kInlineObjectLimit + 1000, 11);
  const std::string pack = write({input("a", "small"), input("b", large)});
  const PackHeader header = header_of(pack);
  const std::size_t front_start = kPackHeaderSize + header.index_bytes;
  const std::size_t at = pack.find(large.substr(5000, 64), front_start);
  ASSERT_LT(at, front_start + header.front_bytes) << "the head's bytes are in the front";
  std::string damaged = pack;
  damaged[at + 10] ^= 0x01;
  const Received r = read_pack(damaged, 4096);
  EXPECT_FALSE(r.complete);
  EXPECT_NE(r.error.find("head"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find(to_hex(Sha256::of(large))), std::string::npos) << r.error;
  EXPECT_FALSE(r.fronts.count(1)) << "a damaged head is not handed on";
  EXPECT_FALSE(r.bodies.count(1));
  EXPECT_EQ(r.fronts.at(0), std::vector<std::string>{"small"});
}

TEST_F(PackTest, BytesAfterTheEndAreAnError) {
  const std::string pack = small_pack();
  Received r = read_pack(pack + "x", pack.size() + 1);
  EXPECT_FALSE(r.complete);
  EXPECT_NE(r.error.find("after the end"), std::string::npos) << r.error;

  r = read_pack(pack + std::string(100, '\0'), 7);
  EXPECT_FALSE(r.complete);
  EXPECT_NE(r.error, "");
}

// Frames whose blocks decode to more than the reader's buffer at once.
TEST_F(PackTest, CompressibleObjectsReadWholeInAnyChunks) {
  std::vector<std::string> objects;
  for (const std::size_t size : {std::size_t{200 * 1024}, std::size_t{250 * 1024}, kInlineObjectLimit,
                                 std::size_t{3 * 1024 * 1024}, std::size_t{kPackFrameSize + 300 * 1024}}) {
    objects.push_back(std::string(size, static_cast<char>('a' + objects.size())));
  }
  objects.push_back(text_bytes(kInlineObjectLimit - 1));
  // A pack of each object alone, then one of them all.
  std::vector<std::vector<PackInput>> packs;
  std::vector<PackInput> all;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    packs.push_back({input("action " + std::to_string(i), objects[i])});
    all.push_back(packs.back()[0]);
  }
  packs.push_back(all);
  for (const auto& inputs : packs) {
    SCOPED_TRACE(std::to_string(inputs.size()) + " objects, the first of " + std::to_string(inputs[0].size) +
                 " bytes");
    const std::string pack = write(inputs);
    for (const std::size_t chunk : {std::size_t{1000}, std::size_t{64 * 1024}, pack.size()}) {
      SCOPED_TRACE("chunks of " + std::to_string(chunk));
      Received r = read_pack(pack, chunk);
      EXPECT_TRUE(r.complete);
      EXPECT_EQ(r.error, "");
      ASSERT_EQ(r.index.objects.size(), inputs.size());
      for (std::uint32_t i = 0; i < inputs.size(); ++i) {
        const std::string& bytes = read_file(inputs[i].object_file);
        const bool in_body = r.index.objects[i].in_body();
        EXPECT_TRUE(r.fronts[i] == std::vector<std::string>{bytes.substr(0, in_body ? kInlinePrefixLimit : bytes.size())});
        if (in_body) {
          EXPECT_TRUE(r.bodies[i] == bytes) << r.bodies[i].size() << " bytes of " << bytes.size();
        }
      }
    }
  }
}

TEST_F(PackTest, WholePacksOfFewObjects) {
  Received none = read_pack(write({}), 1);
  EXPECT_TRUE(none.complete) << none.error;
  EXPECT_EQ(none.index_calls, 1);
  EXPECT_TRUE(none.index.objects.empty());

  // Empty sections: no front bytes, no body.
  Received empty = read_pack(write({input("a", ""), input("b", "")}), 3);
  EXPECT_TRUE(empty.complete) << empty.error;
  ASSERT_EQ(empty.index.objects.size(), 1u);
  ASSERT_EQ(empty.index.actions.size(), 2u);
  EXPECT_EQ(empty.fronts[0], std::vector<std::string>{""});

  // Only a body after the empty objects' turn.
  const std::string large = text_bytes(kInlineObjectLimit + 1);
  Received one = read_pack(write({input("a", large), input("b", "")}), 1000);
  EXPECT_TRUE(one.complete) << one.error;
  EXPECT_EQ(one.fronts[0], std::vector<std::string>{large.substr(0, kInlinePrefixLimit)});
  EXPECT_EQ(one.fronts[1], std::vector<std::string>{""});
  EXPECT_TRUE(one.bodies[0] == large);
  EXPECT_EQ(one.body_ends[0], 1);
}

TEST_F(PackTest, ObjectFileOfTheWrongSizeThrows) {
  PackInput wrong = input("a", "five!");
  wrong.size = 10;
  EXPECT_THROW(write({input("b", "fine"), wrong}), std::runtime_error);
  PackInput shorter = input("c", text_bytes(kInlineObjectLimit * 2));
  shorter.size = kInlineObjectLimit * 2 + 1;
  EXPECT_THROW(write({shorter}), std::runtime_error);
  PackInput missing = input("d", "gone");
  missing.object_file = dir / "no such file";
  EXPECT_THROW(write({missing}), std::runtime_error);
}

// An object the recording job did not read beyond its head travels as its
// head alone: no body, the head checked like any other.
TEST_F(PackTest, AnObjectNotReadWholeTravelsAsItsHead) {
  const std::string archive = text_bytes(kInlineArchiveLimit + 40000, "!<arch>\n");
  PackInput unread = input("a", archive);
  unread.read_whole = false;
  WrittenPack written;
  const std::string pack = write({unread, input("b", archive + "read")}, &written);
  EXPECT_EQ(written.body, (std::vector<bool>{false, true}));
  const Received r = read_pack(pack, 4096);
  ASSERT_TRUE(r.complete) << r.error;
  ASSERT_EQ(r.index.objects.size(), 2u);
  EXPECT_FALSE(r.index.objects[0].in_body());
  EXPECT_TRUE(r.index.objects[0].has_head());
  EXPECT_EQ(r.fronts.at(0).at(0), archive.substr(0, kInlinePrefixLimit));
  EXPECT_FALSE(r.bodies.contains(0));
  EXPECT_EQ(r.bodies.at(1), archive + "read");
}

// A known miss is an action without an object.
TEST_F(PackTest, AKnownMissIsAnActionWithoutAnObject) {
  PackInput miss;
  miss.action_id = Sha256::of("nowhere");
  miss.miss = true;
  WrittenPack written;
  const std::string pack = write({input("a", "tiny"), miss}, &written);
  EXPECT_EQ(written.actions, 2u);
  EXPECT_EQ(written.objects, 1u);
  const Received r = read_pack(pack, 7);
  ASSERT_TRUE(r.complete) << r.error;
  ASSERT_EQ(r.index.actions.size(), 2u);
  EXPECT_EQ(r.index.actions[1].action_id, miss.action_id);
  EXPECT_EQ(r.index.actions[1].object, kKnownMiss);
}

// A remote anyone can write to: with a key, only packs signed by one of
// its keys are read, and none declares an object over the maximum size.
TEST_F(PackTest, WithAKeyOnlySignedPacksAreRead) {
  const auto keys = std::make_shared<const SigningKeys>(
      SigningKeys({{"team-2", std::string(40, 'n')}, {"team-1", std::string(40, 'o')}}));
  const auto other = std::make_shared<const SigningKeys>(SigningKeys({{"team-2", std::string(40, 'x')}}));
  const std::vector<PackInput> inputs = {input("a", text_bytes(100)), input("b", text_bytes(kInlineObjectLimit + 5))};
  const std::string signed_pack = write(inputs, nullptr, keys.get());
  const std::string unsigned_pack = write(inputs);

  const Received good = read_pack(signed_pack, 4096, {keys});
  EXPECT_TRUE(good.complete) << good.error;
  EXPECT_EQ(good.index.actions.size(), 2u);
  // Rotation: the old key, second in a newer file, still verifies.
  const auto rotated = std::make_shared<const SigningKeys>(
      SigningKeys({{"team-3", std::string(40, 'p')}, {"team-2", std::string(40, 'n')}}));
  EXPECT_TRUE(read_pack(signed_pack, 4096, {rotated}).complete);
  // Without a key, a signed pack reads as any other.
  EXPECT_TRUE(read_pack(signed_pack, 4096).complete);

  for (const auto& [pack, trust, why] : {std::tuple{unsigned_pack, keys, "not signed"},
                                         std::tuple{signed_pack, other, "signed wrongly"}}) {
    const Received r = read_pack(pack, 4096, {trust});
    EXPECT_FALSE(r.complete);
    EXPECT_TRUE(r.untrusted) << r.error;
    EXPECT_EQ(r.index_calls, 0) << "an untrusted index is never delivered";
    EXPECT_NE(r.error.find(why), std::string::npos) << r.error;
  }
  // A header whose sizes were changed after signing.
  std::string altered = signed_pack;
  const auto at = altered.find("\"front_bytes\":");
  ASSERT_NE(at, std::string::npos);
  altered[at + 14] = altered[at + 14] == '9' ? '8' : static_cast<char>(altered[at + 14] + 1);
  EXPECT_TRUE(read_pack(altered, 4096, {keys}).untrusted);
}

TEST_F(PackTest, AnObjectOverTheMaximumSizeIsRefusedBeforeItsIndexIsUsed) {
  const std::string pack = write({input("a", text_bytes(100)), input("b", text_bytes(300000))});
  const Received r = read_pack(pack, 4096, {nullptr, 200000});
  EXPECT_FALSE(r.complete);
  EXPECT_TRUE(r.untrusted);
  EXPECT_EQ(r.index_calls, 0);
  EXPECT_NE(r.error.find("max-object-size"), std::string::npos) << r.error;
  EXPECT_TRUE(read_pack(pack, 4096, {nullptr, 300000}).complete);
}

// Readers keep heads in memory: a head is never larger than what a record
// carries of a large object, whatever an index declares.
TEST_F(PackTest, AHeadLargerThanARecordsIsRefusedBeforeItsIndexIsUsed) {
  const Received over = read_pack(testing::crafted_pack(2, 1 << 20, kInlinePrefixLimit + 1), 4096);
  EXPECT_FALSE(over.complete);
  EXPECT_EQ(over.index_calls, 0) << "an index declaring a head of " << kInlinePrefixLimit + 1 << " bytes was used";
  EXPECT_NE(over.error.find("index"), std::string::npos) << over.error;
  // The largest head there is: its index is used (the crafted pack has no fronts after it).
  const Received largest = read_pack(testing::crafted_pack(2, 1 << 20, kInlinePrefixLimit), 4096);
  EXPECT_EQ(largest.index_calls, 1) << largest.error;
  // A small object travels whole, up to the inline limit.
  const Received whole = read_pack(testing::crafted_pack(2, kInlineObjectLimit, kInlineObjectLimit), 4096);
  EXPECT_EQ(whole.index_calls, 1) << whole.error;
}

}  // namespace
}  // namespace gocachefs

namespace gocachefs {
namespace {

// Reads object `i` of a pack as a lazy reader does: the frames' places from
// the stream, then only the bytes body_slice names.
std::string read_by_range(const std::string& pack, std::uint32_t i) {
  PackFrames frames;
  PackIndex index;
  PackReader reader({.index = [&](const PackIndex& read) { index = read; },
                     .front = [](std::uint32_t, std::string) {},
                     .body_data = [](std::uint32_t, const char*, std::size_t) {},
                     .body_end = [](std::uint32_t) {},
                     .frames = [&](const PackFrames& read) { frames = read; }});
  EXPECT_TRUE(reader.feed(pack.data(), pack.size())) << reader.error();
  const std::uint64_t begin = body_offsets(index)[i], end = begin + index.objects[i].size;
  const auto slice = body_slice(frames, begin, index.objects[i].size);
  if (!slice) return "(no slice)";
  EXPECT_LE(slice->offset + slice->length, pack.size());
  std::string out;
  std::uint64_t expected = slice->body_begin;
  PackSliceReader slice_reader(*slice, [&](std::uint64_t at, const char* d, std::size_t n) {
    EXPECT_EQ(at, expected) << "decoded bytes in order";
    expected += n;
    const std::uint64_t from = std::max(at, begin), to = std::min(at + n, end);
    if (from < to) out.append(d + (from - at), to - from);
  });
  const std::string_view bytes = std::string_view(pack).substr(slice->offset, slice->length);
  for (std::size_t at = 0; at < bytes.size(); at += 1000) {  // as the network delivers
    EXPECT_TRUE(slice_reader.feed(bytes.data() + at, std::min<std::size_t>(1000, bytes.size() - at)));
  }
  return out;
}

// The bodies a job read first come first; those it did not (cold) go last,
// where a lazy reader's stream stops, and each one can be read by a range.
TEST_F(PackTest, ColdBodiesGoLastAndAnyBodyReadsByRange) {
  const std::string warm = random_bytes(kPackFrameSize + 1000, 1);  // spans two frames
  const std::string cold_archive = text_bytes(kInlineArchiveLimit + 70000, "!<arch>\n");
  const std::string cold_large = random_bytes(kPackFrameSize / 2, 2);
  const std::string small = "small";
  std::vector<PackInput> inputs = {input("cold1", cold_archive), input("warm", warm), input("small", small),
                                   input("cold2", cold_large)};
  inputs[0].cold = inputs[3].cold = true;
  WrittenPack written;
  const std::string pack = write(inputs, &written);
  EXPECT_EQ(written.body, (std::vector<bool>{false, true, false, false})) << "cold bodies are not read first";

  const Received r = read_pack(pack, 4096);
  ASSERT_TRUE(r.complete) << r.error;
  EXPECT_TRUE(r.index.objects[0].cold && r.index.objects[0].in_body());
  EXPECT_FALSE(r.index.objects[1].cold);
  EXPECT_TRUE(r.index.objects[3].cold);
  EXPECT_TRUE(r.bodies.at(0) == cold_archive && r.bodies.at(1) == warm && r.bodies.at(3) == cold_large)
      << "a reader that goes on gets every body";
  const auto offsets = body_offsets(r.index);
  EXPECT_EQ(offsets[1], 0u) << "the warm body first";
  EXPECT_EQ(offsets[0], warm.size()) << "then the cold, in object order";
  EXPECT_EQ(offsets[3], warm.size() + cold_archive.size());

  EXPECT_TRUE(read_by_range(pack, 1) == warm);
  EXPECT_TRUE(read_by_range(pack, 0) == cold_archive);
  EXPECT_TRUE(read_by_range(pack, 3) == cold_large);
}

TEST_F(PackTest, DamagedFramesSectionIsAnError) {
  std::string pack = write({input("warm", random_bytes(kPackFrameSize + 1000, 3))});
  const PackHeader header = header_of(pack);
  ASSERT_EQ(header.frames_bytes, 8u);
  pack[kPackHeaderSize + header.index_bytes + header.front_bytes] ^= 1;  // a frame's size
  const Received r = read_pack(pack, 4096);
  EXPECT_FALSE(r.complete);
  EXPECT_NE(r.error.find("frames"), std::string::npos) << r.error;
}

TEST(PackSlice, OutsideTheFramesIsNone) {
  const PackFrames frames{1000, {10, 20}};
  EXPECT_FALSE(body_slice(frames, 2 * kPackFrameSize, 1));
  EXPECT_FALSE(body_slice(frames, kPackFrameSize, kPackFrameSize + 1));
  const auto slice = body_slice(frames, kPackFrameSize - 1, 2);  // the last byte of one, the first of the next
  ASSERT_TRUE(slice);
  EXPECT_EQ(slice->offset, 1000u);
  EXPECT_EQ(slice->length, 30u);
  EXPECT_EQ(slice->body_begin, 0u);
  EXPECT_EQ(slice->body_end, 2 * kPackFrameSize);
  const auto second = body_slice(frames, kPackFrameSize + 5, 1);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->offset, 1010u);
  EXPECT_EQ(second->length, 20u);
  EXPECT_EQ(second->body_begin, kPackFrameSize);
}

}  // namespace
}  // namespace gocachefs
