// The file: URI that sqlite3_open_v2 with SQLITE_OPEN_URI wants for a path
// (made absolute, with %, ? and # escaped), for the index and for doctor's
// read-only look at it.
#pragma once

#include <filesystem>
#include <string>

namespace gocachefs {

std::string sqlite_uri(const std::filesystem::path& path);

}  // namespace gocachefs
