#include "src/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include <sys/stat.h>

#include "tests/support/subprocess.h"

namespace gocachefs {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"GOCACHEFS_DIR", "XDG_CACHE_HOME", "HOME", "GOCACHEFS_LOG_FILE", "GOCACHEFS_LOG_LEVEL",
                             "GOCACHEFS_UPLOAD_WAIT", "GOCACHEFS_REMOTE_READ_ONLY", "GOCACHEFS_REMOTE",
                             "GOCACHEFS_LAZY", "GOCACHEFS_MAX_AGE", "GOCACHEFS_MAX_SIZE",
                             "GOCACHEFS_SIGNING_KEY_FILE", "GOCACHEFS_MAX_OBJECT_SIZE"}) {
      if (const char* v = std::getenv(name)) saved_.emplace_back(name, v);
      unsetenv(name);
    }
  }
  void TearDown() override {
    for (const auto& [k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
  }
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(ConfigTest, StoreDirPrecedence) {
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(resolve_store_dir(""), "/home/u/.cache/gocachefs");
  setenv("XDG_CACHE_HOME", "relative/ignored", 1);
  EXPECT_EQ(resolve_store_dir(""), "/home/u/.cache/gocachefs");
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(resolve_store_dir(""), "/xdg/gocachefs");
  setenv("GOCACHEFS_DIR", "/env/dir", 1);
  EXPECT_EQ(resolve_store_dir(""), "/env/dir");
  EXPECT_EQ(resolve_store_dir("/flag dir"), "/flag dir");
}

TEST_F(ConfigTest, NoWhereToStoreIsAnError) { EXPECT_THROW(resolve_store_dir(""), SettingsError); }

TEST_F(ConfigTest, RelativeStoreDirIsMadeAbsolute) {
  EXPECT_EQ(resolve_store_dir("rel/dir"), std::filesystem::current_path() / "rel/dir");
}

TEST_F(ConfigTest, LogDefaults) {
  EXPECT_EQ(resolve_log_file(""), "");  // the store decides
  setenv("GOCACHEFS_LOG_FILE", "/l/f.log", 1);
  EXPECT_EQ(resolve_log_file(""), "/l/f.log");
  EXPECT_EQ(resolve_log_file("/x.log"), "/x.log");
  EXPECT_EQ(resolve_log_level(""), "info");
  setenv("GOCACHEFS_LOG_LEVEL", "debug", 1);
  EXPECT_EQ(resolve_log_level(""), "debug");
  EXPECT_EQ(resolve_log_level("warn"), "warn");
}

// Each message names the setting and what it accepts.
void expect_settings_error(const Flags& flags, const std::string& needle) {
  try {
    resolve_settings(flags);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const SettingsError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST_F(ConfigTest, EverySettingIsChecked) {
  setenv("HOME", "/home/u", 1);
  expect_settings_error(Flags{.log_level = "loud"}, "--log-level \"loud\" is not a log level");
  setenv("GOCACHEFS_LOG_LEVEL", "bogus", 1);
  expect_settings_error(Flags{}, "GOCACHEFS_LOG_LEVEL \"bogus\" is not a log level");
  unsetenv("GOCACHEFS_LOG_LEVEL");
  for (const char* bad : {"abc", "-1", "1e9", "nan", "5s"}) {
    setenv("GOCACHEFS_UPLOAD_WAIT", bad, 1);
    expect_settings_error(Flags{}, "GOCACHEFS_UPLOAD_WAIT=\"" + std::string(bad) + "\" is not a number of seconds");
  }
  setenv("GOCACHEFS_UPLOAD_WAIT", "2.5", 1);
  EXPECT_EQ(resolve_settings(Flags{}).remote.settings.upload_wait, std::chrono::milliseconds(2500));
  setenv("GOCACHEFS_REMOTE_READ_ONLY", "maybe", 1);
  expect_settings_error(Flags{}, "GOCACHEFS_REMOTE_READ_ONLY=\"maybe\" is not understood");
  setenv("GOCACHEFS_REMOTE_READ_ONLY", "true", 1);
  EXPECT_TRUE(resolve_settings(Flags{}).remote.settings.read_only);
  setenv("GOCACHEFS_REMOTE_READ_ONLY", "0", 1);
  EXPECT_FALSE(resolve_settings(Flags{}).remote.settings.read_only);
  EXPECT_GE(resolve_settings(Flags{}).workers, 4u);
  EXPECT_EQ(resolve_settings(Flags{.jobs = 3}).workers, 3u);
}

TEST_F(ConfigTest, LazyIsAutoUnlessSaidOtherwise) {
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(resolve_settings(Flags{}).lazy, LazyMode::kAuto);
  setenv("GOCACHEFS_LAZY", "off", 1);
  EXPECT_EQ(resolve_settings(Flags{}).lazy, LazyMode::kOff);
  EXPECT_EQ(resolve_settings(Flags{.lazy = "on"}).lazy, LazyMode::kOn) << "the flag wins";
  setenv("GOCACHEFS_LAZY", "yes", 1);
  expect_settings_error(Flags{}, "GOCACHEFS_LAZY=\"yes\" is not understood: use auto, on or off");
}


TEST_F(ConfigTest, TrimPolicyFromFlagsOrEnvironment) {
  setenv("HOME", "/home/u", 1);
  const TrimPolicy defaults = resolve_settings(Flags{}).trim;
  EXPECT_EQ(defaults.max_age, std::chrono::hours(24 * 5));
  EXPECT_EQ(defaults.max_size, 0u);
  const TrimPolicy flags = resolve_settings(Flags{.max_age = "36h", .max_size = "20GiB"}).trim;
  EXPECT_EQ(flags.max_age, std::chrono::hours(36));
  EXPECT_EQ(flags.max_size, 20ULL << 30);
  setenv("GOCACHEFS_MAX_AGE", "90m", 1);
  setenv("GOCACHEFS_MAX_SIZE", "500MB", 1);
  EXPECT_EQ(resolve_settings(Flags{}).trim.max_age, std::chrono::minutes(90));
  EXPECT_EQ(resolve_settings(Flags{}).trim.max_size, 500'000'000u);
  EXPECT_EQ(resolve_settings(Flags{.max_age = "2d"}).trim.max_age, std::chrono::hours(48));  // the flag wins
  setenv("GOCACHEFS_MAX_AGE", "5", 1);  // no unit: ambiguous
  expect_settings_error(Flags{}, "GOCACHEFS_MAX_AGE \"5\" is not an age");
  unsetenv("GOCACHEFS_MAX_AGE");
  expect_settings_error(Flags{.max_size = "lots"}, "--max-size \"lots\" is not a size");
  unsetenv("GOCACHEFS_MAX_SIZE");
  EXPECT_GT(resolve_settings(Flags{.max_age = "0"}).trim.max_age, std::chrono::hours(24 * 365 * 100));  // no limit
}

TEST_F(ConfigTest, SigningKeyFileIsLoadedOnlyWhenPrivateAndWellFormed) {
  EXPECT_FALSE(resolve_remote(Flags{}).settings.trust.keys) << "no key: nothing signed, as before";
  const testing::TempDir dir;
  const std::string file = dir / "team.keys";
  testing::write_file(file, "# team keys\nteam-2 " + std::string(64, 'b') + "\nteam-1 " + std::string(64, 'a') + "\n");
  chmod(file.c_str(), 0600);
  setenv("GOCACHEFS_SIGNING_KEY_FILE", file.c_str(), 1);
  const RemoteConfig remote = resolve_remote(Flags{});
  ASSERT_TRUE(remote.settings.trust.keys);
  EXPECT_EQ(remote.settings.trust.keys->signer_id(), "team-2");
  EXPECT_EQ(remote.signing_key_file, file);

  const auto refused = [&](const std::string& says) {
    try {
      resolve_remote(Flags{});
      ADD_FAILURE() << "accepted; expected: " << says;
    } catch (const SettingsError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("GOCACHEFS_SIGNING_KEY_FILE"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find(std::string(64, 'a')), std::string::npos) << "a secret in: " << e.what();
    }
  };
  chmod(file.c_str(), 0644);
  refused("chmod 600");
  chmod(file.c_str(), 0600);
  testing::write_file(file, "team-1 short\n");
  chmod(file.c_str(), 0600);
  refused("at least 32 characters");
  setenv("GOCACHEFS_SIGNING_KEY_FILE", (dir / "missing").c_str(), 1);
  refused("cannot be read");
}

TEST_F(ConfigTest, MaxObjectSize) {
  EXPECT_EQ(resolve_remote(Flags{}).settings.trust.max_object_size, 4ULL << 30);
  EXPECT_EQ(resolve_remote(Flags{.max_object_size = "64MiB"}).settings.trust.max_object_size, 64ULL << 20);
  setenv("GOCACHEFS_MAX_OBJECT_SIZE", "1GB", 1);
  EXPECT_EQ(resolve_remote(Flags{}).settings.trust.max_object_size, 1000000000u);
  setenv("GOCACHEFS_MAX_OBJECT_SIZE", "lots", 1);
  EXPECT_THROW(resolve_remote(Flags{}), SettingsError);
  setenv("GOCACHEFS_MAX_OBJECT_SIZE", "0", 1);
  EXPECT_THROW(resolve_remote(Flags{}), SettingsError);
}

}  // namespace gocachefs
