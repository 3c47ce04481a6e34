#include "store/action_record.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>

#include <nlohmann/json.hpp>

#include "store/sha256.h"

namespace gocachefs {
namespace {

const Id kAction = Sha256::of("action");

// A whole object's record names it by its hash; a head's names some object.
ActionRecord sample(std::string inline_bytes, std::uint64_t size) {
  const Id output_id = inline_bytes.size() == size ? Sha256::of(inline_bytes) : Sha256::of("object");
  return ActionRecord{output_id, size, 1700000000123456789, std::move(inline_bytes)};
}

TEST(ActionRecordTest, RoundTripsBinaryInlineBytes) {
  const std::string bytes("\0\xff\x28\xb5 binary\n", 12);
  const auto decoded = decode_action_record(encode_action_record(kAction, sample(bytes, bytes.size())), kAction);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->output_id, Sha256::of(bytes));
  EXPECT_EQ(decoded->size, bytes.size());
  EXPECT_EQ(decoded->put_time_ns, 1700000000123456789);
  EXPECT_EQ(decoded->inline_bytes, bytes);
  EXPECT_TRUE(decoded->inlines_whole_object());
}

TEST(ActionRecordTest, PrefixOfALargeObjectIsNotTheWholeObject) {
  const auto decoded = decode_action_record(encode_action_record(kAction, sample("first bytes", 1 << 20)), kAction);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->size, 1u << 20);
  EXPECT_FALSE(decoded->inlines_whole_object());
}

TEST(ActionRecordTest, WholeObjectTravelsCompressedWhenThatPays) {
  std::string object;
  for (int i = 0; object.size() < kInlineObjectLimit; ++i) object += "export data " + std::to_string(i) + "\n";
  object.resize(kInlineObjectLimit);  // the largest object that travels whole
  const std::string encoded = encode_action_record(kAction, sample(object, object.size()));
  EXPECT_NE(encoded.find(R"("inline_zstd":true)"), std::string::npos);
  EXPECT_LT(encoded.size(), object.size() / 2);
  const auto decoded = decode_action_record(encoded, kAction);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->inline_bytes, object);
  EXPECT_TRUE(decoded->inlines_whole_object());

  // So does a large object's prefix (the lazy mount's head); bytes that do
  // not compress stay plain.
  const std::string prefix = object.substr(0, kInlinePrefixLimit);
  const std::string prefix_record = encode_action_record(kAction, sample(prefix, 1 << 20));
  EXPECT_NE(prefix_record.find(R"("inline_zstd":true)"), std::string::npos);
  EXPECT_EQ(decode_action_record(prefix_record, kAction)->inline_bytes, prefix);
  std::mt19937 random(42);
  std::string noise(8192, '\0');
  for (char& c : noise) c = static_cast<char>(random());
  EXPECT_EQ(encode_action_record(kAction, sample(noise, noise.size())).find("inline_zstd"), std::string::npos);
}

// Bytes travel raw after a line of JSON, not as base64 inside it.
TEST(ActionRecordTest, InlineBytesFollowAJsonLine) {
  std::mt19937 random(7);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(random());
  const std::string encoded = encode_action_record(kAction, sample(noise, noise.size()));
  const auto newline = encoded.find('\n');
  ASSERT_NE(newline, std::string::npos);
  EXPECT_EQ(encoded.substr(newline + 1), noise);
  EXPECT_LT(encoded.size(), noise.size() + 300);  // the line names the action and the object
  EXPECT_NE(encoded.substr(0, newline).find(R"("v":2)"), std::string::npos);
}

// Damage that format 1's base64 caught by chance is caught on purpose.
TEST(ActionRecordTest, DamagedInlineBytesAreNotARecord) {
  std::string object = "!<arch>\n";
  for (int i = 0; object.size() < 100000; ++i) object += "export data " + std::to_string(i) + "\n";
  for (const ActionRecord& record : {sample(object, object.size()), sample(object.substr(0, kInlinePrefixLimit), 1 << 20)}) {
    std::string encoded = encode_action_record(kAction, record);
    ASSERT_TRUE(decode_action_record(encoded, kAction));
    encoded[encoded.size() - 10] ^= 0x01;  // in the inline bytes
    EXPECT_FALSE(decode_action_record(encoded, kAction)) << record.size;
  }
  std::string plain = encode_action_record(kAction, sample("plain bytes, too short to compress", 34));
  plain.back() ^= 0x01;
  EXPECT_FALSE(decode_action_record(plain, kAction));
}

TEST(ActionRecordTest, RecordsOfTheFirstFormatStillRead) {
  const std::string hex = to_hex(Sha256::of("abc"));
  const auto decoded =
      decode_action_record(R"({"v":1,"output_id":")" + hex + R"(","size":3,"put_time_ns":5,"inline":"YWJj"})", kAction);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->inline_bytes, "abc");
  EXPECT_EQ(decoded->put_time_ns, 5);
}

// A head in format 1 has no hash to check it by (the lazy mount would serve
// it as it came), and no release wrote that format: refused.
TEST(ActionRecordTest, AFirstFormatRecordCarryingAHeadIsRefused) {
  const std::string object = "abcdef";
  const std::string hex = to_hex(Sha256::of(object));
  RecordProblem problem = RecordProblem::kNone;
  EXPECT_FALSE(decode_action_record(R"({"v":1,"output_id":")" + hex + R"(","size":6,"put_time_ns":5,"inline":"YWJj"})",
                                    kAction, {}, &problem));  // "abc", the first half
  EXPECT_EQ(problem, RecordProblem::kMalformed);
  EXPECT_TRUE(decode_action_record(R"({"v":1,"output_id":")" + hex + R"(","size":6,"put_time_ns":5,"inline":"YWJjZGVm"})",
                                   kAction))
      << "the whole object, checked against its OutputID";
}

TEST(ActionRecordTest, WhatARecordCarries) {
  EXPECT_EQ(inline_size_for(100, "text"), 100u);
  EXPECT_EQ(inline_size_for(kInlineObjectLimit, "vet facts"), kInlineObjectLimit);
  EXPECT_EQ(inline_size_for(kInlineObjectLimit + 1, "big"), kInlinePrefixLimit);
  // Archives: whole only when small; most readers read only their build ID.
  EXPECT_EQ(inline_size_for(kInlineArchiveLimit, "!<arch>\n__.PKGDEF"), kInlineArchiveLimit);
  EXPECT_EQ(inline_size_for(kInlineArchiveLimit + 1, "!<arch>\n__.PKGDEF"), kInlinePrefixLimit);
}

TEST(ActionRecordTest, EmptyObjectIsInlinedWhole) {
  const auto decoded = decode_action_record(encode_action_record(kAction, sample("", 0)), kAction);
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(decoded->inlines_whole_object());
}

TEST(ActionRecordTest, GarbageIsNotARecord) {
  const std::string good = encode_action_record(kAction, sample("abc", 3));
  const std::string hex = to_hex(Sha256::of("abc"));
  for (const std::string& bad : {
           std::string(""),
           std::string("not json"),
           std::string("\x00\xff garbage", 10),
           std::string("[]"),
           good.substr(0, good.size() / 2),
           good.substr(0, good.size() - 1),  // a byte short of inline_size
           good + "x",                        // a byte more
           std::string(R"({"v":2,"output_id":")" + hex + R"(","size":3,"put_time_ns":1,"inline_size":3})" + "\nab"),
           std::string(R"({"v":2,"output_id":")" + hex + R"(","size":3,"put_time_ns":1,"inline_size":-3})" + "\nabc"),
           // Version 1 with a body, version 2 without one.
           std::string(R"({"v":1,"output_id":")" + hex + R"(","size":3,"put_time_ns":1,"inline":"YWJj"})" + "\n"),
           std::string(R"({"v":2,"output_id":")" + hex + R"(","size":3,"put_time_ns":1,"inline":"YWJj"})"),
           std::string(R"({"v":1,"output_id":"zz","size":3,"put_time_ns":1,"inline":"YWJj"})"),
           std::string(R"({"v":1,"output_id":")" + hex + R"(","size":-3,"put_time_ns":1,"inline":"YWJj"})"),
           std::string(R"({"v":1,"output_id":")" + hex + R"(","size":3,"inline":"YWJj"})"),
           std::string(R"({"v":1,"output_id":")" + hex + R"(","size":3,"put_time_ns":1,"inline":"!!!"})"),
           // Inline bytes longer than the object.
           std::string(R"({"v":1,"output_id":")" + hex + R"(","size":2,"put_time_ns":1,"inline":"YWJj"})"),
           // Said to be zstd and is not; a field of the wrong type.
           std::string(R"({"v":1,"output_id":")" + hex + R"(","size":3,"put_time_ns":1,"inline":"YWJj","inline_zstd":true})"),
           std::string(R"({"v":1,"output_id":")" + hex + R"(","size":3,"put_time_ns":1,"inline":"YWJj","inline_zstd":"yes"})"),
           std::string(R"({"v":"1","output_id":")" + hex + R"(","size":3,"put_time_ns":1,"inline":"YWJj"})"),
           // A version that is not an integer (found by tests/fuzz/action_record_fuzzer: converting
           // 1e27 to int was undefined behaviour).
           std::string(R"({"v":1e27,"output_id":")" + hex + R"(","size":3,"put_time_ns":1,"inline":"YWJj"})"),
           std::string(R"({"v":1.0,"output_id":")" + hex + R"(","size":3,"put_time_ns":1,"inline":"YWJj"})"),
       }) {
    EXPECT_FALSE(decode_action_record(bad, kAction)) << bad;
  }
}

std::shared_ptr<const SigningKeys> keys(const std::string& text) {
  return std::make_shared<const SigningKeys>(SigningKeys::parse(text));
}

TEST(ActionRecordTest, ARecordIsBoundToItsAction) {
  const std::string encoded = encode_action_record(kAction, sample("compiled", 8));
  EXPECT_NE(encoded.find(to_hex(kAction)), std::string::npos) << "the header names the action";
  RecordProblem problem;
  EXPECT_TRUE(decode_action_record(encoded, kAction, {}, &problem));
  EXPECT_EQ(problem, RecordProblem::kNone);
  // Copied to another action's key, or served by a proxy for another key.
  EXPECT_FALSE(decode_action_record(encoded, Sha256::of("another action"), {}, &problem));
  EXPECT_EQ(problem, RecordProblem::kOtherAction);
}

// Written by gocachefs before records named their action.
std::string legacy_record() {
  return R"({"v":2,"output_id":")" + to_hex(Sha256::of("abc")) + R"(","size":3,"put_time_ns":5,"inline_size":3})" +
         "\nabc";
}

TEST(ActionRecordTest, LegacyRecordsAreReadWithoutAKeyAndRefusedWithOne) {
  RecordProblem problem;
  EXPECT_TRUE(decode_action_record(legacy_record(), kAction, {}, &problem));
  EXPECT_FALSE(decode_action_record(legacy_record(), kAction, {keys("team " + std::string(32, 'k'))}, &problem));
  EXPECT_EQ(problem, RecordProblem::kUnsigned);
}

TEST(ActionRecordTest, WithAKeyOnlyValidlySignedRecordsAreRead) {
  const auto team = keys("team-2 " + std::string(40, 'n') + "\nteam-1 " + std::string(40, 'o'));
  const RemoteTrust trust{team};
  std::string object = "!<arch>\n";
  for (int i = 0; object.size() < 100000; ++i) object += "export data " + std::to_string(i) + "\n";
  for (const ActionRecord& record :
       {sample("small", 5), sample(object, object.size()), sample(object.substr(0, kInlinePrefixLimit), 1 << 20)}) {
    const std::string signed_record = encode_action_record(kAction, record, team.get());
    RecordProblem problem;
    const auto decoded = decode_action_record(signed_record, kAction, trust, &problem);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->inline_bytes, record.inline_bytes);
    // A signed record read without a key: as any other.
    EXPECT_TRUE(decode_action_record(signed_record, kAction));

    const auto refused = [&](const std::string& bytes, const RemoteTrust& with, const Id& action = kAction) {
      RecordProblem why = RecordProblem::kNone;
      EXPECT_FALSE(decode_action_record(bytes, action, with, &why));
      return why;
    };
    EXPECT_EQ(refused(encode_action_record(kAction, record), trust), RecordProblem::kUnsigned);
    EXPECT_EQ(refused(signed_record, trust, Sha256::of("another")), RecordProblem::kOtherAction);
    EXPECT_EQ(refused(encode_action_record(kAction, record, keys("stranger " + std::string(40, 's')).get()), trust),
              RecordProblem::kUnknownKey);
    EXPECT_EQ(refused(encode_action_record(kAction, record, keys("team-2 " + std::string(40, 'x')).get()), trust),
              RecordProblem::kBadSignature);
    // Any field changed after signing: the time, the size, the object, the key id.
    const std::size_t newline = signed_record.find('\n');
    for (const auto& [field, value] : std::initializer_list<std::pair<const char*, nlohmann::json>>{
             {"put_time_ns", record.put_time_ns + 1},
             {"size", record.size + 1},
             {"output_id", to_hex(Sha256::of("another object"))},
             {"key_id", "team-1"}}) {
      auto header = nlohmann::json::parse(signed_record.substr(0, newline));
      header[field] = value;
      const RecordProblem why = refused(header.dump() + signed_record.substr(newline), trust);
      // Another size or object may break the inline bytes' own checks first.
      EXPECT_TRUE(why == RecordProblem::kBadSignature || why == RecordProblem::kMalformed) << field;
      if (std::string(field) == "put_time_ns" || std::string(field) == "key_id") {
        EXPECT_EQ(why, RecordProblem::kBadSignature) << field;
      }
    }
    // Rotated: the old key, now second, still verifies.
    EXPECT_TRUE(decode_action_record(encode_action_record(kAction, record, keys("team-1 " + std::string(40, 'o')).get()),
                                     kAction, trust));
  }
}

// The length of the cas/ entry as written travels with the record, signed:
// the lazy mount compares it with what the remote holds before it answers.
TEST(ActionRecordTest, TheStoredSizeOfItsEntryIsCarriedAndSigned) {
  const auto team = keys("team " + std::string(40, 'n'));
  ActionRecord record = sample(std::string(kInlinePrefixLimit, 'h'), 1 << 20);
  record.stored_size = 12345;
  const std::string signed_record = encode_action_record(kAction, record, team.get());
  const auto decoded = decode_action_record(signed_record, kAction, RemoteTrust{team});
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->stored_size, 12345u);
  EXPECT_EQ(decode_action_record(encode_action_record(kAction, sample("small", 5)), kAction)->stored_size, 0u);

  const std::size_t newline = signed_record.find('\n');
  auto header = nlohmann::json::parse(signed_record.substr(0, newline));
  header["stored_size"] = 54321;  // a swapped entry's length, written in by someone without the key
  RecordProblem why = RecordProblem::kNone;
  EXPECT_FALSE(decode_action_record(header.dump() + signed_record.substr(newline), kAction, RemoteTrust{team}, &why));
  EXPECT_EQ(why, RecordProblem::kBadSignature);
  header["stored_size"] = "many";
  EXPECT_FALSE(decode_action_record(header.dump() + signed_record.substr(newline), kAction));
}

TEST(ActionRecordTest, AnObjectOverTheMaximumSizeIsRefused) {
  const std::string encoded = encode_action_record(kAction, sample("first bytes", 200ULL << 30));
  RecordProblem problem;
  EXPECT_FALSE(decode_action_record(encoded, kAction, {}, &problem)) << "200 GiB is over the 4 GiB default";
  EXPECT_EQ(problem, RecordProblem::kTooLarge);
  EXPECT_TRUE(decode_action_record(encoded, kAction, {nullptr, 200ULL << 30}));
}

}  // namespace
}  // namespace gocachefs
