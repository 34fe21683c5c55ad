#!/usr/bin/env bash
# Configures vlgraph into ./build (Release) with tests, examples and benchmarks,
# and builds the given targets (default: all) on all cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
  -DVLGRAPH_BUILD_TESTS=ON -DVLGRAPH_BUILD_EXAMPLES=ON -DVLGRAPH_BUILD_BENCHMARKS=ON
if [ $# -gt 0 ]; then
  cmake --build build -j"$(nproc)" --target "$@"
else
  cmake --build build -j"$(nproc)"
fi
