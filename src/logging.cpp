#include "src/logging.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace gocachefs {

namespace {

std::atomic<bool> log_failed{false};
std::atomic<bool> log_started{false};  // past start-up: a failure is then told on stderr

// Each line is one write(2) to a file opened O_APPEND: lines from the many
// gocachefs processes sharing a log never interleave (stdio's buffer would
// split them at 4 KiB), and a failed write (a full disk) is seen at once
// rather than at some later flush.
class AppendFileSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit AppendFileSink(const std::string& path) {
    fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error(std::strerror(errno));
  }
  ~AppendFileSink() override { close(fd_); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      const ssize_t n = write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw spdlog::spdlog_ex(std::strerror(n < 0 ? errno : EIO));
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  void flush_() override {}

 private:
  int fd_ = -1;
};

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
    logger = std::make_shared<spdlog::logger>("gocachefs", std::make_shared<AppendFileSink>(file.string()));
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot open the log file " + file.string() + " (" + e.what() + ")" + what_to_do);
  }
  // The pid tells apart the go commands that share one log.
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %P %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  // spdlog's own handler prints every failure on stderr; one line is enough.
  logger->set_error_handler([raw = logger.get(), file](const std::string& message) {
    raw->set_level(spdlog::level::off);
    if (!log_failed.exchange(true) && log_started) {
      std::fprintf(stderr, "gocachefs: cannot write the log file %s (%s); logging is off for this process\n",
                   file.c_str(), message.c_str());
    }
  });
  // A file that opens but cannot be written (/proc/version) fails here,
  // before the handshake, rather than later.
  logger->info("gocachefs {} started", GOCACHEFS_VERSION);
  if (log_failed) throw std::runtime_error("cannot write the log file " + file.string() + what_to_do);
  log_started = true;
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace gocachefs
