#include "src/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace gocachefs {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"GOCACHEFS_DIR", "XDG_CACHE_HOME", "HOME", "GOCACHEFS_LOG_FILE", "GOCACHEFS_LOG_LEVEL"}) {
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

TEST_F(ConfigTest, NoWhereToStoreIsAnError) { EXPECT_THROW(resolve_store_dir(""), std::runtime_error); }

TEST_F(ConfigTest, LogDefaults) {
  EXPECT_EQ(resolve_log_file("", "/s"), "/s/gocachefs.log");
  setenv("GOCACHEFS_LOG_FILE", "/l/f.log", 1);
  EXPECT_EQ(resolve_log_file("", "/s"), "/l/f.log");
  EXPECT_EQ(resolve_log_file("/x.log", "/s"), "/x.log");
  EXPECT_EQ(resolve_log_level(""), "info");
  setenv("GOCACHEFS_LOG_LEVEL", "debug", 1);
  EXPECT_EQ(resolve_log_level(""), "debug");
  EXPECT_EQ(resolve_log_level("warn"), "warn");
}

}  // namespace gocachefs
