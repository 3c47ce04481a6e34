// End to end with a remote nobody fully trusts: the real go command,
// gocachefs and nginx, with entries planted by the test as a writer without
// the key (or a proxy serving the wrong key) would: a record copied to
// another action's key, unsigned and wrongly signed records when a key is
// set, records declaring a huge object, and a zstd bomb under cas/. Each is
// a miss with one log line per kind; the build succeeds and every action
// ends up with the object its own build makes, never the planted one.
//
// Each test runs eagerly (GOCACHEFS_LAZY=off) and through the lazy mount
// (the default where FUSE works). Records are checked before either answers,
// so planted records are misses in both. A good record whose cas/ entry is
// bad (a zstd bomb, longer than declared, bytes of another hash, deleted
// after the record was read) is a miss eagerly; lazily it was answered as a
// hit before its bytes came, so the build that reads it fails once, with one
// line naming the object and the remote, and the next go command rebuilds it.
//
// One filled remote serves every case; the reader machines build the sample
// module only, to stay quick.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <zstd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <utility>
#include <vector>

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

// The parameter: "eager" or "lazy".
class HostileRemoteTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (lazy() && !fuse_usable()) {
      GTEST_SKIP() << "SKIPPED: the lazy mount is NOT tested here: no usable /dev/fuse or fusermount3";
    }
  }
  bool lazy() const { return GetParam() == "lazy"; }
  // A machine's environment in this test's mode.
  Environment mode(Environment env = {}) const {
    env["GOCACHEFS_LAZY"] = lazy() ? "on" : "off";
    return env;
  }
};

// The log once its daemon (lazy) has written all it will: stopped.
std::string final_log(const Machine& m) {
  run_command({GOCACHEFS_BINARY, "stop", "--dir", m.store()});
  return m.log();
}

TEST_P(HostileRemoteTest, PlantedEntriesAreMissesAndNeverWrongBytes) {
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
    const Machine probe(backend.url, mode({{kReadOnly, "1"}}));
    expect_success(probe.go({"build", "./..."}), "go build ./... (probe)");
    const std::regex get(R"(remote GET ac/([0-9a-f]{64}): ok)");
    for (const auto& line : lines_of(final_log(probe))) {
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
  // 4. A record declaring 200 GiB, and one declaring 48 MiB whose cas/
  //    entry is a zstd bomb of 1 GiB (a few KiB on the wire). The lazy mount
  //    does not answer it from the remote: its record does not say how long
  //    its entry was written, so the object is fetched (and refused) first.
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
    const Machine reader(backend.url, mode({{"GOCACHEFS_MAX_OBJECT_SIZE", "64MiB"}, {kReadOnly, "1"}}));
    const auto built = reader.go({"build", "./..."});
    expect_success(built, "go build ./... (reader without a key)");
    EXPECT_EQ(gocachefs_lines(built.err), 0) << built.err;
    const std::string log = final_log(reader);
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
    const Machine reader(backend.url, mode({{"GOCACHEFS_SIGNING_KEY_FILE", team_key}, {kReadOnly, "1"}}));
    const auto built = reader.go({"build", "./..."});
    expect_success(built, "go build ./... (reader with the key)");
    EXPECT_EQ(gocachefs_lines(built.err), 0) << built.err;
    const std::string log = final_log(reader);
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
    const Machine reader(backend.url, mode({{"GOCACHEFS_SIGNING_KEY_FILE", wrong_key}, {kReadOnly, "1"}}));
    const auto built = reader.go({"build", "./..."});
    expect_success(built, "go build ./... (reader with the wrong key)");
    EXPECT_EQ(lines_with(final_log(reader), "refused: its signature does not match its content"), 1);
    EXPECT_GT(reader.stats().misses, 0);
    expect_true_objects(reader);
  }
}

// Packs are remote-supplied too: with a key, a pointer that is not signed is
// ignored (one line) and the job's gets go per action.
TEST_P(HostileRemoteTest, UnsignedPacksAreIgnoredWithAKey) {
  std::string why;
  const Backend backend = start_backend("nginx", &why);
  if (backend.url.empty()) GTEST_SKIP() << "SKIPPED: " << why;
  const TempDir keys_dir;
  const std::string team_key = key_file(keys_dir, "team.keys", "team-1 " + std::string(64, 'a'));
  const Environment packs = {{"GOCACHEFS_PACKS", "on"}, {"GOCACHEFS_PACK_KEY", "hostile-test"}};

  const Machine stranger(backend.url);  // no key: writes an unsigned pack and pointer
  expect_success(stranger.go({"build", "./..."}, SAMPLE_MODULE_DIR, packs), "go build ./... (stranger)");
  ASSERT_NE(stranger.log().find("packs: wrote pack"), std::string::npos) << stranger.log();

  const Machine reader(backend.url, mode({{"GOCACHEFS_SIGNING_KEY_FILE", team_key}}));
  Environment replay = packs;
  replay["GOCACHEFS_PACKS"] = "replay";
  expect_success(reader.go({"build", "./..."}, SAMPLE_MODULE_DIR, replay), "go build ./... (reader with a key)");
  const std::string log = final_log(reader);
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
  const Machine next(backend.url, mode({{"GOCACHEFS_SIGNING_KEY_FILE", team_key}}));
  team_packs["GOCACHEFS_PACKS"] = "replay";
  expect_success(next.go({"build", "./..."}, SAMPLE_MODULE_DIR, team_packs), "go build ./... (team reader)");
  const std::string next_log = final_log(next);
  EXPECT_NE(next_log.find("read whole"), std::string::npos) << next_log;
  EXPECT_EQ(lines_with(next_log, "not signed"), 0) << next_log;
}


// Whether `go build -x` output shows the compiler run for `package`.
bool compiled_package(const std::string& x_output, const std::string& package) {
  for (const auto& line : lines_of(x_output)) {
    if (line.find("/compile ") != std::string::npos && line.find(" -p " + package + " ") != std::string::npos) return true;
  }
  return false;
}

// A good record (the writer's own) whose cas/ entry is then made bad. The
// object is unicode's archive: larger than records carry whole (lazily, a
// file in the mount) and read whole by the linker of cmd/sample.
TEST_P(HostileRemoteTest, ABadObjectBehindAGoodRecordIsNeverAWrongByteAndTheNextBuildRebuildsIt) {
  std::string why;
  const Backend backend = start_backend("nginx", &why);
  if (backend.url.empty()) GTEST_SKIP() << "SKIPPED: " << why;
  const auto remote = make_remote(backend.url, {});
  const Machine writer(backend.url);
  expect_success(writer.go({"build", "./..."}), "go build ./... (writer)");

  // unicode's archive: `go list -export` names its file in the store, whose
  // name is its OutputID.
  const auto listed = writer.go({"list", "-export", "-f", "{{.Export}}", "unicode"});
  expect_success(listed, "go list -export unicode");
  const std::string archive_path = listed.out.substr(0, listed.out.find('\n'));
  const auto archive_id = id_from_hex(fs::path(archive_path).filename().string());
  ASSERT_TRUE(archive_id) << archive_path;
  const std::string archive = read_file(archive_path);
  ASSERT_GT(archive.size(), kInlineArchiveLimit) << "records would carry it whole";
  std::optional<Id> unicode_action;
  for (const auto& [action, stored] : indexed_actions(writer.store())) {
    if (stored.output_id == *archive_id) unicode_action = action;
  }
  ASSERT_TRUE(unicode_action) << "no action of the writer made unicode's archive";
  const std::string key = "cas/" + to_hex(*archive_id);
  std::string good_entry;
  ASSERT_TRUE(remote->fetch(key, [&](const char* d, std::size_t n) {
    good_entry.append(d, n);
    return true;
  }).ok());

  std::string flipped = archive;
  flipped[flipped.size() / 2] ^= 0x55;  // past the head the record carries: only the hash can tell
  const std::vector<std::pair<std::string, std::optional<std::string>>> bad_entries = {
      {"a zstd bomb declaring 1 GiB", zstd_bomb(1ULL << 30)},
      {"longer than its record declares", archive + "and then some"},
      {"bytes of another hash", flipped},
      {"deleted after its record was read", std::nullopt},
  };
  for (const auto& [what, bad_entry] : bad_entries) {
    SCOPED_TRACE(what);
    if (lazy() && bad_entry && bad_entry->size() != archive.size()) {
      // Damaged before it is asked for: the entry is not as long as its
      // record says it was written, so the mount does not answer from it; it
      // is fetched first, refused, and rebuilt.
      ASSERT_TRUE(remote->store_bytes(key, *bad_entry).ok());
      const Machine early(backend.url, mode({{"GOCACHEFS_REMOTE_READ_ONLY", "1"}}));
      const auto built = early.go({"build", "-x", "./..."});
      expect_success(built, "go build ./... (lazy, damaged before)");
      EXPECT_TRUE(compiled_package(built.err, "unicode")) << built.err;
      EXPECT_EQ(gocachefs_lines(built.err), 0) << built.err;
      early.expect_only_verified_objects();
      ASSERT_TRUE(remote->store_bytes(key, good_entry).ok());
    }
    // Read-only: a rebuild does not put the good object back.
    const Machine reader(backend.url, mode({{"GOCACHEFS_REMOTE_READ_ONLY", "1"}}));
    if (lazy()) {
      // The libraries only: unicode's get is answered from the mount, and
      // nothing reads beyond its head.
      expect_success(reader.go({"build", "./internal/..."}), "go build ./internal/... (before the damage)");
    }
    if (bad_entry) {
      ASSERT_TRUE(remote->store_bytes(key, *bad_entry).ok());
    } else {
      ASSERT_EQ(run_command({"curl", "-sf", "-X", "DELETE", backend.url + "/" + key}).exit_code, 0);
    }

    const auto first = reader.go({"build", "-x", "./..."});
    const auto naming_the_object = [&](const std::string& err) {
      int n = 0;
      for (const auto& line : lines_of(err)) {
        n += line.starts_with("gocachefs:") && line.find(to_hex(*archive_id)) != std::string::npos &&
             line.find(remote->describe()) != std::string::npos;
      }
      return n;
    };
    std::printf("[ outcome  ] %s, %s: first build exit %d, %d gocachefs lines, %d naming the object and remote\n",
                GetParam().c_str(), what.c_str(), first.exit_code, gocachefs_lines(first.err),
                naming_the_object(first.err));
    if (!lazy()) {
      // A miss: fetched, checked, refused, rebuilt.
      expect_success(first, "go build ./... (eager)");
      EXPECT_TRUE(compiled_package(first.err, "unicode")) << first.err;
      EXPECT_EQ(gocachefs_lines(first.err), 0) << first.err;
    } else {
      // Answered as a hit before its bytes came: the linker's read fails
      // ("malformed archive"), the build with it, and gocachefs says why in
      // one line naming the object and the remote.
      EXPECT_NE(first.exit_code, 0) << "a bad object behind a lazy hit read whole?\n" << first.err;
      EXPECT_NE(first.err.find("/mnt/" + to_hex(*archive_id)), std::string::npos) << first.err;
      EXPECT_EQ(naming_the_object(first.err), 1) << first.err;
      EXPECT_EQ(gocachefs_lines(first.err), 1) << first.err;
      // The next go command: a miss, rebuilt, green.
      const auto rerun = reader.go({"build", "-x", "./..."});
      expect_success(rerun, "go build ./... (the go command after the failed one)");
      EXPECT_TRUE(compiled_package(rerun.err, "unicode")) << rerun.err;
      EXPECT_EQ(gocachefs_lines(rerun.err), 0) << rerun.err;
    }
    const auto held = indexed_actions(reader.store());
    ASSERT_TRUE(held.contains(*unicode_action)) << "unicode's action was rebuilt and stored";
    EXPECT_EQ(to_hex(held.at(*unicode_action).output_id), to_hex(*archive_id));
    reader.expect_only_verified_objects();
    ASSERT_TRUE(remote->store_bytes(key, good_entry).ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, HostileRemoteTest, ::testing::Values("eager", "lazy"),
                         [](const auto& info) { return info.param; });

// A 206 longer than asked, on the path where gocachefs reads by range: a
// gha:// store (packs only) whose pack a lazy job left with cold bodies, so
// the next job's linker gets each archive by a range request of the pack
// (as in GhaTest.WhatAJobLeftColdIsReadByRangeWhenATooWantsIt), here through
// scripts/fault_proxy.py answering every range with the rest of the blob.
TEST(HostileRangeTest, A206LongerThanAskedIsNeverAWrongByteNorAFailedBuild) {
  if (!fuse_usable()) GTEST_SKIP() << "SKIPPED: the lazy mount's range reads are NOT tested here: no usable FUSE";
  std::string why;
  const auto emulator = TestServer::start("gha", {}, &why);
  if (!emulator) GTEST_SKIP() << "SKIPPED: " << why;
  const auto proxy = TestServer::start("fault", {emulator->url()}, &why);
  if (!proxy) GTEST_SKIP() << "SKIPPED: " << why;
  const TempDir event;
  write_file(event.path() + "/event.json", R"({"repository": {"default_branch": "main"}})");
  // Jobs 1 and 2 call the emulator, job 3 the proxy (which passes the
  // client's Host on: the emulator's blob URLs then lead through it too).
  const auto job_env = [&](const std::string& lazy, const std::string& service_url) {
    return Environment{{"ACTIONS_RESULTS_URL", service_url}, {"ACTIONS_RUNTIME_TOKEN", emulator->get("token")},
                       {"GITHUB_ACTIONS", "true"}, {"GITHUB_EVENT_PATH", event.path() + "/event.json"},
                       {"CI", "true"}, {"GITHUB_REF_NAME", "main"}, {"GOCACHEFS_PACKS", "auto"},
                       {"GOCACHEFS_LAZY", lazy}, {"GOCACHEFS_DAEMON_IDLE", "60"}, {"GOCACHEFS_LOG_LEVEL", "debug"}};
  };
  // The library packages only: a cached build of them reads only heads.
  const std::vector<std::string> build_libraries = {"build", "./internal/..."};
  {
    const Machine cold_job("gha://");  // compiles everything, packs every body
    expect_success(cold_job.go(build_libraries, SAMPLE_MODULE_DIR, job_env("off", emulator->url())), "job 1");
  }
  {
    // Reads no body: its second go command rewrites the pack with them cold.
    const Machine lazy_job("gha://");
    expect_success(lazy_job.go(build_libraries, SAMPLE_MODULE_DIR, job_env("on", emulator->url())), "job 2");
    expect_success(lazy_job.go(build_libraries, SAMPLE_MODULE_DIR, job_env("on", emulator->url())), "job 2, again");
    run_command({GOCACHEFS_BINARY, "stop", "--dir", lazy_job.store()});
    ASSERT_NE(lazy_job.log().find("packs: wrote pack"), std::string::npos) << lazy_job.log();
  }
  const Machine m("gha://");
  expect_success(m.go(build_libraries, SAMPLE_MODULE_DIR, job_env("on", proxy->url())), "job 3: go build ./internal/...");
  proxy->set_fault("range_long");
  const TempDir out;
  const std::vector<std::string> link = {"build", "-o", out.path() + "/", "./cmd/sample"};
  // The linker's reads of cold bodies come by range through the proxy, each
  // answered with more than asked: the bytes beyond the Content-Range are
  // dropped, and what is kept is checked by hash as always.
  const auto linked = m.go(link, SAMPLE_MODULE_DIR, job_env("on", proxy->url()));
  expect_success(linked, "the link, every range answered too long");
  EXPECT_EQ(gocachefs_lines(linked.err), 0) << linked.err;
  EXPECT_EQ(run_command({out.path() + "/sample"}).exit_code, 0);
  proxy->set_fault("pass");
  run_command({GOCACHEFS_BINARY, "stop", "--dir", m.store()});
  EXPECT_NE(m.log().find("an HTTP 206 longer than its Content-Range"), std::string::npos)
      << "no range was answered too long: the test tests nothing";
  m.expect_only_verified_objects();
}

}  // namespace
}  // namespace gocachefs::testing
