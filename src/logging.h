// Logs go to a file (stderr belongs to the user's terminal).
#pragma once

#include <filesystem>
#include <string>

namespace gocachefs {

// Sends spdlog's default logger to `file` at `level` (trace, debug, info,
// warn, error, critical, off). Throws std::runtime_error for an unknown
// level or a file that cannot be opened.
void start_logging(const std::filesystem::path& file, const std::string& level);

}  // namespace gocachefs
