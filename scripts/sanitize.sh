#!/usr/bin/env bash
# The sanitizer build: clang with AddressSanitizer (leaks included) and UBSan, every report fatal.
#
#   scripts/sanitize.sh              configure build-asan/, build the CPU test suites, the vlgraph program and
#                                    the fuzz targets, and run them: every CPU test, the CLI tests, the
#                                    hostile-input table (tests/hostile/) and each fuzz target over its seed
#                                    corpus. .ci/run runs this after the main build's tests.
#   scripts/sanitize.sh configure    only configure build-asan/ (scripts/fuzz.sh builds its targets there)
#
# Left out: the CUDA programs (nvcc; their host code is covered by cudashim runs in the main build), the
# benchmarks, and the tests that only configure or compile other projects (consumer_*, compile_fail_*).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang++ >/dev/null && [ -n "$(find /usr/lib/llvm-*/lib/clang -name 'libclang_rt.fuzzer-x86_64.a' 2>/dev/null)" ] ||
  scripts/install-deps.sh
# -O1: ASan's usual level (fast enough to run the suites); line tables only: reports keep file:line frames
# at a tenth less compile time and a third less object size than full -g; asserts stay on.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DVLGRAPH_SANITIZE=ON -DVLGRAPH_BUILD_FUZZERS=ON -DVLGRAPH_BUILD_TESTS=ON -DVLGRAPH_BUILD_EXAMPLES=ON \
  -DVLGRAPH_BUILD_BENCHMARKS=OFF -DVLGRAPH_ENABLE_CUDA=OFF >/dev/null
[ "${1:-}" = configure ] && exit 0

export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
start=$(date +%s)
cmake --build build-asan -j"$(nproc)"
built=$(date +%s)
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" -E '^(consumer_|compile_fail_|gpu_check_without_gpu)'
echo "sanitizer build: built in $((built - start)) s, tests ran in $(( $(date +%s) - built )) s"
