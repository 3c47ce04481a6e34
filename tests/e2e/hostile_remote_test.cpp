// End to end with a remote nobody fully trusts: the real go command,
// gocachefs and nginx, with entries planted by the test as a writer without
// the key (or a proxy serving the wrong key) would: a record copied to
// another action's key, unsigned and wrongly signed records when a key is
// set, records declaring a huge object, and a zstd bomb under cas/. Each is
// a miss with one log line per kind; the build succeeds and every action
// ends up with the object its own build makes, never the planted one.
//
// One filled remote serves every case; the reader machines build the sample
// module only, to stay quick.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <zstd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include "store/action_record.h"
#include "store/record_signing.h"
#include "store/remote/remote.h"
#include "store/sha256.h"
#include "tests/e2e/machine.h"

namespace gocachefs::testing {
namespace {

namespace fs = std::filesystem;

struct StoredAction {
  Id output_id{};
  std::uint64_t size = 0;
};

// The actions a store's index holds, and their objects.
std::map<Id, StoredAction> indexed_actions(const std::string& store) {
  std::map<Id, StoredAction> actions;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2((store + "/index.sqlite").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);  // the daily trim may hold it a moment
  sqlite3_stmt* query = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT action_id, output_id, size FROM actions", -1, &query, nullptr), SQLITE_OK);
  while (sqlite3_step(query) == SQLITE_ROW) {
    Id action{}, output{};
    std::memcpy(action.data(), sqlite3_column_blob(query, 0), action.size());
    std::memcpy(output.data(), sqlite3_column_blob(query, 1), output.size());
    actions[action] = {output, static_cast<std::uint64_t>(sqlite3_column_int64(query, 2))};
  }
  sqlite3_finalize(query);
  sqlite3_close(db);
  return actions;
}

std::string key_file(const TempDir& dir, const std::string& name, const std::string& line) {
  const std::string path = dir / name;
  write_file(path, line + "\n");
  chmod(path.c_str(), 0600);
  return path;
}

// A zstd frame of `size` zero bytes: a few KiB that expand to `size`.
std::string zstd_bomb(std::uint64_t size) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> context(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setPledgedSrcSize(context.get(), size);  // the frame declares it
  const std::string zeros(1 << 20, '\0');
  std::string out, buffer(ZSTD_CStreamOutSize(), '\0');
  for (std::uint64_t fed = 0; fed < size; fed += zeros.size()) {
    const bool last = fed + zeros.size() >= size;
    ZSTD_inBuffer in{zeros.data(), static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), size - fed)), 0};
    for (;;) {
      ZSTD_outBuffer sink{buffer.data(), buffer.size(), 0};
      const std::size_t left = ZSTD_compressStream2(context.get(), &sink, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      out.append(buffer.data(), sink.pos);
      if (last ? left == 0 : in.pos == in.size) break;
    }
  }
  return out;
}

int lines_with(const std::string& log, const std::string& text) {
  int n = 0;
  for (const auto& line : lines_of(log)) n += line.find(text) != std::string::npos;
  return n;
}

TEST(HostileRemoteTest, PlantedEntriesAreMissesAndNeverWrongBytes) {
  std::string why;
  const Backend backend = start_backend("nginx", &why);
  if (backend.url.empty()) GTEST_SKIP() << "SKIPPED: " << why;
  const TempDir keys_dir;
  const std::string team_key = key_file(keys_dir, "team.keys", "team-1 " + std::string(64, 'a'));
  const std::string wrong_key = key_file(keys_dir, "wrong.keys", "team-1 " + std::string(64, 'b'));
  const auto wrong_keys = std::make_shared<const SigningKeys>(SigningKeys::parse("team-1 " + std::string(64, 'b')));
  const auto remote = make_remote(backend.url, {});

  // A team machine fills the remote with signed records.
  const Machine writer(backend.url, {{"GOCACHEFS_SIGNING_KEY_FILE", team_key}});
  expect_success(writer.go({"build", "./..."}), "go build ./... (writer)");
  const std::map<Id, StoredAction> truth = indexed_actions(writer.store());
  // Plants go on actions that a reader's build asks the remote for (the
  // debug log names each GET), and not on "stdout" sub-entries, which cmd/go
  // asks for only after their action hits: which actions those are depends
  // on the checkout's path, part of every ActionID. Readers do not upload,
  // so the plants stay for the next reader.
  constexpr const char* kReadOnly = "GOCACHEFS_REMOTE_READ_ONLY";
  std::set<Id> asked;
  {
    const Machine probe(backend.url, {{kReadOnly, "1"}});
    expect_success(probe.go({"build", "./..."}), "go build ./... (probe)");
    const std::regex get(R"(remote GET ac/([0-9a-f]{64}): ok)");
    for (const auto& line : lines_of(probe.log())) {
      std::smatch m;
      if (std::regex_search(line, m, get)) asked.insert(*id_from_hex(m[1].str()));
    }
  }
  std::set<Id> sub_entries;
  for (const auto& [action, stored] : truth) sub_entries.insert(go_subkey(action, "stdout"));
  std::vector<Id> planted;
  std::map<Id, std::string> original_record;
  for (const auto& [action, stored] : truth) {
    if (!asked.contains(action) || sub_entries.contains(action)) continue;
    std::string bytes;
    if (!remote->fetch("ac/" + to_hex(action), [&](const char* d, std::size_t n) {
          bytes.append(d, n);
          return true;
        }).ok()) {
      continue;
    }
    original_record[action] = bytes;
    planted.push_back(action);
  }
  ASSERT_GE(planted.size(), 8u) << "the sample module has too few actions to plant in";
  const auto record_of = [&](const Id& action) { return *decode_action_record(original_record[action], action); };
  const auto plant = [&](const Id& action, const std::string& bytes) {
    ASSERT_TRUE(remote->store_bytes("ac/" + to_hex(action), bytes).ok());
  };

  // 1. Records copied to other actions' keys (as validly signed as they were).
  plant(planted[0], original_record[planted[1]]);
  plant(planted[2], original_record[planted[3]]);
  // 2. Unsigned, as by a writer without the key (or an older gocachefs).
  plant(planted[4], encode_action_record(planted[4], record_of(planted[4])));
  // 4. A record declaring 200 GiB, and one declaring 48 MiB whose cas/ entry
  //    is a zstd bomb of 1 GiB (a few KiB on the wire).
  const std::string head(kInlinePrefixLimit, '\0');
  plant(planted[6], encode_action_record(planted[6], {Sha256::of("huge"), 200ULL << 30, 1, head}));
  const Id bomb_id = Sha256::of("bomb");
  const std::string bomb = zstd_bomb(1ULL << 30);
  ASSERT_LT(bomb.size(), 64u << 10);
  ASSERT_TRUE(remote->store_bytes("cas/" + to_hex(bomb_id), bomb).ok());
  plant(planted[7], encode_action_record(planted[7], {bomb_id, 48ULL << 20, 1, head}));

  // Every planted action, whatever the reader refused, ends up with the
  // object its own build makes.
  const auto expect_true_objects = [&](const Machine& m) {
    const auto held = indexed_actions(m.store());
    for (const Id& action : planted) {
      const auto it = held.find(action);
      if (it == held.end()) continue;  // not asked for again: nothing wrong served
      EXPECT_EQ(to_hex(it->second.output_id), to_hex(truth.at(action).output_id)) << "wrong object for an action";
    }
    m.expect_only_verified_objects();
  };

  {
    SCOPED_TRACE("a reader without a key, objects up to 64 MiB");
    const Machine reader(backend.url, {{"GOCACHEFS_MAX_OBJECT_SIZE", "64MiB"}, {kReadOnly, "1"}});
    const auto built = reader.go({"build", "./..."});
    expect_success(built, "go build ./... (reader without a key)");
    EXPECT_EQ(gocachefs_lines(built.err), 0) << built.err;
    const std::string log = reader.log();
    EXPECT_EQ(lines_with(log, "refused: the record of another action"), 1) << log;
    EXPECT_EQ(lines_with(log, "declares an object larger than --max-object-size"), 1) << log;
    EXPECT_EQ(lines_with(log, "decodes to more than the 50331648 bytes"), 1) << log;
    EXPECT_EQ(lines_with(log, "not signed"), 0) << "no key: unsigned records are read as before";
    const std::string stats = run_command({GOCACHEFS_BINARY, "stats", "--dir", reader.store()}).out;
    // Counted per get (cmd/go may ask for an action twice); logged once per kind.
    std::smatch refused;
    ASSERT_TRUE(std::regex_search(stats, refused, std::regex(R"(refused:  (\d+) remote records and 0 packs)"))) << stats;
    EXPECT_GE(std::stoi(refused[1].str()), 3) << stats;
    EXPECT_NE(stats.find("1 objects too large or with no room"), std::string::npos) << stats;
    expect_true_objects(reader);
  }
  // 3. Wrongly signed, naming another action's object: without a key this
  //    is the attack signing exists for (a writer naming the object of its
  //    choice), so only the readers with a key see it.
  plant(planted[5], encode_action_record(planted[5], record_of(planted[1]), wrong_keys.get()));
  {
    SCOPED_TRACE("a reader with the team's key");
    const Machine reader(backend.url, {{"GOCACHEFS_SIGNING_KEY_FILE", team_key}, {kReadOnly, "1"}});
    const auto built = reader.go({"build", "./..."});
    expect_success(built, "go build ./... (reader with the key)");
    EXPECT_EQ(gocachefs_lines(built.err), 0) << built.err;
    const std::string log = reader.log();
    EXPECT_EQ(lines_with(log, "refused: the record of another action"), 1) << log;
    EXPECT_EQ(lines_with(log, "refused: not signed, and a signing key is set"), 1) << log;
    EXPECT_EQ(lines_with(log, "refused: its signature does not match its content"), 1) << log;
    EXPECT_GT(reader.stats().remote_hits, 100) << "the signed records were hits";
    expect_true_objects(reader);
  }
  // Signed with the secret the next reader holds: for it, a valid record.
  plant(planted[5], original_record[planted[5]]);
  {
    SCOPED_TRACE("a reader holding another secret under the same key id");
    const Machine reader(backend.url, {{"GOCACHEFS_SIGNING_KEY_FILE", wrong_key}, {kReadOnly, "1"}});
    const auto built = reader.go({"build", "./..."});
    expect_success(built, "go build ./... (reader with the wrong key)");
    EXPECT_EQ(lines_with(reader.log(), "refused: its signature does not match its content"), 1);
    EXPECT_GT(reader.stats().misses, 0);
    expect_true_objects(reader);
  }
}

// Packs are remote-supplied too: with a key, a pointer that is not signed is
// ignored (one line) and the job's gets go per action.
TEST(HostileRemoteTest, UnsignedPacksAreIgnoredWithAKey) {
  std::string why;
  const Backend backend = start_backend("nginx", &why);
  if (backend.url.empty()) GTEST_SKIP() << "SKIPPED: " << why;
  const TempDir keys_dir;
  const std::string team_key = key_file(keys_dir, "team.keys", "team-1 " + std::string(64, 'a'));
  const Environment packs = {{"GOCACHEFS_PACKS", "on"}, {"GOCACHEFS_PACK_KEY", "hostile-test"}};

  const Machine stranger(backend.url);  // no key: writes an unsigned pack and pointer
  expect_success(stranger.go({"build", "./..."}, SAMPLE_MODULE_DIR, packs), "go build ./... (stranger)");
  ASSERT_NE(stranger.log().find("packs: wrote pack"), std::string::npos) << stranger.log();

  const Machine reader(backend.url, {{"GOCACHEFS_SIGNING_KEY_FILE", team_key}});
  Environment replay = packs;
  replay["GOCACHEFS_PACKS"] = "replay";
  expect_success(reader.go({"build", "./..."}, SAMPLE_MODULE_DIR, replay), "go build ./... (reader with a key)");
  const std::string log = reader.log();
  EXPECT_EQ(lines_with(log, "packs: the pointer of key \"hostile-test\" is not signed"), 1) << log;
  EXPECT_EQ(lines_with(log, "read whole"), 0) << log;
  const std::string stats = run_command({GOCACHEFS_BINARY, "stats", "--dir", reader.store()}).out;
  EXPECT_NE(stats.find("1 packs or pointers not trusted"), std::string::npos) << stats;
  reader.expect_only_verified_objects();

  // Signed by the team, the same job's pack is read.
  const Machine team(backend.url, {{"GOCACHEFS_SIGNING_KEY_FILE", team_key}});
  Environment team_packs = packs;
  team_packs["GOCACHEFS_PACK_KEY"] = "hostile-test-signed";
  expect_success(team.go({"build", "./..."}, SAMPLE_MODULE_DIR, team_packs), "go build ./... (team writer)");
  const Machine next(backend.url, {{"GOCACHEFS_SIGNING_KEY_FILE", team_key}});
  team_packs["GOCACHEFS_PACKS"] = "replay";
  expect_success(next.go({"build", "./..."}, SAMPLE_MODULE_DIR, team_packs), "go build ./... (team reader)");
  EXPECT_NE(next.log().find("read whole"), std::string::npos) << next.log();
  EXPECT_EQ(lines_with(next.log(), "not signed"), 0) << next.log();
}

}  // namespace
}  // namespace gocachefs::testing
