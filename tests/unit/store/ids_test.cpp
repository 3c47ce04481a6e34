#include "store/ids.h"

#include <gtest/gtest.h>

namespace gocachefs {

TEST(Ids, HexRoundTrip) {
  Id id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(i * 9);
  const std::string hex = to_hex(id);
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_EQ(hex.substr(0, 6), "000912");
  EXPECT_EQ(id_from_hex(hex), id);
  EXPECT_FALSE(id_from_hex(hex.substr(1)));
  EXPECT_FALSE(id_from_hex(std::string(64, 'g')));
}

TEST(Ids, Base64IsWhatGoMarshalsForByteSlices) {
  Id id{};
  id.fill(0xff);
  // Go: json.Marshal([]byte{0xff x 32}) == "//////////////////////////////////////////8="
  EXPECT_EQ(id_to_base64(id), "//////////////////////////////////////////8=");
  EXPECT_EQ(id_from_base64("//////////////////////////////////////////8="), id);
}

TEST(Ids, Base64MustHoldExactly32Bytes) {
  EXPECT_FALSE(id_from_base64("YQ=="));
  EXPECT_FALSE(id_from_base64("not base64 at all"));
  EXPECT_FALSE(id_from_base64(std::string(48, 'A')));  // 36 bytes
}

}  // namespace gocachefs
