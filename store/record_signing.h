// Signing what gocachefs writes to a remote (action records, packs, pack
// pointers) with a team's secret, so that a reader can tell its entries from
// those of anyone else with write access, or of a proxy serving the wrong
// key. HMAC-SHA-256 (OpenSSL).
//
// The key file holds one key a line, `KEYID SECRET`; blank lines and lines
// starting with '#' are ignored. The first key signs, every key verifies:
// a team rotates by adding a new first line everywhere, then dropping the old
// line once every writer has the new one.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/ids.h"

namespace gocachefs {

// Shorter secrets are refused: a guessable secret signs nothing.
constexpr std::size_t kMinSecretSize = 32;
// Key ids travel in every record and in a pack's fixed-size header.
constexpr std::size_t kMaxKeyIdSize = 32;

using Mac = std::array<std::uint8_t, 32>;

// HMAC-SHA-256 of `message` under `secret`.
Mac hmac_sha256(std::string_view secret, std::string_view message);

struct SigningKey {
  std::string id;
  std::string secret;
};

struct Signature {
  std::string key_id;
  std::string mac_hex;  // 64 hex digits
};

// Why a signature was not accepted.
enum class SignatureCheck { kValid, kUnsigned, kUnknownKey, kWrong };
const char* describe(SignatureCheck check);

class SigningKeys {
 public:
  // Throws std::invalid_argument when `keys` is empty.
  explicit SigningKeys(std::vector<SigningKey> keys);

  // Parses a key file's text. Throws std::invalid_argument naming the line
  // that is wrong (never quoting a secret).
  static SigningKeys parse(std::string_view text);

  // The id of the key that signs: the first.
  const std::string& signer_id() const { return keys_.front().id; }
  // Signs with the first key.
  Signature sign(std::string_view message) const;
  // Whether `signature` (its fields empty: none) is a valid one of `message`
  // by any of the keys. Constant-time in the MAC.
  SignatureCheck verify(const Signature& signature, std::string_view message) const;

  // Identifies the set of keys without revealing them: a daemon serves only
  // the go commands that hold the same keys.
  std::string fingerprint() const;
  std::size_t size() const { return keys_.size(); }

 private:
  std::vector<SigningKey> keys_;  // the first signs
};

}  // namespace gocachefs
