// `gocachefs stats`: what the store holds and how it has served.
#pragma once

#include <filesystem>
#include <string>

#include "store/index.h"

namespace gocachefs {

std::string format_stats(const std::filesystem::path& store_dir, const IndexTotals& totals);

}  // namespace gocachefs
