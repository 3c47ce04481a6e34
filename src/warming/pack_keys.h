// Which packs a job reads and writes. A key names a kind of job; its
// pointer (a small JSON entry at ac/<hash of the key>) names the packs that
// the key's newest job left, which are immutable (cas/<hash of the pack>).
//
// The key is automatic unless GOCACHEFS_PACK_KEY sets it: the main module,
// GOOS/GOARCH and the Go version, so that jobs that build the same thing
// share packs with no setting. GOCACHEFS_PACK_FALLBACK lists keys tried in
// order when the key has no pointer yet (as actions/cache's restore keys:
// this branch, then main). On GitHub Actions the automatic key is the
// branch's (GITHUB_HEAD_REF or GITHUB_REF_NAME), and unless
// GOCACHEFS_PACK_FALLBACK is set, it falls back to the branch a pull request
// merges into (GITHUB_BASE_REF), then to the repository's default branch
// (from the event at GITHUB_EVENT_PATH).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/ids.h"
#include "store/record_signing.h"

namespace gocachefs {

// Whether packs are replayed at start and written at close.
struct PackSettings {
  bool replay = false;
  bool write = false;
  std::string key;                     // the job's own key: read first, written
  std::vector<std::string> fallbacks;  // read, in order, when the key has no pointer
};

// GOCACHEFS_PACKS: auto (the default: replay when there is a remote; write
// too on CI, where the CI variable is set), on, replay, off. Throws
// std::invalid_argument for another value.
PackSettings resolve_pack_settings(bool has_remote, bool remote_read_only);

// The automatic key, from the directory the go command runs in and the go
// command that started us (our parent).
std::string automatic_pack_key(const std::filesystem::path& working_dir);

// The remote key of a pack key's pointer.
std::string pointer_remote_key(std::string_view pack_key);

struct PackRef {
  Id id{};
  std::uint64_t size = 0;
  std::uint64_t actions = 0;
  std::int64_t last_used_ns = 0;  // by a job of the key, to a day
  bool operator==(const PackRef&) const = default;
};

struct PackPointer {
  std::vector<PackRef> packs;  // in the order their first entries were used
  std::string key;
  std::uint64_t job_actions = 0;  // how many actions the key's last whole job used
  std::int64_t written_ns = 0;
};

// What a job records as its key's pointer when it could not read it (the
// remote failed): it then writes none, rather than one that forgets packs.
constexpr const char* kPointerUnknown = "unknown";

// Larger is not a pointer.
constexpr std::size_t kMaxPointerSize = 64 * 1024;

// With `keys`, the pointer carries the first key's HMAC-SHA-256 over all it
// says (pointer_signed_content): the packs it names are then trusted by name
// (their hash), and each pack's own signature covers its index.
std::string encode_pack_pointer(const PackPointer& pointer, const SigningKeys* keys = nullptr);
// Empty when `bytes` is not a pointer (garbage from a remote), or, given
// `keys`, when it is not validly signed by one of them (`*check`, when
// given, says how; kValid when it is not a pointer at all).
std::optional<PackPointer> decode_pack_pointer(std::string_view bytes, const SigningKeys* keys = nullptr,
                                               SignatureCheck* check = nullptr);
std::string pointer_signed_content(const PackPointer& pointer, std::string_view key_id);

}  // namespace gocachefs
