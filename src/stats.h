// `gocachefs stats`: what the store holds and how it has served.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "store/index.h"

namespace gocachefs {

// "12.3 MiB"
std::string human_bytes(double bytes);

std::string format_stats(const std::filesystem::path& store_dir, const IndexTotals& totals);

// The same as JSON, with every counter, for scripts: `gocachefs stats --json`.
nlohmann::json stats_json(const std::filesystem::path& store_dir, const IndexTotals& totals);

}  // namespace gocachefs
