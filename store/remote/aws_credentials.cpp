// Parsing of what credential sources answer, the refresh schedule, and the
// provider that keeps credentials fresh. The sources themselves are in
// aws_credential_sources.cpp.
#include "store/remote/aws_credentials.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

extern char** environ;

namespace gocachefs {

namespace {

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

std::string json_string(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// The fields every JSON source shares; `token_key` differs ("SessionToken"
// for credential_process, "Token" for the metadata endpoints).
AwsCredentials credentials_from_json(const std::string& text, const char* token_key, const char* what) {
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) throw AwsCredentialsError(std::string(what) + " is not a JSON object");
  AwsCredentials c{json_string(json, "AccessKeyId"), json_string(json, "SecretAccessKey"),
                   json_string(json, token_key), std::nullopt};
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    throw AwsCredentialsError(std::string(what) + " has no AccessKeyId and SecretAccessKey");
  }
  if (const std::string expiration = json_string(json, "Expiration"); !expiration.empty()) {
    c.expiration = parse_aws_time(expiration);
  }
  return c;
}

std::string xml_unescape(std::string s) {
  static const std::pair<const char*, const char*> entities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  for (const auto& [entity, character] : entities) {
    for (auto at = s.find(entity); at != std::string::npos; at = s.find(entity, at + 1)) {
      s.replace(at, std::strlen(entity), character);
    }
  }
  return s;
}

// The text of the first <tag>...</tag> in xml[from, to), unescaped; nullopt
// when there is none. STS answers are small and flat: no need for a parser.
std::optional<std::string> xml_element(const std::string& xml, const std::string& tag, std::size_t from = 0,
                                       std::size_t to = std::string::npos, std::size_t* end = nullptr) {
  to = std::min(to, xml.size());
  for (std::size_t at = xml.find("<" + tag, from); at != std::string::npos && at < to;
       at = xml.find("<" + tag, at + 1)) {
    const std::size_t after_name = at + 1 + tag.size();
    if (after_name >= to || (xml[after_name] != '>' && xml[after_name] != ' ')) continue;  // <TagLonger>
    const std::size_t open_end = xml.find('>', after_name);
    if (open_end == std::string::npos || open_end >= to) return std::nullopt;
    if (xml[open_end - 1] == '/') return std::string();  // <Tag/>
    const std::size_t close = xml.find("</" + tag + ">", open_end);
    if (close == std::string::npos || close >= to) return std::nullopt;
    if (end) *end = close + tag.size() + 3;
    return xml_unescape(trim(xml.substr(open_end + 1, close - open_end - 1)));
  }
  return std::nullopt;
}

}  // namespace

AwsClock::time_point parse_aws_time(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    throw AwsCredentialsError("not an ISO 8601 time: \"" + text + "\"");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::string rest = text.substr(consumed);
  if (!rest.empty() && rest[0] == '.') {  // fractional seconds: dropped
    std::size_t digits = 1;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
    rest.erase(0, digits);
  }
  long offset_seconds = 0;
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() >= 5 && (rest[0] == '+' || rest[0] == '-')) {
    int hours = 0, minutes = 0;
    if (std::sscanf(rest.c_str() + 1, "%2d:%2d", &hours, &minutes) != 2 &&
        std::sscanf(rest.c_str() + 1, "%2d%2d", &hours, &minutes) != 2) {
      throw AwsCredentialsError("not an ISO 8601 time: \"" + text + "\"");
    }
    offset_seconds = (rest[0] == '+' ? 1 : -1) * (hours * 3600L + minutes * 60L);
  } else {
    throw AwsCredentialsError("not an ISO 8601 time (no time zone): \"" + text + "\"");
  }
  const std::time_t utc = timegm(&tm);
  return AwsClock::from_time_t(utc - offset_seconds);
}

IniSections parse_ini(const std::string& text) {
  IniSections sections;
  std::map<std::string, std::string>* section = nullptr;
  bool in_nested_value = false;  // "s3 =" followed by indented "key = value" lines
  std::istringstream lines(text);
  for (std::string raw; std::getline(lines, raw);) {
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = &sections[trim(line.substr(1, line.size() - 2))];
      in_nested_value = false;
      continue;
    }
    const bool indented = raw[0] == ' ' || raw[0] == '\t';
    if (indented && in_nested_value) continue;
    const auto eq = line.find('=');
    if (!section || eq == std::string::npos) continue;
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    in_nested_value = value.empty();
    (*section)[key] = value;
  }
  return sections;
}

AwsCredentials parse_credential_process_output(const std::string& json) {
  const auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) throw AwsCredentialsError("its output is not a JSON object");
  if (!parsed.contains("Version") || parsed["Version"] != 1) {
    throw AwsCredentialsError("its output has no \"Version\": 1 (the only version there is)");
  }
  return credentials_from_json(json, "SessionToken", "its output");
}

AwsCredentials parse_metadata_credentials(const std::string& json) {
  return credentials_from_json(json, "Token", "the answer");
}

AwsCredentials parse_sts_credentials(const std::string& xml) {
  if (xml.find("<Error>") != std::string::npos || xml.find("<ErrorResponse") != std::string::npos) {
    const std::string code = xml_element(xml, "Code").value_or("unknown error");
    const std::string message = xml_element(xml, "Message").value_or("");
    throw AwsCredentialsError("STS refused: " + code + (message.empty() ? "" : ": " + message));
  }
  std::size_t end = 0;
  const auto block = xml_element(xml, "Credentials", 0, std::string::npos, &end);
  if (!block) throw AwsCredentialsError("the STS answer has no <Credentials>");
  const std::size_t start = xml.find("<Credentials");
  AwsCredentials c{xml_element(xml, "AccessKeyId", start, end).value_or(""),
                   xml_element(xml, "SecretAccessKey", start, end).value_or(""),
                   xml_element(xml, "SessionToken", start, end).value_or(""), std::nullopt};
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    throw AwsCredentialsError("the STS answer has no AccessKeyId and SecretAccessKey");
  }
  if (const auto expiration = xml_element(xml, "Expiration", start, end); expiration && !expiration->empty()) {
    c.expiration = parse_aws_time(*expiration);
  }
  return c;
}

AwsClock::time_point aws_refresh_time(const AwsCredentials& credentials, AwsClock::time_point now,
                                      const AwsRefreshPolicy& policy) {
  if (!credentials.expiration) return AwsClock::time_point::max();
  const auto lifetime = *credentials.expiration - now;
  const auto fraction = std::chrono::duration_cast<AwsClock::duration>(lifetime * policy.max_lifetime_fraction);
  const auto ahead = std::min<AwsClock::duration>(policy.margin, fraction);
  return *credentials.expiration - ahead;
}

AwsCredentialProvider::AwsCredentialProvider(std::unique_ptr<AwsCredentialSource> source, AwsCredentials first,
                                             AwsRefreshPolicy policy)
    : source_(std::move(source)), source_name_(source_->name()), policy_(std::move(policy)) {
  const auto now = policy_.now();
  install(std::move(first), now);
  next_attempt_ = now + policy_.min_interval;
}

void AwsCredentialProvider::install(AwsCredentials credentials, AwsClock::time_point now) {
  refresh_at_ = aws_refresh_time(credentials, now, policy_);
  current_ = std::make_shared<const AwsCredentials>(std::move(credentials));
}

bool AwsCredentialProvider::usable(AwsClock::time_point now) const {
  return !current_->expiration || now < *current_->expiration - policy_.expiry_skew;
}

int AwsCredentialProvider::refreshes() const {
  std::lock_guard lock(mutex_);
  return refreshes_;
}

std::shared_ptr<const AwsCredentials> AwsCredentialProvider::current(std::string* error) {
  std::unique_lock lock(mutex_);
  auto now = policy_.now();
  if (now < refresh_at_) return current_;
  if (refreshing_ || now < next_attempt_) {
    // Another request is fetching, or the last fetch just failed.
    if (usable(now)) return current_;
    refreshed_.wait(lock, [&] { return !refreshing_; });
    if (usable(policy_.now())) return current_;
    *error = "the S3 credentials expired and refreshing them failed: " + last_error_;
    return nullptr;
  }
  refreshing_ = true;
  lock.unlock();
  std::optional<AwsCredentials> fresh;
  std::string failure;
  try {
    fresh = source_->fetch();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  lock.lock();
  refreshing_ = false;
  ++refreshes_;
  now = policy_.now();
  next_attempt_ = now + policy_.min_interval;
  if (fresh) {
    install(std::move(*fresh), now);
    last_error_.clear();
    spdlog::info("refreshed the S3 credentials from {}", source_name_);
  } else {
    last_error_ = failure;
    // The source's errors name it.
    spdlog::warn("refreshing the S3 credentials failed: {}", failure);
  }
  refreshed_.notify_all();
  if (usable(now)) return current_;
  *error = "the S3 credentials expired and refreshing them failed: " + last_error_;
  return nullptr;
}

std::shared_ptr<AwsCredentialProvider> shared_aws_credential_provider(const AwsChainOptions& options) {
  // Keyed by everything the chain reads from the environment.
  std::string key = options.region;
  for (char** e = environ; *e; ++e) {
    const std::string_view entry(*e);
    if (entry.starts_with("AWS_") || entry.starts_with("HOME=")) key.append("\n").append(entry);
  }
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<AwsCredentialProvider>> providers;
  std::lock_guard lock(mutex);
  if (auto existing = providers[key].lock()) return existing;
  std::erase_if(providers, [](const auto& entry) { return entry.second.expired(); });
  auto found = find_aws_credentials(options);
  auto provider = std::make_shared<AwsCredentialProvider>(std::move(found.source), std::move(found.credentials));
  providers[key] = provider;
  return provider;
}

}  // namespace gocachefs
