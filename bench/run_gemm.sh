#!/usr/bin/env bash
# The GEMM benchmark and its PyTorch peer in one run, same shapes and threads.
#   bench/run_gemm.sh [THREADS]      (needs build/bin/bench_gemm; python3 with torch for the peer)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
build/bin/bench_gemm "$threads"
if python3 -c "import torch" 2>/dev/null; then
  python3 bench/peer_gemm.py 1
  if [ "$threads" != 1 ]; then python3 bench/peer_gemm.py "$threads"; fi
else
  echo "(no torch: peer skipped)"
fi
