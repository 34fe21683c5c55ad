#!/usr/bin/env bash
# The vision-tower benchmark and its PyTorch peer in one run: the Qwen3.6-27B vision tower (random
# weights, f32) on the CPU backend vs HF transformers' Qwen3_5VisionModel on the SAME weights file,
# same image sizes, same thread count; and, when a llama.cpp build is there, llama.cpp's mtmd encoder on the
# f32 GGUF conversion of that weights file (bench/peer_llamacpp.sh vision; bench/build_llamacpp.sh builds and
# converts, outside the repository).
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
#   LLAMA_BUILD=/work/peers/llama-build   the llama.cpp peer runs when LLAMA_BUILD/bin/llama-mtmd-cli and
#   GGUF_DIR=/tmp/vlgraph-bench-lm-gguf   GGUF_DIR/mmproj-f32.gguf + vision-textlm-f32.gguf exist (converted from
#                                         bench_vision's checkpoint: its weights are deterministic, so the same
#                                         as DIR's)
#
# Prints the load average before and after, every run's time, and one RESULT line per
# (implementation, threads, size); the peer first proves it computes what we compute (--check). llama.cpp's
# rows (impl=llama.cpp-mtmd-f32) are not checked against ours: they time its image encode on the same
# weights, best of REPS after WARMUP.
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
LLAMA_BUILD=${LLAMA_BUILD:-/work/peers/llama-build}
GGUF_DIR=${GGUF_DIR:-/tmp/vlgraph-bench-lm-gguf}
llama=0
[ -x "$LLAMA_BUILD/bin/llama-mtmd-cli" ] && [ -f "$GGUF_DIR/mmproj-f32.gguf" ] && [ -f "$GGUF_DIR/vision-textlm-f32.gguf" ] && llama=1
[ "$llama" = 1 ] || echo "(no llama.cpp build: peer skipped)"
if [ "$peer" = 1 ] && [ "${CHECK:-1}" = 1 ]; then
  for a in $ATTN; do python3 bench/peer_vision.py "$DIR" 1 "$a" --check; done
fi
for t in $THREADS; do
  "$build/bin/bench_vision" time "$DIR" "$t" "$WARMUP" "$REPS" $SIZES
  if [ "$peer" = 1 ]; then
    for a in $ATTN; do python3 bench/peer_vision.py "$DIR" "$t" "$a" "$WARMUP" "$REPS" $SIZES; done
  fi
  if [ "$llama" = 1 ]; then
    LLAMA_BUILD="$LLAMA_BUILD" GGUF_DIR="$GGUF_DIR" SIZES="$SIZES" WARMUP="$WARMUP" REPS="$REPS" bench/peer_llamacpp.sh vision "$t"
  fi
done
echo "load: $(uptime)"
