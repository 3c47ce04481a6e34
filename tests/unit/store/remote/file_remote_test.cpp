#include "store/remote/file_remote.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/subprocess.h"

namespace gocachefs {
namespace {

using testing::TempDir;
using testing::write_file;

RemoteResult fetch_all(Remote& remote, const std::string& key, std::string* out) {
  out->clear();
  return remote.fetch(key, [&](const char* data, std::size_t size) {
    out->append(data, size);
    return true;
  });
}

std::string fetch_range(Remote& remote, const std::string& key, ByteRange range) {
  std::string out;
  EXPECT_TRUE(remote
                  .fetch_range(key, range,
                               [&](const char* data, std::size_t size) {
                                 out.append(data, size);
                                 return true;
                               })
                  .ok());
  return out;
}

class FileRemoteTest : public ::testing::Test {
 protected:
  TempDir root;
  FileRemote remote{root.path()};
};

TEST_F(FileRemoteTest, StoredBytesComeBack) {
  ASSERT_TRUE(remote.store_bytes("ac/abc", "record").ok());
  std::string got;
  ASSERT_TRUE(fetch_all(remote, "ac/abc", &got).ok());
  EXPECT_EQ(got, "record");
}

TEST_F(FileRemoteTest, MissingKeyIsNotFound) {
  std::string got;
  EXPECT_EQ(fetch_all(remote, "ac/none", &got).status, RemoteResult::kNotFound);
}

TEST_F(FileRemoteTest, StoreFileAndRanges) {
  TempDir src;
  std::string bytes;
  for (int i = 0; i < 100000; ++i) bytes += static_cast<char>(i * 7);
  write_file(src / "object", bytes);
  ASSERT_TRUE(remote.store_file("cas/obj", src / "object", StoredEncoding{}).ok());
  std::string got;
  ASSERT_TRUE(fetch_all(remote, "cas/obj", &got).ok());
  EXPECT_TRUE(got == bytes);
  EXPECT_EQ(fetch_range(remote, "cas/obj", {1000, 50}), bytes.substr(1000, 50));
  EXPECT_EQ(fetch_range(remote, "cas/obj", {99990, 100}), bytes.substr(99990)) << "past the end: what there is";
  EXPECT_EQ(fetch_range(remote, "cas/obj", {200000, 10}), "");
}

TEST_F(FileRemoteTest, ExistsWithoutReading) {
  ASSERT_TRUE(remote.store_bytes("cas/there", "bytes").ok());
  EXPECT_TRUE(remote.exists("cas/there").ok());
  EXPECT_EQ(remote.exists("cas/there").length, 5u);
  EXPECT_EQ(remote.exists("cas/absent").status, RemoteResult::kNotFound);
}

TEST_F(FileRemoteTest, OverwriteLeavesNoTempFiles) {
  ASSERT_TRUE(remote.store_bytes("ac/k", "one").ok());
  ASSERT_TRUE(remote.store_bytes("ac/k", "two, longer").ok());
  std::string got;
  ASSERT_TRUE(fetch_all(remote, "ac/k", &got).ok());
  EXPECT_EQ(got, "two, longer");
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root.path())) {
    if (entry.is_regular_file()) {
      ++files;
      EXPECT_FALSE(entry.path().filename().string().starts_with(".")) << entry.path();
    }
  }
  EXPECT_EQ(files, 1);
}

TEST_F(FileRemoteTest, SinkRefusalFails) {
  ASSERT_TRUE(remote.store_bytes("ac/k", "bytes").ok());
  EXPECT_EQ(remote.fetch("ac/k", [](const char*, std::size_t) { return false; }).status, RemoteResult::kFailed);
}

TEST_F(FileRemoteTest, UnwritableRootFails) {
  write_file(root / "file", "");
  FileRemote broken(root / "file");  // a regular file: no directories under it
  EXPECT_EQ(broken.store_bytes("ac/k", "x").status, RemoteResult::kFailed);
}

}  // namespace
}  // namespace gocachefs
