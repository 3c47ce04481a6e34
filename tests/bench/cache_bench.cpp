// Microbenchmarks of gocachefs's hot paths (Google Benchmark):
//   put ingestion: base64 body line -> decode -> SHA-256 -> temp file -> rename
//   local get:     index lookup + object stat + response line
//   get round trip through a Session over pipes, as cmd/go sees it
//
// Run: build/tests/cache_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "src/body_decoder.h"
#include "src/cache.h"
#include "src/protocol.h"
#include "src/session.h"
#include "store/action_record.h"
#include "store/base64.h"
#include "store/record_signing.h"
#include "store/sha256.h"
#include "tests/support/subprocess.h"

namespace gocachefs {
namespace {

using testing::TempDir;

std::string body_of(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 2654435761u >> 13);
  return s;
}

// A store on the same file system as the build directory (not tmpfs), so
// writes cost what they cost for users.
struct BenchStore {
  TempDir dir;
  ObjectStore objects{dir.path()};
  Index index{dir / "index.sqlite"};
  Cache cache{objects, index};
};

// The body line as cmd/go writes it, in a file read through an fd like the
// pipe would be.
int body_line_fd(const std::string& body, const std::string& path) {
  testing::write_file(path, "\"" + base64::encode(body) + "\"\n");
  return open(path.c_str(), O_RDONLY);
}

void BM_PutIngest(benchmark::State& state) {
  const bool to_disk = state.range(1) != 0;
  const std::string body = body_of(static_cast<std::size_t>(state.range(0)));
  const Id output = Sha256::of(body);
  BenchStore store;
  const int fd = body_line_fd(body, store.dir / "body-line");
  std::int64_t n = 0;
  for (auto _ : state) {
    lseek(fd, 0, SEEK_SET);
    InputStream in(fd);
    if (to_disk) {
      auto put = store.cache.begin_put(Sha256::of(std::to_string(n++)), output, body.size());
      const std::string error = read_body(in, body.size(), [&](const char* d, std::size_t s) { put->writer->append(d, s); });
      if (!error.empty()) state.SkipWithError(error.c_str());
      store.cache.finish_put(*put);
      state.PauseTiming();
      std::filesystem::remove(store.objects.path_of(output));  // the next put writes again
      state.ResumeTiming();
    } else {
      Sha256 hash;
      read_body(in, body.size(), [&](const char* d, std::size_t s) { hash.update(d, s); });
      benchmark::DoNotOptimize(hash.finish());
    }
  }
  close(fd);
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PutIngest)
    ->ArgNames({"bytes", "to_disk"})
    ->Args({64 << 20, 0})
    ->Args({64 << 20, 1})
    ->Args({4 << 10, 1})
    ->Unit(benchmark::kMicrosecond);

void BM_LocalGet(benchmark::State& state) {
  BenchStore store;
  constexpr int kEntries = 10000;
  for (int i = 0; i < kEntries; ++i) {
    const std::string body = "object " + std::to_string(i);
    auto put = store.cache.begin_put(Sha256::of(std::to_string(i)), Sha256::of(body), body.size());
    put->writer->append(body.data(), body.size());
    store.cache.finish_put(*put);
  }
  int i = 0;
  for (auto _ : state) {
    const auto hit = store.cache.get(Sha256::of(std::to_string(i++ % kEntries)));
    Response response{.id = i, .output_id = hit->output_id, .size = hit->size, .time_ns = hit->put_time_ns,
                      .disk_path = hit->disk_path};
    benchmark::DoNotOptimize(serialize(response));
  }
}
BENCHMARK(BM_LocalGet)->Unit(benchmark::kMicrosecond);

// One get at a time through a Session over pipes: what a single request
// costs end to end, thread hand-offs included.
void BM_GetRoundTrip(benchmark::State& state) {
  BenchStore store;
  const std::string body = "object";
  auto put = store.cache.begin_put(Sha256::of("a"), Sha256::of(body), body.size());
  put->writer->append(body.data(), body.size());
  store.cache.finish_put(*put);

  int to_session[2], from_session[2];
  if (pipe(to_session) != 0 || pipe(from_session) != 0) return state.SkipWithError("pipe");
  std::thread server([&] {
    Session session(to_session[0], from_session[1], SessionOptions{.workers = 4});
    session.greet();
    session.run(store.cache);
  });
  InputStream responses(from_session[0], 4096);
  responses.read_line(1 << 16);  // handshake
  const std::string action_b64 = id_to_base64(Sha256::of("a"));
  std::int64_t id = 1;
  for (auto _ : state) {
    const std::string request =
        R"({"ID":)" + std::to_string(id++) + R"(,"Command":"get","ActionID":")" + action_b64 + "\"}\n\n";
    if (write(to_session[1], request.data(), request.size()) < 0) break;
    benchmark::DoNotOptimize(responses.read_line(1 << 16));
  }
  const std::string close_request = R"({"ID":)" + std::to_string(id) + R"(,"Command":"close"})" "\n\n";
  (void)!write(to_session[1], close_request.data(), close_request.size());
  responses.read_line(1 << 16);
  close(to_session[1]);
  server.join();
  close(to_session[0]);
  close(from_session[0]);
}
BENCHMARK(BM_GetRoundTrip)->Unit(benchmark::kMicrosecond);

// What an upload spends on its record: encoding (zstd when it pays) with and
// without a signature (HMAC-SHA-256), for a small object carried whole, a
// 64 KiB one and a large object's 16 KiB head.
void BM_EncodeRecord(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  const bool sign = state.range(1) != 0;
  std::string bytes;
  for (int i = 0; bytes.size() < std::min(size, kInlinePrefixLimit * 2); ++i) bytes += "object line " + std::to_string(i) + "\n";
  bytes.resize(std::min<std::size_t>(size, inline_size_for(size, bytes)));
  const ActionRecord record{Sha256::of(bytes), size, 1700000000000000000, bytes};
  const Id action_id = Sha256::of("action");
  const SigningKeys keys = SigningKeys::parse("team " + std::string(64, 'k'));
  for (auto _ : state) {
    benchmark::DoNotOptimize(encode_action_record(action_id, record, sign ? &keys : nullptr));
  }
}
BENCHMARK(BM_EncodeRecord)
    ->ArgsProduct({{100, 64 << 10, 1 << 20}, {0, 1}})
    ->ArgNames({"size", "signed"})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace gocachefs

BENCHMARK_MAIN();
