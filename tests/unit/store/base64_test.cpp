#include "store/base64.h"

#include <gtest/gtest.h>

namespace gocachefs {

TEST(Base64, RoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(base64::decode(base64::encode(bytes)), bytes) << "length " << i;
    bytes.push_back(static_cast<char>(i * 37));
  }
}

TEST(Base64, IsTheStandardAlphabetWithPadding) {
  EXPECT_EQ(base64::encode("\xfb\xff\xbf"), "+/+/");
  EXPECT_EQ(base64::encode("a"), "YQ==");
  EXPECT_EQ(base64::encode("ab"), "YWI=");
  EXPECT_EQ(base64::decode("+/+/"), "\xfb\xff\xbf");
}

TEST(Base64, RejectsInvalidText) {
  EXPECT_FALSE(base64::decode("YQ"));        // not padded
  EXPECT_FALSE(base64::decode("Y Q=="));     // whitespace
  EXPECT_FALSE(base64::decode("-_-_"));      // URL alphabet
  EXPECT_FALSE(base64::decode("YQ==YWI="));  // padding in the middle
  EXPECT_FALSE(base64::decode("Y==="));
  EXPECT_FALSE(base64::decode("!!!!"));
  EXPECT_EQ(base64::decode(""), "");
}

}  // namespace gocachefs
