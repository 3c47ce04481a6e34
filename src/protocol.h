// The GOCACHEPROG wire format (cmd/go/internal/cacheprog): requests and
// responses as JSON objects, one per line. Knows nothing of storage.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/ids.h"

namespace gocachefs {

struct Request {
  std::int64_t id = 0;
  std::string command;
  std::optional<Id> action_id;
  std::optional<Id> output_id;
  std::uint64_t body_size = 0;
  // Set when the request is well-formed enough to be answered (its ID is
  // known) but not to be served: the answer is this error.
  std::string error;
};

// Parses one request line. Throws ProtocolError when no answer is possible
// (not a JSON object, or no integer ID); every other problem lands in
// Request::error.
Request parse_request(std::string_view line);

struct Response {
  std::int64_t id = 0;
  std::string err;
  std::vector<std::string> known_commands;
  bool miss = false;
  std::optional<Id> output_id;
  std::uint64_t size = 0;
  std::optional<std::int64_t> time_ns;  // nanoseconds since the Unix epoch
  std::string disk_path;
};

// One JSON line, '\n' included. Empty fields are omitted as cmd/go does.
std::string serialize(const Response& response);

// RFC 3339 with nanoseconds in UTC, as Go's time.Time marshals.
std::string format_rfc3339(std::int64_t unix_ns);

}  // namespace gocachefs
