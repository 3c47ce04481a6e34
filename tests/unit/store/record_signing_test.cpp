#include "store/record_signing.h"

#include <gtest/gtest.h>

namespace gocachefs {
namespace {

const std::string kSecretA(40, 'a'), kSecretB(40, 'b');

TEST(RecordSigningTest, HmacSha256MatchesRfc4231) {
  // RFC 4231, test case 2.
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(RecordSigningTest, TheFirstKeySignsAndEveryKeyVerifies) {
  const SigningKeys old_file = SigningKeys::parse("team-1 " + kSecretA + "\n");
  // Rotation: a new first line; the old key stays until every writer has the new one.
  const SigningKeys new_file = SigningKeys::parse("# rotated\nteam-2 " + kSecretB + "\n\nteam-1 " + kSecretA + "\n");
  EXPECT_EQ(new_file.size(), 2u);
  EXPECT_EQ(new_file.signer_id(), "team-2");
  const Signature by_old = old_file.sign("message");
  const Signature by_new = new_file.sign("message");
  EXPECT_EQ(by_old.key_id, "team-1");
  EXPECT_EQ(by_new.key_id, "team-2");
  EXPECT_EQ(new_file.verify(by_old, "message"), SignatureCheck::kValid);
  EXPECT_EQ(new_file.verify(by_new, "message"), SignatureCheck::kValid);
  EXPECT_EQ(old_file.verify(by_new, "message"), SignatureCheck::kUnknownKey);
  EXPECT_EQ(new_file.verify(by_new, "messagE"), SignatureCheck::kWrong);
  EXPECT_EQ(new_file.verify({}, "message"), SignatureCheck::kUnsigned);
  EXPECT_EQ(new_file.verify({"team-2", "not hex"}, "message"), SignatureCheck::kWrong);
  // The same key id with another secret: a writer that only guessed the id.
  const SigningKeys impostor = SigningKeys::parse("team-2 " + std::string(40, 'z'));
  EXPECT_EQ(new_file.verify(impostor.sign("message"), "message"), SignatureCheck::kWrong);
  EXPECT_NE(old_file.fingerprint(), new_file.fingerprint());
  EXPECT_EQ(new_file.fingerprint().find(kSecretA), std::string::npos);
}

TEST(RecordSigningTest, BadKeyFilesAreRefusedWithoutQuotingSecrets) {
  const std::string secret = "s3cr3t-but-far-too-short";
  for (const auto& [text, says] : std::initializer_list<std::pair<std::string, std::string>>{
           {"", "no key"},
           {"# only a comment\n", "no key"},
           {"team-1\n", "line 1 is not"},
           {"team-1 " + secret + "\n", "at least 32"},
           {"team/1 " + kSecretA, "key id"},
           {std::string(33, 'k') + " " + kSecretA, "key id"},
           {"team-1 " + kSecretA + " trailing\n", "one word"},
           {"team-1 " + kSecretA + "\nteam-1 " + kSecretB, "line 2: key id \"team-1\" appears twice"},
       }) {
    try {
      SigningKeys::parse(text);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find(kSecretA), std::string::npos) << e.what();
    }
  }
  // Windows line ends and spaces around are fine.
  EXPECT_EQ(SigningKeys::parse("  team-1\t" + kSecretA + " \r\n").signer_id(), "team-1");
}

}  // namespace
}  // namespace gocachefs
