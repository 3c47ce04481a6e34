#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang into build-fuzz/ and
# runs each for a bounded time, from its seed corpus. Prints the executions
# per target and in total. Exits 1 on any finding (crash, failed check, leak,
# sanitizer report, timeout), leaving the input that caused it in
# build-fuzz/findings/; 77 (skip) when clang or libFuzzer is missing.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     default 20 (CI)
#   build-fuzz/body_fuzzer build-fuzz/findings/body/crash-...   replay a finding
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
targets=(request body stream action_record cas_entry pack)
out=build-fuzz

skip() {
  echo "SKIP: $*" >&2
  echo "SKIP: install them with scripts/setup.sh (clang, libclang-rt-14-dev)" >&2
  exit 77
}
command -v clang++ >/dev/null || skip "clang++ is not installed: no fuzzing"
mkdir -p "$out"
echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' >"$out/probe.cpp"
clang++ -fsanitize=fuzzer,address,undefined "$out/probe.cpp" -o "$out/probe" 2>/dev/null || skip "clang++ cannot link libFuzzer: no fuzzing"

if ! { cmake -S tests/fuzz -B "$out" -G Ninja -DCMAKE_CXX_COMPILER=clang++ && ninja -C "$out"; } >"$out/build.log" 2>&1; then
  cat "$out/build.log" >&2
  echo "FAIL: building the fuzz targets" >&2
  exit 1
fi

export UBSAN_OPTIONS=print_stacktrace=1
total=0
failed=()
for t in "${targets[@]}"; do
  # Seeds are copied into a scratch corpus that grows from run to run; the
  # repository is never written to.
  corpus="$out/corpus/$t" findings="$out/findings/$t" log="$out/logs/$t.log"
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  cp -n tests/fuzz/corpus/$t/* "$corpus/" 2>/dev/null || true
  rc=0
  "$out/${t}_fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -error_exitcode=1 \
    -artifact_prefix="$findings/" "$corpus" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log")
  if [[ $rc -ne 0 || -z $runs ]]; then
    failed+=("$t")
    echo "FAIL: ${t}_fuzzer (exit $rc), log: $log" >&2
    grep -E -m5 'ERROR|check failed|runtime error|out of step' "$log" >&2 || tail -n 20 "$log" >&2
    sed -n 's/.*Test unit written to \(.*\)$/  input: \1/p' "$log" >&2
    continue
  fi
  rate=$(sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
  printf '%-22s %12d runs  %8s exec/s\n' "${t}_fuzzer" "$runs" "$rate"
  total=$((total + runs))
done
printf '%-22s %12d runs  (%s s per target)\n' total "$total" "$seconds"
if ((${#failed[@]})); then
  echo "FAIL: ${failed[*]}" >&2
  exit 1
fi
