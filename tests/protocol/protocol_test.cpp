// Drives the real gocachefs binary through pipes with what cmd/go sends, and
// with every kind of bad input.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "store/base64.h"
#include "store/sha256.h"
#include "tests/protocol/gocachefs_process.h"

namespace gocachefs::testing {
namespace {

Id action(const std::string& name) { return Sha256::of("action:" + name); }

std::size_t regular_files_under(const std::string& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

class ProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override { EXPECT_EQ(helper.handshake()["ID"], 0); }

  // Closes the session and checks it ended cleanly and quietly.
  void close_cleanly(std::int64_t id = 999999) {
    EXPECT_EQ(helper.close(id), json({{"ID", id}}));
    helper.child().close_stdin();
    EXPECT_EQ(helper.child().wait(), 0);
    EXPECT_EQ(helper.child().stderr_text(), "");
    EXPECT_EQ(regular_files_under(store / "tmp"), 0u) << "temp files left behind";
  }

  TempDir store;
  GocachefsProcess helper{store.path()};
};

TEST_F(ProtocolTest, HandshakeDeclaresGetPutClose) {
  GocachefsProcess other(store.path());
  EXPECT_EQ(other.handshake(), json::parse(R"({"ID":0,"KnownCommands":["get","put","close"]})"));
  close_cleanly();
}

TEST_F(ProtocolTest, PutThenGetServesTheBytesAtAPathWithoutExtension) {
  const std::string body = "compiled package bytes \x01\x02\xff";
  helper.put(1, action("a"), body);
  const json put = helper.receive();
  EXPECT_EQ(put["ID"], 1);
  EXPECT_FALSE(put.contains("Err")) << put;
  const std::string path = put["DiskPath"];
  EXPECT_EQ(read_file(path), body);

  helper.get(2, action("a"));
  const json hit = helper.receive();
  EXPECT_EQ(hit["ID"], 2);
  EXPECT_FALSE(hit.contains("Miss"));
  EXPECT_EQ(hit["DiskPath"], path);
  EXPECT_EQ(hit["OutputID"], id_to_base64(Sha256::of(body)));
  EXPECT_EQ(hit["Size"], body.size());
  EXPECT_TRUE(hit["Time"].is_string());
  EXPECT_EQ(std::filesystem::path(path).extension(), "");
  EXPECT_TRUE(path.starts_with(store.path()));

  helper.get(3, action("never put"));
  EXPECT_EQ(helper.receive(), json({{"ID", 3}, {"Miss", true}}));
  close_cleanly();
}

TEST_F(ProtocolTest, EmptyPutHasNoBodyLineAndStillGetsAFile) {
  helper.put(1, action("empty"), "");
  const json put = helper.receive();
  ASSERT_TRUE(put.contains("DiskPath")) << put;
  EXPECT_TRUE(std::filesystem::is_regular_file(put["DiskPath"].get<std::string>()));
  EXPECT_EQ(std::filesystem::file_size(put["DiskPath"].get<std::string>()), 0u);
  helper.get(2, action("empty"));
  const json hit = helper.receive();
  EXPECT_EQ(hit["DiskPath"], put["DiskPath"]);
  EXPECT_FALSE(hit.contains("Size"));  // 0 is omitted, as Go omits it
  close_cleanly();
}

TEST_F(ProtocolTest, TimeIsTheOriginalPutTimeInLaterSessions) {
  helper.put(1, action("a"), "x");
  helper.receive();
  helper.get(2, action("a"));
  const std::string first_time = helper.receive()["Time"];
  close_cleanly();

  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  GocachefsProcess later(store.path());
  later.handshake();
  later.get(1, action("a"));
  EXPECT_EQ(later.receive()["Time"], first_time);
  later.close(2);
}

TEST_F(ProtocolTest, DamagedObjectIsAMiss) {
  helper.put(1, action("a"), "0123456789");
  const std::string path = helper.receive()["DiskPath"];
  std::filesystem::resize_file(path, 5);
  helper.get(2, action("a"));
  EXPECT_EQ(helper.receive(), json({{"ID", 2}, {"Miss", true}}));
  std::filesystem::remove(path);
  helper.get(3, action("a"));
  EXPECT_EQ(helper.receive(), json({{"ID", 3}, {"Miss", true}}));
  close_cleanly();
}

// Every request-level error: answered with Err, nothing stored, still in step.
struct BadRequest {
  const char* name;
  std::string bytes;  // everything written for the request, body line included
  friend void PrintTo(const BadRequest& r, std::ostream* os) { *os << r.name; }
};

class BadRequestTest : public ProtocolTest, public ::testing::WithParamInterface<BadRequest> {};

std::string put_header(std::int64_t id, const std::string& body_for_id, std::uint64_t size) {
  return json({{"ID", id},
               {"Command", "put"},
               {"ActionID", id_to_base64(action("bad"))},
               {"OutputID", id_to_base64(Sha256::of(body_for_id))},
               {"BodySize", size}})
             .dump() +
         "\n\n";
}

TEST_P(BadRequestTest, GetsAnErrAndLosesNothing) {
  helper.send_raw(GetParam().bytes);
  // The next request goes out at once: a missing body line shows only when
  // the next line arrives.
  helper.get(8, action("probe"));
  auto responses = helper.receive(2);
  const json& response = responses[7];
  EXPECT_TRUE(response.contains("Err") && !response["Err"].get<std::string>().empty()) << response;
  EXPECT_EQ(responses[8], json({{"ID", 8}, {"Miss", true}})) << "not in step after the error";
  helper.get(9, action("bad"));
  EXPECT_EQ(helper.receive(), json({{"ID", 9}, {"Miss", true}})) << "a bad put was stored";
  EXPECT_EQ(regular_files_under(store / "objects"), 0u);
  close_cleanly();
}

const std::string kHello = "hello";
const std::string kHelloB64 = base64::encode(kHello);

INSTANTIATE_TEST_SUITE_P(
    Protocol, BadRequestTest,
    ::testing::Values(
        BadRequest{"BodyMissing", put_header(7, kHello, 5)},
        BadRequest{"BodyNotAString", put_header(7, kHello, 5) + "12345\n"},
        BadRequest{"BodyNotBase64", put_header(7, kHello, 5) + "\"h*llo===\"\n"},
        BadRequest{"BodyUnpadded", put_header(7, kHello, 5) + "\"aGVsbG8\"\n"},
        BadRequest{"BodyShorterThanBodySize", put_header(7, kHello + "!", 6) + "\"" + kHelloB64 + "\"\n"},
        BadRequest{"BodyLongerThanBodySize", put_header(7, "hell", 4) + "\"" + kHelloB64 + "\"\n"},
        BadRequest{"OutputIdNotTheBodysHash", put_header(7, "other", 5) + "\"" + kHelloB64 + "\"\n"},
        BadRequest{"UnknownCommand", R"({"ID":7,"Command":"delete"})" "\n\n"},
        BadRequest{"NoCommand", R"({"ID":7})" "\n\n"},
        BadRequest{"GetWithoutActionId", R"({"ID":7,"Command":"get"})" "\n\n"},
        BadRequest{"PutWithoutActionId", R"({"ID":7,"Command":"put","OutputID":")" + id_to_base64(Sha256::of(kHello)) +
                                             R"(","BodySize":5})" "\n\n\"" + kHelloB64 + "\"\n"},
        BadRequest{"ActionIdNotBase64", R"({"ID":7,"Command":"get","ActionID":"!!"})" "\n\n"},
        BadRequest{"ActionIdWrongLength", R"({"ID":7,"Command":"get","ActionID":"YWJj"})" "\n\n"},
        BadRequest{"NegativeBodySize", R"({"ID":7,"Command":"put","BodySize":-1})" "\n\n"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(ProtocolTest, RepeatedIdGetsAnErr) {
  helper.get(5, action("x"));
  EXPECT_EQ(helper.receive()["ID"], 5);
  helper.get(5, action("x"));
  const json again = helper.receive();
  EXPECT_EQ(again["ID"], 5);
  EXPECT_TRUE(again.contains("Err")) << again;
  close_cleanly();
}

TEST_F(ProtocolTest, ErrorsAnsweredAreCountedInStats) {
  helper.send_raw(R"({"ID":7,"Command":"delete"})" "\n\n");
  EXPECT_TRUE(helper.receive().contains("Err"));
  close_cleanly();
  const auto stats = run_command({gocachefs_binary(), "stats", "--json", "--dir", store.path()});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_EQ(json::parse(stats.out)["request_errors"], 1) << stats.out;
}

// Lines whose ID cannot be known cannot be answered: gocachefs says why on
// stderr and exits, so the go command fails at once instead of hanging.
class UnanswerableTest : public ProtocolTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(UnanswerableTest, ExitsWithAReasonOnStderr) {
  helper.put(1, action("kept"), "kept before the error");
  helper.send_raw(GetParam());
  const json put = helper.receive();
  EXPECT_TRUE(put.contains("DiskPath")) << "work in flight was lost: " << put;
  EXPECT_TRUE(helper.receive().is_null());  // stdout closes
  EXPECT_EQ(helper.child().wait(), 2);
  EXPECT_NE(helper.child().stderr_text().find("gocachefs: protocol error"), std::string::npos)
      << helper.child().stderr_text();
  EXPECT_EQ(regular_files_under(store / "tmp"), 0u);
}

INSTANTIATE_TEST_SUITE_P(Protocol, UnanswerableTest,
                         ::testing::Values("{\"ID\":2,\"Command\":\"get\"\n\n",  // malformed JSON
                                           "[1,2,3]\n\n",                         // not an object
                                           "{\"Command\":\"get\"}\n\n",           // no ID
                                           "{\"ID\":\"2\",\"Command\":\"get\"}\n\n",
                                           // beyond int64: cannot be answered without wrapping
                                           "{\"ID\":9223372036854775808,\"Command\":\"get\"}\n\n",
                                           "{\"ID\":18446744073709551615,\"Command\":\"get\"}\n\n"));

TEST_F(ProtocolTest, EndOfInputWithoutCloseExitsCleanly) {
  helper.put(1, action("a"), "bytes");
  helper.child().close_stdin();
  EXPECT_TRUE(helper.receive().contains("DiskPath"));
  EXPECT_EQ(helper.child().wait(), 0);
  EXPECT_EQ(helper.child().stderr_text(), "");
}

TEST_F(ProtocolTest, HundredsOfRequestsInFlightAreEachAnsweredOnce) {
  constexpr int kPuts = 400;
  // Everything is written before anything is read, as parallel build
  // actions do; a writer thread keeps the pipe from filling up.
  std::thread writer([&] {
    for (int i = 0; i < kPuts; ++i) helper.put(1 + i, action(std::to_string(i)), std::string(i * 37, 'a' + i % 26));
  });
  const auto puts = helper.receive(kPuts);
  writer.join();
  ASSERT_EQ(puts.size(), static_cast<std::size_t>(kPuts));
  for (const auto& [id, response] : puts) EXPECT_TRUE(response.contains("DiskPath")) << response;

  std::thread getter([&] {
    for (int i = 0; i < 2 * kPuts; ++i) helper.get(1000 + i, action(std::to_string(i)));
  });
  const auto gets = helper.receive(2 * kPuts);
  getter.join();
  ASSERT_EQ(gets.size(), static_cast<std::size_t>(2 * kPuts));
  for (int i = 0; i < 2 * kPuts; ++i) {
    const json& response = gets.at(1000 + i);
    if (i < kPuts) {
      ASSERT_TRUE(response.contains("DiskPath")) << response;
      EXPECT_EQ(read_file(response["DiskPath"]), std::string(i * 37, 'a' + i % 26));
    } else {
      EXPECT_EQ(response["Miss"], true);
    }
  }
  close_cleanly();
}

TEST_F(ProtocolTest, SeveralProcessesShareOneStore) {
  constexpr int kProcesses = 4, kActions = 100;
  std::vector<std::thread> threads;
  for (int p = 0; p < kProcesses; ++p) {
    threads.emplace_back([&, p] {
      GocachefsProcess mine(store.path());
      mine.handshake();
      // All put the same actions and objects at once (as parallel go commands
      // building the same packages do), then read them back.
      for (int i = 0; i < kActions; ++i) mine.put(1 + i, action(std::to_string(i)), "shared " + std::to_string(i));
      for (const auto& [id, r] : mine.receive(kActions)) EXPECT_TRUE(r.contains("DiskPath")) << "process " << p << r;
      for (int i = 0; i < kActions; ++i) mine.get(1000 + i, action(std::to_string(i)));
      for (const auto& [id, r] : mine.receive(kActions)) {
        ASSERT_TRUE(r.contains("DiskPath")) << r;
        EXPECT_EQ(read_file(r["DiskPath"]), "shared " + std::to_string(id - 1000));
      }
      EXPECT_EQ(mine.close(5000), json({{"ID", 5000}}));
      mine.child().close_stdin();
      EXPECT_EQ(mine.child().wait(), 0);
      EXPECT_EQ(mine.child().stderr_text(), "");
    });
  }
  for (auto& t : threads) t.join();
  close_cleanly();
}

// A 1 GiB put goes through in bounded memory.
TEST_F(ProtocolTest, GiantBodyIsStreamedInBoundedMemory) {
  const std::size_t chunk = 3 << 20;  // a multiple of 3: each encodes without padding
  const std::size_t chunks = 342;     // 1026 MiB in all
  std::string raw(chunk, '\0');
  for (std::size_t i = 0; i < chunk; ++i) raw[i] = static_cast<char>(i * 2654435761u >> 13);
  const std::string encoded = base64::encode(raw);
  Sha256 hash;
  for (std::size_t i = 0; i < chunks; ++i) hash.update(raw.data(), raw.size());
  const Id output = hash.finish();
  const std::uint64_t size = chunk * chunks;

  std::thread writer([&] {
    helper.send({{"ID", 1},
                 {"Command", "put"},
                 {"ActionID", id_to_base64(action("giant"))},
                 {"OutputID", id_to_base64(output)},
                 {"BodySize", size}});
    helper.send_raw("\"");
    for (std::size_t i = 0; i < chunks; ++i) helper.send_raw(encoded);
    helper.send_raw("\"\n");
  });
  const json put = helper.receive();
  writer.join();
  ASSERT_TRUE(put.contains("DiskPath")) << put;
  EXPECT_EQ(std::filesystem::file_size(put["DiskPath"].get<std::string>()), size);

  // Peak resident memory of the still-running process.
  std::ifstream status("/proc/" + std::to_string(helper.child().pid()) + "/status");
  std::string line;
  long peak_kib = -1;
  while (std::getline(status, line)) {
    if (line.starts_with("VmHWM:")) peak_kib = std::stol(line.substr(6));
  }
  ASSERT_GT(peak_kib, 0);
  EXPECT_LT(peak_kib, 64 * 1024) << "peak RSS " << peak_kib << " KiB for a 1 GiB body";
  close_cleanly();
}

}  // namespace
}  // namespace gocachefs::testing
