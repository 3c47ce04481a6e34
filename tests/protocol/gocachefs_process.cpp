#include "tests/protocol/gocachefs_process.h"

#include <gtest/gtest.h>

#include "store/base64.h"
#include "store/sha256.h"

namespace gocachefs::testing {

std::string gocachefs_binary() { return GOCACHEFS_BINARY; }

GocachefsProcess::GocachefsProcess(const std::string& store_dir, std::vector<std::string> extra_args,
                                   const Environment& env)
    : child_(
          [&] {
            std::vector<std::string> argv = {gocachefs_binary(), "--dir", store_dir};
            argv.insert(argv.end(), extra_args.begin(), extra_args.end());
            return argv;
          }(),
          env) {}

GocachefsProcess::GocachefsProcess(const CommandLine& command) : child_(command.argv) {}

json GocachefsProcess::handshake() { return receive(); }

void GocachefsProcess::send(const json& request) { child_.write(request.dump() + "\n\n"); }

json GocachefsProcess::receive() {
  const auto line = child_.read_line();
  if (!line) return json();
  json response = json::parse(*line, nullptr, false);
  EXPECT_FALSE(response.is_discarded()) << "stdout carried non-JSON: " << *line;
  return response;
}

std::map<std::int64_t, json> GocachefsProcess::receive(std::size_t n) {
  std::map<std::int64_t, json> responses;
  for (std::size_t i = 0; i < n; ++i) {
    json response = receive();
    if (response.is_null()) {
      ADD_FAILURE() << "only " << i << " of " << n << " responses arrived";
      break;
    }
    const auto id = response["ID"].get<std::int64_t>();
    EXPECT_TRUE(responses.emplace(id, std::move(response)).second) << "ID " << id << " answered twice";
  }
  return responses;
}

void GocachefsProcess::put(std::int64_t id, const Id& action, const std::string& body) {
  json request = {{"ID", id},
                  {"Command", "put"},
                  {"ActionID", id_to_base64(action)},
                  {"OutputID", id_to_base64(Sha256::of(body))}};
  if (!body.empty()) request["BodySize"] = body.size();
  std::string bytes = request.dump() + "\n\n";
  if (!body.empty()) bytes += "\"" + base64::encode(body) + "\"\n";
  child_.write(bytes);
}

void GocachefsProcess::get(std::int64_t id, const Id& action) {
  send({{"ID", id}, {"Command", "get"}, {"ActionID", id_to_base64(action)}});
}

json GocachefsProcess::close(std::int64_t id) {
  send({{"ID", id}, {"Command", "close"}});
  return receive();
}

}  // namespace gocachefs::testing
