// Reading what the go command prints, for end-to-end tests.
#pragma once

#include <string>
#include <vector>

namespace gocachefs::testing {

std::vector<std::string> lines_of(const std::string& text);

// Tool runs that `go build -x` prints when it really compiles or links, as
// "<tool> <output>" so that runs with different caches compare equal.
std::vector<std::string> build_actions(const std::string& x_output);

// `go test` output: packages that passed, and how many of them were cached.
struct TestSummary {
  int passed = 0;
  int cached = 0;
};
TestSummary summarize_tests(const std::string& test_output);

}  // namespace gocachefs::testing
