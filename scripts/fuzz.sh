#!/usr/bin/env bash
# Fuzzes vlgraph's untrusted-input code with libFuzzer (clang, ASan + UBSan; leaks are findings too).
#
#   scripts/fuzz.sh TARGET SECONDS      one target: image configs checkpoint tokenizer chat_template shapes request
#   scripts/fuzz.sh all SECONDS         every target, one after another, SECONDS each
#   FUZZ_JOBS=2 scripts/fuzz.sh all S   the same, that many targets at a time
#
# Builds in the sanitizer build tree, build-asan/ (scripts/sanitize.sh). Each target starts from its seed
# corpus tests/fuzz/corpus/<target>/ and grows a working corpus in build-asan/fuzz/corpus/<target>/ (kept
# between runs); a finding's reproducer goes to build-asan/fuzz/findings/<target>/, the log to
# build-asan/fuzz/logs/<target>.log. Per input: 10 s, 2 GB.
# Prints one line per target (runs, execs/s, coverage, corpus, findings); exits 1 when any target found
# something, else 0. Replay a reproducer: build-asan/tests/fuzz/fuzz_<target> <file>.
set -euo pipefail
cd "$(dirname "$0")/.."
all_targets=(image configs checkpoint tokenizer chat_template shapes request)
if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS   (targets: ${all_targets[*]})" >&2
  exit 2
fi
if [ "$1" = all ]; then targets=("${all_targets[@]}"); else targets=("$1"); fi
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "scripts/fuzz.sh: no target '$t' (targets: ${all_targets[*]})" >&2; exit 2; }
done
seconds=$2

scripts/sanitize.sh configure
cmake --build build-asan -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

run_one() {
  local t=$1 dict=()
  mkdir -p "build-asan/fuzz/corpus/$t" "build-asan/fuzz/findings/$t" build-asan/fuzz/logs
  if [ -f "tests/fuzz/$t.dict" ]; then dict=(-dict="tests/fuzz/$t.dict"); fi
  "build-asan/tests/fuzz/fuzz_$t" "build-asan/fuzz/corpus/$t" "tests/fuzz/corpus/$t" "${dict[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1 \
    -artifact_prefix="build-asan/fuzz/findings/$t/" >"build-asan/fuzz/logs/$t.log" 2>&1 || true
  local runs execs cov corpus found
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-asan/fuzz/logs/$t.log" | grep -o '[0-9]*$' || echo 0)
  execs=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "build-asan/fuzz/logs/$t.log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "build-asan/fuzz/logs/$t.log" | tail -1 || true)
  corpus=$(find "build-asan/fuzz/corpus/$t" -type f | wc -l)
  found=$(find "build-asan/fuzz/findings/$t" -type f | wc -l)
  printf '%-14s %6ss  runs %-11s exec/s %-7s %-22s corpus %-6s findings %s\n' "$t" "$seconds" "${runs:-0}" "${execs:-0}" "${cov:-cov: ?}" "$corpus" "$found"
  [ "$found" -eq 0 ] || { find "build-asan/fuzz/findings/$t" -type f | sed 's/^/  reproducer: /'; return 1; }
}

status=0
jobs_max=${FUZZ_JOBS:-1}
pids=()
for t in "${targets[@]}"; do
  run_one "$t" & pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do sleep 1; done
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
