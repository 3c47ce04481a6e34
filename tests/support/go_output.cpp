#include "tests/support/go_output.h"

#include <regex>
#include <sstream>

namespace gocachefs::testing {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> build_actions(const std::string& x_output) {
  static const std::regex tool(R"((?:^|\s)\S*/pkg/tool/[^/]+/(compile|link|asm|cgo)\s.*?-o\s+(\S+))");
  static const std::regex c_compiler(R"((?:^|\s)(gcc|cc|clang)\s)");
  std::vector<std::string> actions;
  std::smatch m;
  for (const auto& line : lines_of(x_output)) {
    if (std::regex_search(line, m, tool)) {
      actions.push_back(m[1].str() + " " + m[2].str());
    } else if (std::regex_search(line, m, c_compiler)) {
      actions.push_back(line);
    }
  }
  return actions;
}

TestSummary summarize_tests(const std::string& test_output) {
  TestSummary summary;
  for (const auto& line : lines_of(test_output)) {
    if (!line.starts_with("ok")) continue;
    ++summary.passed;
    if (line.find("(cached)") != std::string::npos) ++summary.cached;
  }
  return summary;
}

}  // namespace gocachefs::testing
