// Logs go to a file (stderr belongs to the user's terminal, stdout to the
// protocol).
#pragma once

#include <filesystem>
#include <string>

namespace gocachefs {

// Until start_logging, log lines go nowhere: spdlog's own default writes to
// stdout, which carries only protocol. Call first thing in main.
void discard_logging();

// Sends spdlog's default logger to `file` at `level` (trace, debug, info,
// warn, error, critical, off). Throws std::runtime_error, with a message for
// the user, when the file cannot be opened or written. When writing fails
// later (a full disk), one line says so on stderr and logging stops.
void start_logging(const std::filesystem::path& file, const std::string& level);

}  // namespace gocachefs
