#include "src/daemon/tool_prefetch.h"

#include <gtest/gtest.h>

namespace gocachefs {
namespace {

TEST(ImportcfgArgument, FindsItAsCmdGoPassesIt) {
  // As cmd/go runs the linker (trimmed).
  EXPECT_EQ(importcfg_argument({"/usr/local/go/pkg/tool/linux_amd64/link", "-o", "$WORK/b001/exe/a.out",
                                "-importcfg", "/tmp/go-build1/b001/importcfg.link", "-buildmode=exe",
                                "$WORK/b001/_pkg_.a"}),
            "/tmp/go-build1/b001/importcfg.link");
  EXPECT_EQ(importcfg_argument({"compile", "-importcfg=/w/b002/importcfg", "-p", "main"}), "/w/b002/importcfg");
  EXPECT_EQ(importcfg_argument({"compile", "--importcfg", "/w/cfg"}), "/w/cfg");
}

TEST(ImportcfgArgument, AbsentOrWithoutAValue) {
  EXPECT_EQ(importcfg_argument({"go", "build", "./..."}), std::nullopt);
  EXPECT_EQ(importcfg_argument({"link", "-importcfg"}), std::nullopt);
  EXPECT_EQ(importcfg_argument({}), std::nullopt);
}

TEST(MountObjectsInImportcfg, OnlyPackageFilesInTheMount) {
  const std::string a(64, 'a'), b(64, 'b');
  const std::string importcfg =
      "# import config\n"
      "packagefile fmt=/store/mnt/" + a + "\n"
      "packagefile os=/home/u/.cache/go-build/12/1234-d\n"   // a local hit: not in the mount
      "importmap old=new\n"
      "packagefile strings=/store/mnt/not-hex\n"
      "packagefile io=/store/mnt/" + b;  // no final newline
  const auto objects = mount_objects_in_importcfg(importcfg, "/store/mnt");
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(to_hex(objects[0]), a);
  EXPECT_EQ(to_hex(objects[1]), b);
  EXPECT_TRUE(mount_objects_in_importcfg(importcfg, "/store/mn").empty()) << "a prefix of the mount is not the mount";
  EXPECT_TRUE(mount_objects_in_importcfg("", "/store/mnt").empty());
}

TEST(MountObjectsInVetConfig, PackageFilesInTheMount) {
  const std::string a(64, 'a');
  const std::string config = R"({"ID": "fmt", "PackageFile": {"io": "/store/mnt/)" + a +
                             R"(", "os": "/home/u/.cache/go-build/12/1234-d"}, "VetxOnly": false})";
  const auto objects = mount_objects_in_vet_config(config, "/store/mnt");
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(to_hex(objects[0]), a);
  EXPECT_TRUE(mount_objects_in_vet_config("not json", "/store/mnt").empty());
  EXPECT_TRUE(mount_objects_in_vet_config(R"({"PackageFile": ["x"]})", "/store/mnt").empty());
}

}  // namespace
}  // namespace gocachefs
