#include "src/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <stdexcept>

namespace gocachefs {

namespace {
std::atomic<bool> log_failed{false};
}  // namespace

void discard_logging() {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("gocachefs", std::make_shared<spdlog::sinks::null_sink_mt>()));
}

void start_logging(const std::filesystem::path& file, const std::string& level) {
  std::shared_ptr<spdlog::logger> logger;
  const std::string what_to_do = "; set --log-file or GOCACHEFS_LOG_FILE to a file you can write";
  try {
    std::error_code ec;
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
    // Appending (O_APPEND) keeps lines from concurrent gocachefs processes whole.
    logger = std::make_shared<spdlog::logger>("gocachefs", std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string()));
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot open the log file " + file.string() + " (" + e.what() + ")" + what_to_do);
  }
  // The pid tells apart the go commands that share one log.
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %P %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::warn);
  // spdlog's own handler prints every failure on stderr; one line is enough.
  logger->set_error_handler([raw = logger.get(), file](const std::string& message) {
    raw->set_level(spdlog::level::off);
    if (!log_failed.exchange(true)) {
      std::fprintf(stderr, "gocachefs: cannot write the log file %s (%s); logging is off for this process\n",
                   file.c_str(), message.c_str());
    }
  });
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace gocachefs
