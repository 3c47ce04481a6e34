#include "src/stats.h"

#include <algorithm>
#include <cstdio>

#include "src/measured_remote.h"

namespace gocachefs {

std::string human_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return text;
}

namespace {

std::int64_t counter(const IndexTotals& totals, const std::string& name) {
  const auto it = totals.counters.find(name);
  return it == totals.counters.end() ? 0 : it->second;
}

}  // namespace

std::string format_stats(const std::filesystem::path& store_dir, const IndexTotals& totals) {
  const std::int64_t hits = counter(totals, "get_hits");
  const std::int64_t misses = counter(totals, "get_misses");
  const std::int64_t gets = hits + misses;
  char rate[32] = "-";
  if (gets > 0) std::snprintf(rate, sizeof rate, "%.1f%%", 100.0 * static_cast<double>(hits) / gets);

  std::string out;
  out += "store:    " + store_dir.string() + "\n";
  out += "entries:  " + std::to_string(totals.actions) + " actions, " + std::to_string(totals.objects) +
         " objects\n";
  out += "size:     " + human_bytes(static_cast<double>(totals.object_bytes)) + "\n";
  out += "hits:     " + std::to_string(hits) + "\n";
  out += "misses:   " + std::to_string(misses) + "\n";
  out += "hit rate: " + std::string(rate) + "\n";
  out += "puts:     " + std::to_string(counter(totals, "puts")) + " (" +
         human_bytes(static_cast<double>(counter(totals, "put_bytes"))) + ")\n";
  if (const std::int64_t errors = counter(totals, "request_errors"); errors > 0) {
    out += "errors:   " + std::to_string(errors) + " requests answered with an error (the log says why)\n";
  }
  if (const std::int64_t damaged = counter(totals, "corrupt_objects"); damaged > 0) {
    out += "damaged:  " + std::to_string(damaged) + " objects no longer matched their hash and were dropped\n";
  }
  if (const std::int64_t lazy = counter(totals, "lazy_hits"); lazy > 0) {
    const std::int64_t served = counter(totals, "lazy_bytes_served"), fetched = counter(totals, "lazy_bytes_fetched");
    out += "lazy:     " + std::to_string(lazy) + " hits from the mount (" + human_bytes(static_cast<double>(served)) +
           "), " + std::to_string(counter(totals, "lazy_objects_opened")) + " objects opened, " +
           human_bytes(static_cast<double>(fetched)) + " fetched on open, " +
           human_bytes(static_cast<double>(std::max<std::int64_t>(0, served - fetched))) + " never fetched, " +
           std::to_string(counter(totals, "lazy_fetches_failed")) + " fetches failed\n";
  }
  if (totals.counters.contains("remote_hits") || totals.pending_uploads > 0) {
    out += "remote:   " + std::to_string(counter(totals, "remote_hits")) + " hits fetched (" +
           human_bytes(static_cast<double>(counter(totals, "remote_fetch_bytes"))) + "), " +
           std::to_string(counter(totals, "remote_uploads")) + " uploads (" +
           human_bytes(static_cast<double>(counter(totals, "remote_upload_bytes"))) + "), " +
           std::to_string(totals.pending_uploads) + " queued\n";
  }
  if (const std::int64_t requests = counter(totals, "remote_requests"); requests > 0) {
    const auto quantile = [&](double q) {
      const auto ms = latency_quantile_ms(totals.counters, q);
      return ms ? "<" + std::to_string(static_cast<long>(*ms)) + " ms" : std::string("-");
    };
    out += "requests: " + std::to_string(requests) + " to the remote, " +
           std::to_string(counter(totals, "remote_failures")) + " failed (" +
           std::to_string(counter(totals, "remote_timeouts")) + " timed out), " +
           std::to_string(counter(totals, "remote_refusals")) + " refused; latency p50 " + quantile(0.5) + ", p90 " +
           quantile(0.9) + ", p99 " + quantile(0.99) + "\n";
  }
  const std::int64_t records_rejected = counter(totals, "remote_records_rejected"),
                     packs_rejected = counter(totals, "remote_packs_rejected"),
                     objects_refused = counter(totals, "remote_objects_refused");
  if (records_rejected + packs_rejected + objects_refused > 0) {
    out += "refused:  " + std::to_string(records_rejected) + " remote records and " + std::to_string(packs_rejected) +
           " packs or pointers not trusted (another action's, unsigned or wrongly signed, too large), " +
           std::to_string(objects_refused) + " objects too large or with no room on disk; the log says why\n";
  }
  if (totals.counters.contains("remote_records_ahead") || totals.counters.contains("lazy_objects_read_ahead")) {
    out += "ahead:    " + std::to_string(counter(totals, "remote_records_ahead")) + " stdout records fetched ahead (" +
           std::to_string(counter(totals, "remote_records_ahead_used")) + " used), " +
           std::to_string(counter(totals, "lazy_objects_read_ahead")) + " objects read ahead of the linker and compiler\n";
  }
  if (totals.counters.contains("pack_actions_warmed") || counter(totals, "pack_bytes_written") > 0) {
    const std::int64_t warmed = counter(totals, "pack_actions_warmed"), used = counter(totals, "pack_actions_used");
    out += "packs:    " + std::to_string(warmed) + " actions warmed, " + std::to_string(used) + " used, " +
           std::to_string(std::max<std::int64_t>(0, warmed - used)) + " unused; " +
           human_bytes(static_cast<double>(counter(totals, "pack_bytes_fetched"))) + " of packs fetched, " +
           std::to_string(counter(totals, "pack_objects_stored")) + " objects stored from them, " +
           std::to_string(counter(totals, "pack_objects_fetched_apart")) + " fetched ahead of their stream; " +
           human_bytes(static_cast<double>(counter(totals, "pack_bytes_written"))) + " of packs written\n";
  }
  return out;
}

nlohmann::json stats_json(const std::filesystem::path& store_dir, const IndexTotals& totals) {
  nlohmann::json out = {{"store", store_dir.string()},
                        {"actions", totals.actions},
                        {"objects", totals.objects},
                        {"object_bytes", totals.object_bytes},
                        {"upload_backlog", totals.pending_uploads},
                        {"request_errors", counter(totals, "request_errors")},
                        {"counters", totals.counters}};
  const std::int64_t hits = counter(totals, "get_hits"), gets = hits + counter(totals, "get_misses");
  out["hit_rate"] = gets > 0 ? nlohmann::json(static_cast<double>(hits) / static_cast<double>(gets)) : nullptr;
  nlohmann::json latency = nlohmann::json::object();
  for (const auto& [name, q] : {std::pair{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}}) {
    const auto ms = latency_quantile_ms(totals.counters, q);
    latency[name] = ms ? nlohmann::json(*ms) : nullptr;
  }
  out["remote"] = {{"requests", counter(totals, "remote_requests")},
                   {"failures", counter(totals, "remote_failures")},
                   {"timeouts", counter(totals, "remote_timeouts")},
                   {"refusals", counter(totals, "remote_refusals")},
                   {"latency_ms_under", latency}};
  return out;
}

}  // namespace gocachefs
