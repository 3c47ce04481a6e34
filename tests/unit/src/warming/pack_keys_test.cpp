#include "src/warming/pack_keys.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "store/sha256.h"
#include "tests/support/subprocess.h"

namespace gocachefs {
namespace {

using testing::TempDir;
using testing::write_file;

PackRef ref(const std::string& name, std::uint64_t size, std::uint64_t actions) {
  return {Sha256::of(name), size, actions};
}

TEST(PackPointer, RoundTrips) {
  PackRef used_lately = ref("two", 1ull << 40, 0);
  used_lately.last_used_ns = 1690000000000000000;
  const PackPointer pointer{.packs = {ref("one", 1234, 10), used_lately, ref("three", 0, 7)},
                            .key = "auto example.com/m linux/amd64 go1.24.1",
                            .job_actions = 4321,
                            .written_ns = 1690000000123456789};
  const std::string bytes = encode_pack_pointer(pointer);
  const auto decoded = decode_pack_pointer(bytes);
  ASSERT_TRUE(decoded) << bytes;
  EXPECT_EQ(decoded->packs, pointer.packs) << "in order";
  EXPECT_EQ(decoded->key, pointer.key);
  EXPECT_EQ(decoded->job_actions, pointer.job_actions);
  EXPECT_EQ(decoded->written_ns, pointer.written_ns);

  const auto empty = decode_pack_pointer(encode_pack_pointer({.key = "k", .written_ns = 1}));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->packs.empty());
  EXPECT_EQ(empty->key, "k");
}

TEST(PackPointer, FieldsAddedLaterAreOptional) {
  const std::string id = to_hex(Sha256::of("x"));
  const auto pointer = decode_pack_pointer(R"({"gocachefs_pack_pointer":1,"key":"k","written_ns":5,"packs":[{"id":")" +
                                           id + R"(","size":10,"actions":2}]})");
  ASSERT_TRUE(pointer);
  ASSERT_EQ(pointer->packs.size(), 1u);
  EXPECT_EQ(pointer->packs[0], (PackRef{Sha256::of("x"), 10, 2, 0}));
  EXPECT_EQ(pointer->job_actions, 0u);
  EXPECT_EQ(pointer->written_ns, 5);
}

TEST(PackPointer, GarbageIsNotAPointer) {
  const std::string id = to_hex(Sha256::of("x"));
  for (const std::string& bytes : std::vector<std::string>{
           "",
           "not json",
           "[]",
           "null",
           R"({"packs":[]})",
           R"({"gocachefs_pack_pointer":2,"packs":[]})",
           R"({"gocachefs_pack_pointer":1})",
           R"({"gocachefs_pack_pointer":1,"packs":{}})",
           R"({"gocachefs_pack_pointer":1,"packs":[{"id":"abc","size":1,"actions":1}]})",
           R"({"gocachefs_pack_pointer":1,"packs":[{"size":1,"actions":1}]})",
           R"({"gocachefs_pack_pointer":1,"packs":[{"id":")" + id + R"(","actions":1}]})",
           R"({"gocachefs_pack_pointer":1,"packs":[{"id":")" + id + R"(","size":"1","actions":1}]})",
           R"({"gocachefs_pack_pointer":1,"packs":[7]})",
           R"({"gocachefs_pack_pointer":1,"key":7,"packs":[]})",
           encode_pack_pointer({.packs = {ref("a", 1, 1)}, .key = "k"}).substr(0, 40),
       }) {
    EXPECT_FALSE(decode_pack_pointer(bytes)) << bytes;
  }
}

// A version of another type is not a pointer, and never an exception (in
// PackReplay::read_pointers, a thread of its own, it would end the process).
TEST(PackPointer, VersionOfAnotherTypeIsNotAPointer) {
  for (const std::string bytes : {R"({"gocachefs_pack_pointer":"1","packs":[]})",
                                  R"({"gocachefs_pack_pointer":[1],"packs":[]})",
                                  R"({"gocachefs_pack_pointer":null,"packs":[]})"}) {
    std::optional<PackPointer> pointer;
    EXPECT_NO_THROW(pointer = decode_pack_pointer(bytes)) << bytes;
    EXPECT_FALSE(pointer) << bytes;
  }
}

TEST(PackPointer, TooManyPacksOrTooLargeIsNotAPointer) {
  PackPointer pointer{.key = "k"};
  for (int i = 0; i < 16; ++i) pointer.packs.push_back(ref(std::to_string(i), 100, 10));
  EXPECT_TRUE(decode_pack_pointer(encode_pack_pointer(pointer))) << "16 packs are allowed";
  pointer.packs.push_back(ref("17", 100, 10));
  EXPECT_FALSE(decode_pack_pointer(encode_pack_pointer(pointer))) << "a reader fetches every pack named";

  PackPointer large{.packs = {ref("a", 1, 1)}, .key = std::string(60 * 1024, 'k')};
  EXPECT_TRUE(decode_pack_pointer(encode_pack_pointer(large)));
  large.key = std::string(64 * 1024, 'k');
  EXPECT_FALSE(decode_pack_pointer(encode_pack_pointer(large)));
}

TEST(PackPointer, RemoteKeyIsAnActionKeyPerPackKey) {
  const std::string key = pointer_remote_key("auto example.com/m linux/amd64 go1.24.1");
  ASSERT_EQ(key.size(), 3u + 64u);
  EXPECT_EQ(key.substr(0, 3), "ac/");
  EXPECT_TRUE(id_from_hex(key.substr(3))) << key;
  EXPECT_EQ(key, pointer_remote_key("auto example.com/m linux/amd64 go1.24.1")) << "stable";
  EXPECT_NE(key, pointer_remote_key("auto example.com/m linux/arm64 go1.24.1"));
  EXPECT_NE(pointer_remote_key(""), pointer_remote_key(" "));
  // Not the key's plain hash: a pointer never lands on an action's record.
  EXPECT_NE(key.substr(3), to_hex(Sha256::of("auto example.com/m linux/amd64 go1.24.1")));
}

// Saves and clears the variables the settings read, and puts them back.
class PackSettingsTest : public ::testing::Test {
 protected:
  static constexpr const char* kNames[] = {"GOCACHEFS_PACKS", "GOCACHEFS_PACK_KEY", "GOCACHEFS_PACK_FALLBACK",
                                           "CI",              "GOOS",               "GOARCH",
                                           "GITHUB_ACTIONS",  "GITHUB_REF_NAME",    "GITHUB_HEAD_REF",
                                           "GITHUB_BASE_REF", "GITHUB_EVENT_PATH"};
  void SetUp() override {
    for (const char* name : kNames) {
      if (const char* v = std::getenv(name)) saved_.emplace_back(name, v);
      unsetenv(name);
    }
  }
  void TearDown() override {
    for (const char* name : kNames) unsetenv(name);
    for (const auto& [k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
  }
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(PackSettingsTest, AutoReplaysWithARemoteAndWritesOnCi) {
  PackSettings s = resolve_pack_settings(/*has_remote=*/true, /*remote_read_only=*/false);
  EXPECT_TRUE(s.replay);
  EXPECT_FALSE(s.write) << "not on CI";
  EXPECT_FALSE(s.key.empty());

  setenv("CI", "true", 1);
  s = resolve_pack_settings(true, false);
  EXPECT_TRUE(s.replay);
  EXPECT_TRUE(s.write);
  EXPECT_FALSE(resolve_pack_settings(true, true).write) << "a read-only remote is never written";

  for (const char* not_ci : {"false", "0", ""}) {
    setenv("CI", not_ci, 1);
    EXPECT_FALSE(resolve_pack_settings(true, false).write) << "CI=" << not_ci;
  }
  setenv("CI", "1", 1);
  setenv("GOCACHEFS_PACKS", "auto", 1);
  EXPECT_TRUE(resolve_pack_settings(true, false).write);

  s = resolve_pack_settings(/*has_remote=*/false, false);
  EXPECT_FALSE(s.replay);
  EXPECT_FALSE(s.write);
  EXPECT_EQ(s.key, "") << "no key is worked out when packs are off";
}

TEST_F(PackSettingsTest, Modes) {
  setenv("GOCACHEFS_PACKS", "on", 1);
  PackSettings s = resolve_pack_settings(true, false);
  EXPECT_TRUE(s.replay);
  EXPECT_TRUE(s.write) << "on: written off CI too";
  s = resolve_pack_settings(true, true);
  EXPECT_TRUE(s.replay);
  EXPECT_FALSE(s.write);
  s = resolve_pack_settings(false, false);
  EXPECT_FALSE(s.replay || s.write);

  setenv("CI", "true", 1);
  setenv("GOCACHEFS_PACKS", "replay", 1);
  s = resolve_pack_settings(true, false);
  EXPECT_TRUE(s.replay);
  EXPECT_FALSE(s.write);

  setenv("GOCACHEFS_PACKS", "off", 1);
  s = resolve_pack_settings(true, false);
  EXPECT_FALSE(s.replay);
  EXPECT_FALSE(s.write);
  EXPECT_EQ(s.key, "");
  EXPECT_TRUE(s.fallbacks.empty());
}

TEST_F(PackSettingsTest, AnotherModeIsAnError) {
  for (const char* bad : {"bogus", "ON", "yes", "1"}) {
    setenv("GOCACHEFS_PACKS", bad, 1);
    try {
      resolve_pack_settings(true, false);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("GOCACHEFS_PACKS"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST_F(PackSettingsTest, KeyAndFallbacks) {
  setenv("GOCACHEFS_PACKS", "on", 1);
  PackSettings s = resolve_pack_settings(true, false);
  EXPECT_EQ(s.key, automatic_pack_key(std::filesystem::current_path()));
  EXPECT_TRUE(s.fallbacks.empty());

  setenv("GOCACHEFS_PACK_KEY", "linux tests, main branch", 1);
  setenv("GOCACHEFS_PACK_FALLBACK", "a, b", 1);
  s = resolve_pack_settings(true, false);
  EXPECT_EQ(s.key, "linux tests, main branch") << "the key is taken whole";
  EXPECT_EQ(s.fallbacks, (std::vector<std::string>{"a", "b"}));

  setenv("GOCACHEFS_PACK_FALLBACK", " one key ,, two\n\tthree ,", 1);
  EXPECT_EQ(resolve_pack_settings(true, false).fallbacks, (std::vector<std::string>{"one key", "two", "three"}));
  setenv("GOCACHEFS_PACK_FALLBACK", " , ", 1);
  EXPECT_TRUE(resolve_pack_settings(true, false).fallbacks.empty());
}

TEST_F(PackSettingsTest, AutomaticKeyNamesTheNearestModule) {
  TempDir dir;
  std::filesystem::create_directories(dir / "outer/inner/deep/er");
  std::filesystem::create_directories(dir / "outer/plain");
  std::filesystem::create_directories(dir / "nomod");
  write_file(dir / "outer/go.mod", "// the outer module\nmodule example.com/outer\n\ngo 1.24\n");
  write_file(dir / "outer/inner/go.mod", "module \"example.com/inner\"  \n");

  setenv("GOOS", "plan9", 1);
  setenv("GOARCH", "mips", 1);
  const std::string outer = automatic_pack_key(dir / "outer/plain");
  EXPECT_TRUE(outer.starts_with("auto example.com/outer plan9/mips ")) << outer;
  EXPECT_EQ(automatic_pack_key(dir / "outer"), outer);
  const std::string inner = automatic_pack_key(dir / "outer/inner/deep/er");
  EXPECT_TRUE(inner.starts_with("auto example.com/inner plan9/mips ")) << inner;
  EXPECT_EQ(automatic_pack_key(dir / "outer/inner"), inner);
  const std::string none = automatic_pack_key(dir / "nomod");
  EXPECT_TRUE(none.starts_with("auto (no module) plan9/mips ")) << none;

  unsetenv("GOOS");
  unsetenv("GOARCH");
  const std::string host = automatic_pack_key(dir / "outer");
  EXPECT_TRUE(host.starts_with("auto example.com/outer linux/")) << host;
  EXPECT_NE(host, outer);
}

}  // namespace
}  // namespace gocachefs

namespace gocachefs {
namespace {

// As actions/cache users write restore keys: this branch, the branch a pull
// request merges into, the default branch.
TEST_F(PackSettingsTest, OnGithubActionsTheKeyIsTheBranchsWithItsBaseAndDefaultAsFallbacks) {
  setenv("GOCACHEFS_PACKS", "on", 1);
  const std::string plain = resolve_pack_settings(true, false).key;
  const TempDir dir;
  write_file(dir.path() + "/event.json", R"({"repository": {"default_branch": "trunk"}, "number": 7})");
  setenv("GITHUB_ACTIONS", "true", 1);
  setenv("GITHUB_EVENT_PATH", (dir.path() + "/event.json").c_str(), 1);

  setenv("GITHUB_REF_NAME", "trunk", 1);  // a push to the default branch
  PackSettings s = resolve_pack_settings(true, false);
  EXPECT_EQ(s.key, plain + " branch trunk");
  EXPECT_TRUE(s.fallbacks.empty()) << "its own branch is the default";

  setenv("GITHUB_REF_NAME", "7/merge", 1);  // a pull request from feature into release
  setenv("GITHUB_HEAD_REF", "feature", 1);
  setenv("GITHUB_BASE_REF", "release", 1);
  s = resolve_pack_settings(true, false);
  EXPECT_EQ(s.key, plain + " branch feature");
  EXPECT_EQ(s.fallbacks, (std::vector<std::string>{plain + " branch release", plain + " branch trunk"}));

  setenv("GOCACHEFS_PACK_FALLBACK", "mine", 1);
  s = resolve_pack_settings(true, false);
  EXPECT_EQ(s.key, plain + " branch feature");
  EXPECT_EQ(s.fallbacks, std::vector<std::string>{"mine"}) << "the user's fallbacks replace the branches";

  setenv("GOCACHEFS_PACK_KEY", "k", 1);
  s = resolve_pack_settings(true, false);
  EXPECT_EQ(s.key, "k") << "a key the user sets is used as it is";

  unsetenv("GOCACHEFS_PACK_KEY");
  unsetenv("GOCACHEFS_PACK_FALLBACK");
  write_file(dir.path() + "/event.json", "not json");
  s = resolve_pack_settings(true, false);
  EXPECT_EQ(s.fallbacks, std::vector<std::string>{plain + " branch release"}) << "an unreadable event: no default";

  setenv("GITHUB_ACTIONS", "false", 1);
  EXPECT_EQ(resolve_pack_settings(true, false).key, plain) << "only on GitHub Actions";
}

}  // namespace
}  // namespace gocachefs
