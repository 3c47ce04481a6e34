#include "src/logging.h"


#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

namespace gocachefs {

void start_logging(const std::filesystem::path& file, const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw std::runtime_error("unknown log level \"" + level + "\" (trace, debug, info, warn, error, critical, off)");
  }
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
    // Appending (O_APPEND) keeps lines from concurrent gocachefs processes whole.
    logger = spdlog::basic_logger_mt("gocachefs", file.string());
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot open log file " + file.string() + ": " + e.what());
  }
  // The pid tells apart the go commands that share one log.
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %P %^%l%$ %v");
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace gocachefs
