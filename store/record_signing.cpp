#include "store/record_signing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <set>
#include <stdexcept>

#include "store/sha256.h"

namespace gocachefs {

namespace {

bool valid_key_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxKeyIdSize) return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Mac hmac_sha256(std::string_view secret, std::string_view message) {
  Mac mac{};
  unsigned int size = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &size) ||
      size != mac.size()) {
    throw std::runtime_error("HMAC-SHA-256 failed");
  }
  return mac;
}

const char* describe(SignatureCheck check) {
  switch (check) {
    case SignatureCheck::kValid:
      return "validly signed";
    case SignatureCheck::kUnsigned:
      return "not signed";
    case SignatureCheck::kUnknownKey:
      return "signed with a key not in the key file";
    case SignatureCheck::kWrong:
      return "signed wrongly (altered, or signed with another secret under the same key id)";
  }
  return "?";
}

SigningKeys::SigningKeys(std::vector<SigningKey> keys) : keys_(std::move(keys)) {
  if (keys_.empty()) throw std::invalid_argument("no signing key");
}

SigningKeys SigningKeys::parse(std::string_view text) {
  std::vector<SigningKey> keys;
  std::set<std::string> ids;
  int number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++number;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "line " + std::to_string(number);
    const std::size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos) {
      throw std::invalid_argument(where + " is not \"KEYID SECRET\"");
    }
    const std::string_view id = line.substr(0, space);
    const std::string_view secret = trim(line.substr(space));
    if (!valid_key_id(id)) {
      throw std::invalid_argument(where + ": the key id must be 1 to 32 of A-Z a-z 0-9 . _ -");
    }
    if (secret.size() < kMinSecretSize || secret.find_first_of(" \t") != std::string_view::npos) {
      throw std::invalid_argument(where + " (key \"" + std::string(id) +
                                  "\"): the secret must be one word of at least 32 characters "
                                  "(make one with `openssl rand -hex 32`)");
    }
    if (!ids.insert(std::string(id)).second) {
      throw std::invalid_argument(where + ": key id \"" + std::string(id) + "\" appears twice");
    }
    keys.push_back({std::string(id), std::string(secret)});
  }
  if (keys.empty()) throw std::invalid_argument("it holds no key (one a line: KEYID SECRET)");
  return SigningKeys(std::move(keys));
}

Signature SigningKeys::sign(std::string_view message) const {
  const SigningKey& key = keys_.front();
  return {key.id, to_hex(hmac_sha256(key.secret, message))};
}

SignatureCheck SigningKeys::verify(const Signature& signature, std::string_view message) const {
  if (signature.key_id.empty() && signature.mac_hex.empty()) return SignatureCheck::kUnsigned;
  for (const auto& key : keys_) {
    if (key.id != signature.key_id) continue;
    const auto claimed = id_from_hex(signature.mac_hex);
    if (!claimed) return SignatureCheck::kWrong;
    const Mac mac = hmac_sha256(key.secret, message);
    return CRYPTO_memcmp(mac.data(), claimed->data(), mac.size()) == 0 ? SignatureCheck::kValid
                                                                        : SignatureCheck::kWrong;
  }
  return SignatureCheck::kUnknownKey;
}

std::string SigningKeys::fingerprint() const {
  std::string all;
  for (const auto& key : keys_) all += key.id + '\0' + key.secret + '\0';
  // A hash of secrets of at least 32 characters: nothing to recover from it.
  return to_hex(Sha256::of("gocachefs signing keys\n" + all));
}

}  // namespace gocachefs
