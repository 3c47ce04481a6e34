#include "src/warming/pack_keys.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "store/sha256.h"

namespace gocachefs {

namespace {

// A pointer names at most this many packs: the reader fetches them all.
constexpr std::size_t kMaxPointerPacks = 16;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// The module path in the nearest go.mod at or above `dir`; "" outside a module.
std::string main_module(std::filesystem::path dir) {
  for (;;) {
    std::ifstream mod(dir / "go.mod");
    for (std::string line; mod && std::getline(mod, line);) {
      if (line.starts_with("module ")) {
        std::string path = line.substr(7);
        if (const auto comment = path.find("//"); comment != std::string::npos) path.resize(comment);
        std::erase(path, '"');
        while (!path.empty() && std::isspace(static_cast<unsigned char>(path.back()))) path.pop_back();
        return path;
      }
    }
    if (!dir.has_parent_path() || dir.parent_path() == dir) return "";
    dir = dir.parent_path();
  }
}

// The version of the go command that runs us: its GOROOT's VERSION file.
std::string go_version() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(getppid()) + "/exe", ec);
  if (ec) return "";
  std::string version;
  std::getline(std::ifstream(exe.parent_path().parent_path() / "VERSION"), version);
  return version;
}

std::string host_arch() {
  utsname name{};
  uname(&name);
  const std::string machine = name.machine;
  if (machine == "x86_64") return "amd64";
  if (machine == "aarch64") return "arm64";
  return machine;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::string item;
  for (const char c : text + ",") {
    if (c == ',' || c == '\n') {
      while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.pop_back();
      if (const auto start = item.find_first_not_of(" \t"); start != std::string::npos) items.push_back(item.substr(start));
      item.clear();
    } else {
      item += c;
    }
  }
  return items;
}

// The repository's default branch, from the event GitHub describes in the
// file at GITHUB_EVENT_PATH ("" when it does not say).
std::string github_default_branch() {
  const std::string path = env("GITHUB_EVENT_PATH");
  if (path.empty()) return "";
  std::ifstream in(path);
  const auto event = nlohmann::json::parse(in, nullptr, false);
  if (!event.is_object() || !event.contains("repository") || !event["repository"].is_object()) return "";
  const auto& branch = event["repository"]["default_branch"];
  return branch.is_string() ? branch.get<std::string>() : "";
}

// On GitHub Actions, as actions/cache users set up restore keys: the key is
// this branch's, and a job falls back to the branch a pull request merges
// into, then to the default branch, so a new branch starts from main's packs.
void add_github_branches(PackSettings& settings, bool fallbacks_set) {
  const std::string branch = env("GITHUB_HEAD_REF").empty() ? env("GITHUB_REF_NAME") : env("GITHUB_HEAD_REF");
  if (env("GITHUB_ACTIONS") != "true" || branch.empty()) return;
  const std::string base_key = settings.key;
  settings.key = base_key + " branch " + branch;
  if (fallbacks_set) return;
  for (const std::string& other : {env("GITHUB_BASE_REF"), github_default_branch()}) {
    const std::string key = base_key + " branch " + other;
    if (!other.empty() && key != settings.key &&
        std::find(settings.fallbacks.begin(), settings.fallbacks.end(), key) == settings.fallbacks.end()) {
      settings.fallbacks.push_back(key);
    }
  }
}

}  // namespace

PackSettings resolve_pack_settings(bool has_remote, bool remote_read_only) {
  const std::string mode = env("GOCACHEFS_PACKS").empty() ? "auto" : env("GOCACHEFS_PACKS");
  PackSettings settings;
  if (mode == "auto") {
    const std::string ci = env("CI");
    settings.replay = true;
    settings.write = !ci.empty() && ci != "false" && ci != "0";
  } else if (mode == "on") {
    settings.replay = settings.write = true;
  } else if (mode == "replay") {
    settings.replay = true;
  } else if (mode != "off") {
    throw std::invalid_argument("GOCACHEFS_PACKS must be auto, on, replay or off, not \"" + mode + "\"");
  }
  settings.replay = settings.replay && has_remote;
  settings.write = settings.write && has_remote && !remote_read_only;
  if (!settings.replay && !settings.write) return settings;
  settings.key = env("GOCACHEFS_PACK_KEY");
  settings.fallbacks = split_list(env("GOCACHEFS_PACK_FALLBACK"));
  if (settings.key.empty()) {
    std::error_code ec;
    settings.key = automatic_pack_key(std::filesystem::current_path(ec));
    add_github_branches(settings, !settings.fallbacks.empty());
  }
  return settings;
}

std::string automatic_pack_key(const std::filesystem::path& working_dir) {
  const std::string goos = env("GOOS").empty() ? "linux" : env("GOOS");
  const std::string goarch = env("GOARCH").empty() ? host_arch() : env("GOARCH");
  const std::string module = main_module(working_dir);
  return "auto " + (module.empty() ? std::string("(no module)") : module) + " " + goos + "/" + goarch + " " +
         go_version();
}

std::string pointer_remote_key(std::string_view pack_key) {
  return "ac/" + to_hex(Sha256::of("gocachefs pack pointer\n" + std::string(pack_key)));
}

std::string pointer_signed_content(const PackPointer& pointer, std::string_view key_id) {
  std::string message = "gocachefs pack pointer\n";
  const auto number = [&](std::uint64_t value) { message += std::to_string(value) + "\n"; };
  number(pointer.key.size());
  message += pointer.key;
  number(static_cast<std::uint64_t>(pointer.written_ns));
  number(pointer.job_actions);
  number(pointer.packs.size());
  for (const auto& p : pointer.packs) {
    message += to_hex(p.id) + "\n";
    number(p.size);
    number(p.actions);
    number(static_cast<std::uint64_t>(p.last_used_ns));
  }
  message += key_id;  // last: its length is what remains
  return message;
}

std::string encode_pack_pointer(const PackPointer& pointer, const SigningKeys* keys) {
  nlohmann::json packs = nlohmann::json::array();
  for (const auto& p : pointer.packs) {
    packs.push_back({{"id", to_hex(p.id)}, {"size", p.size}, {"actions", p.actions}, {"last_used_ns", p.last_used_ns}});
  }
  nlohmann::json json{{"gocachefs_pack_pointer", 1}, {"key", pointer.key}, {"written_ns", pointer.written_ns},
                      {"job_actions", pointer.job_actions}, {"packs", packs}};
  if (keys) {
    const Signature signature = keys->sign(pointer_signed_content(pointer, keys->signer_id()));
    json["key_id"] = signature.key_id;
    json["sig"] = signature.mac_hex;
  }
  return json.dump();
}

std::optional<PackPointer> decode_pack_pointer(std::string_view bytes, const SigningKeys* keys, SignatureCheck* check) {
  if (check) *check = SignatureCheck::kValid;
  if (bytes.size() > kMaxPointerSize) return std::nullopt;
  const auto json = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return std::nullopt;
  const auto version = json.find("gocachefs_pack_pointer");
  if (version == json.end() || !version->is_number_unsigned() || *version != 1) return std::nullopt;
  const auto packs = json.find("packs");
  if (packs == json.end() || !packs->is_array() || packs->size() > kMaxPointerPacks) return std::nullopt;
  // Numbers must be integers of their type: get<> of a float is undefined.
  const auto integers = [](const nlohmann::json& object, std::initializer_list<const char*> names) {
    for (const char* name : names) {
      const auto it = object.find(name);
      if (it != object.end() && !it->is_number_integer()) return false;
    }
    return true;
  };
  if (!integers(json, {"written_ns", "job_actions"})) return std::nullopt;
  PackPointer pointer;
  try {
    pointer.key = json.value("key", "");
    pointer.written_ns = json.value("written_ns", std::int64_t{0});
    pointer.job_actions = json.value("job_actions", std::uint64_t{0});
    for (const auto& p : *packs) {
      if (!p.is_object() || !integers(p, {"size", "actions", "last_used_ns"})) return std::nullopt;
      const auto id = id_from_hex(p.at("id").get<std::string>());
      if (!id) return std::nullopt;
      pointer.packs.push_back({*id, p.at("size").get<std::uint64_t>(), p.at("actions").get<std::uint64_t>(),
                               p.value("last_used_ns", std::int64_t{0})});
    }
    if (keys) {
      Signature signature;
      if (const auto it = json.find("key_id"); it != json.end() && it->is_string()) signature.key_id = *it;
      if (const auto it = json.find("sig"); it != json.end() && it->is_string()) signature.mac_hex = *it;
      const SignatureCheck verdict = keys->verify(signature, pointer_signed_content(pointer, signature.key_id));
      if (check) *check = verdict;
      if (verdict != SignatureCheck::kValid) return std::nullopt;
    }
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  return pointer;
}

}  // namespace gocachefs
