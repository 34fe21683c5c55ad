#!/usr/bin/env bash
# The vision-tower benchmark and its PyTorch peer in one run: the Qwen3.6-27B vision tower (random
# weights, f32) on the CPU backend vs HF transformers' Qwen3_5VisionModel on the SAME weights file,
# same image sizes, same thread count.
#
#   bench/run_vision.sh [BUILD_DIR]          (needs BUILD_DIR/bin/bench_vision, default build;
#                                             python3 with torch + transformers for the peer)
#
# Settings (environment):
#   THREADS="1 2"         thread counts
#   SIZES="448 1024"      square image sides (multiples of 32: no resize)
#   WARMUP=1 REPS=3       untimed runs, then best of REPS, per size
#   ATTN="sdpa eager"     HF attn_implementation(s) of the peer
#   CHECK=1               run the peer's same-weights check first (0: skip)
#   DIR=<tmp>             where the checkpoint is written (1.8 GB; removed at the end unless given)
#
# Prints the load average before and after, every run's time, and one RESULT line per
# (implementation, threads, size); the peer first proves it computes what we compute (--check).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
THREADS=${THREADS:-"1 2"}
SIZES=${SIZES:-"448 1024"}
WARMUP=${WARMUP:-1}
REPS=${REPS:-3}
ATTN=${ATTN:-"sdpa eager"}
if [ -z "${DIR:-}" ]; then
  DIR=$(mktemp -d /tmp/vlbench_vision.XXXXXX)
  trap 'rm -rf "$DIR"' EXIT
fi
echo "load: $(uptime)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) ($(nproc) cores)"
[ -f "$DIR/model.safetensors" ] || "$build/bin/bench_vision" write "$DIR"
peer=0
python3 -c "import torch, transformers" 2>/dev/null && peer=1
[ "$peer" = 1 ] || echo "(no torch/transformers: peer skipped)"
if [ "$peer" = 1 ] && [ "${CHECK:-1}" = 1 ]; then
  for a in $ATTN; do python3 bench/peer_vision.py "$DIR" 1 "$a" --check; done
fi
for t in $THREADS; do
  "$build/bin/bench_vision" time "$DIR" "$t" "$WARMUP" "$REPS" $SIZES
  if [ "$peer" = 1 ]; then
    for a in $ATTN; do python3 bench/peer_vision.py "$DIR" "$t" "$a" "$WARMUP" "$REPS" $SIZES; done
  fi
done
echo "load: $(uptime)"
