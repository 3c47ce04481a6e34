#include "store/sha256.h"

#include <gtest/gtest.h>

namespace gocachefs {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(to_hex(Sha256::of("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(Sha256::of("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  const std::string data(100000, 'x');
  Sha256 hash;
  for (std::size_t i = 0; i < data.size(); i += 777) hash.update(data.data() + i, std::min<std::size_t>(777, data.size() - i));
  EXPECT_EQ(hash.finish(), Sha256::of(data));
}

// As cmd/go's cache.Subkey(parent, "stdout"), for the ActionID SHA-256("a").
TEST(GoSubkey, HashesPrefixParentAndDescription) {
  EXPECT_EQ(to_hex(go_subkey(Sha256::of("a"), "stdout")),
            "76a75c1d7964730022924234d17074f6364e7c7edf262605b4cd625433707a05");
}

}  // namespace gocachefs
