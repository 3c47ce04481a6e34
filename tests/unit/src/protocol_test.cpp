#include "src/protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/input_stream.h"
#include "store/sha256.h"

namespace gocachefs {

namespace {
const Id kAction = Sha256::of("action");
const std::string kActionB64 = id_to_base64(kAction);
}  // namespace

TEST(ParseRequest, GetAsCmdGoSendsIt) {
  const Request r = parse_request(R"({"ID":7,"Command":"get","ActionID":")" + kActionB64 + R"("})");
  EXPECT_EQ(r.id, 7);
  EXPECT_EQ(r.command, "get");
  EXPECT_EQ(r.action_id, kAction);
  EXPECT_FALSE(r.output_id);
  EXPECT_EQ(r.body_size, 0u);
  EXPECT_EQ(r.error, "");
}

TEST(ParseRequest, PutWithBodySize) {
  const Request r = parse_request(R"({"ID":8,"Command":"put","ActionID":")" + kActionB64 + R"(","OutputID":")" +
                                  kActionB64 + R"(","BodySize":12345678901})");
  EXPECT_EQ(r.body_size, 12345678901u);
  EXPECT_EQ(r.output_id, kAction);
  EXPECT_EQ(r.error, "");
}

TEST(ParseRequest, ProblemsWithAKnownIdBecomeRequestErrors) {
  EXPECT_NE(parse_request(R"({"ID":1,"Command":"get","ActionID":"%%%"})").error, "");
  EXPECT_NE(parse_request(R"({"ID":1,"Command":"get","ActionID":"YQ=="})").error, "");  // 1 byte
  EXPECT_NE(parse_request(R"({"ID":1,"Command":"get","ActionID":17})").error, "");
  EXPECT_NE(parse_request(R"({"ID":1,"ActionID":")" + kActionB64 + R"("})").error, "");
  EXPECT_NE(parse_request(R"({"ID":1,"Command":"put","BodySize":-4})").error, "");
  EXPECT_NE(parse_request(R"({"ID":1,"Command":"put","BodySize":"4"})").error, "");
}

TEST(ParseRequest, UnanswerableRequestsAreProtocolErrors) {
  EXPECT_THROW(parse_request("{not json"), ProtocolError);
  EXPECT_THROW(parse_request(R"("a string")"), ProtocolError);
  EXPECT_THROW(parse_request(R"({"Command":"get"})"), ProtocolError);
  EXPECT_THROW(parse_request(R"({"ID":"3","Command":"get"})"), ProtocolError);
  // Found by tests/fuzz/request_fuzzer: a NUL ended parsing early.
  EXPECT_THROW(parse_request(std::string_view("{\"ID\":1,\"Command\":\"get\"}\0{ not json", 36)), ProtocolError);
  EXPECT_THROW(parse_request(R"({"ID":9223372036854775808,"Command":"get"})"), ProtocolError);
}

TEST(Serialize, OmitsEmptyFieldsLikeGo) {
  EXPECT_EQ(serialize(Response{.id = 3}), "{\"ID\":3}\n");
  EXPECT_EQ(serialize(Response{.id = 4, .miss = true}), "{\"ID\":4,\"Miss\":true}\n");
  Response hello;
  hello.known_commands = {"get", "put", "close"};
  EXPECT_EQ(serialize(hello), "{\"ID\":0,\"KnownCommands\":[\"get\",\"put\",\"close\"]}\n");
}

TEST(Serialize, HitCarriesEverythingCmdGoReads) {
  Response hit{.id = 9, .output_id = kAction, .size = 5, .time_ns = 1700000000123456789, .disk_path = "/s/ab/cd"};
  const auto j = nlohmann::json::parse(serialize(hit));
  EXPECT_EQ(j["OutputID"], kActionB64);
  EXPECT_EQ(j["Size"], 5);
  EXPECT_EQ(j["Time"], "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(j["DiskPath"], "/s/ab/cd");
  EXPECT_FALSE(j.contains("Miss"));
}

TEST(Serialize, InvalidUtf8InAnErrorStillGoesOut) {
  const std::string line = serialize(Response{.id = 1, .err = "bad \xff byte"});
  EXPECT_TRUE(nlohmann::json::accept(line));
}

TEST(FormatRfc3339, PadsNanoseconds) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(format_rfc3339(1000000001), "1970-01-01T00:00:01.000000001Z");
}

}  // namespace gocachefs
