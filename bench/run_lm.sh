#!/usr/bin/env bash
# The language-model benchmark and its PyTorch peer in one run: Qwen3.6-27B layer widths, 4 layers
# (3 Gated DeltaNet + 1 full attention), vocab 8192, random weights, f32 — vlgraph's CPU backend
# (build/bin/bench_lm) vs HF transformers (bench/peer_lm.py) on the SAME checkpoint, prompt and thread count,
# and, when a llama.cpp build is there, llama.cpp's llama-bench on GGUF f32 and bf16 conversions of that
# checkpoint (bench/peer_llamacpp.sh; bench/build_llamacpp.sh builds and converts, outside the repository).
#
#   bench/run_lm.sh [THREADS...]          (default: 1 2; needs BUILD/bin/bench_lm and python3 with torch + transformers)
#
# Settings (environment):
#   DIR=/tmp/vlgraph-bench-lm    the checkpoint (≈ 6.4 GB, written by peer_lm.py build when absent, kept)
#   BUILD=build                  build directory
#   PROMPT=128 DECODE=16         prompt tokens; decode steps (one token each on the cache)
#   WARMUP=1 REPS=3              untimed runs, then best of REPS
#   LLAMA_BUILD=/work/peers/llama-build   llama.cpp's build: the peer runs when LLAMA_BUILD/bin/llama-bench exists
#   GGUF_DIR=/tmp/vlgraph-bench-lm-gguf   the conversions of DIR (lm-f32.gguf, lm-bf16.gguf) it runs on
#
# Prints every run, then a table per thread count: tokens/s of both and their ratio (vlgraph ÷ HF), prefill
# as a fraction of the FMA peak and decode as a fraction of the bandwidth limit (both measured by bench_lm
# in the same run), the 1-minute load average when that row started and ended, and whether both generated
# the same tokens. With llama.cpp: its prefill and decode tok/s for f32 and bf16 and the ratios vlgraph ÷
# llama.cpp (llama-bench's average over REPS after its one warm-up run, decode at depth PROMPT; see
# bench/peer_llamacpp.sh), run after vlgraph and HF in the same row (the load column spans all three).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${DIR:-/tmp/vlgraph-bench-lm}
BUILD=${BUILD:-build}
PROMPT=${PROMPT:-128}
DECODE=${DECODE:-16}
WARMUP=${WARMUP:-1}
REPS=${REPS:-3}
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)
LLAMA_BUILD=${LLAMA_BUILD:-/work/peers/llama-build}
GGUF_DIR=${GGUF_DIR:-/tmp/vlgraph-bench-lm-gguf}
llama=0
if [ -x "$LLAMA_BUILD/bin/llama-bench" ] && [ -f "$GGUF_DIR/lm-f32.gguf" ] && [ -f "$GGUF_DIR/lm-bf16.gguf" ]; then
  llama=1
fi
echo "load: $(uptime)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) ($(nproc) cores), memory: $(free -g | awk '/Mem:/ {print $2 " GB, " $7 " GB available"}')"
python3 bench/peer_lm.py build "$DIR"

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rows=()
for t in "${threads[@]}"; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  "$BUILD/bin/bench_lm" "$DIR" "$t" "$PROMPT" "$DECODE" "$WARMUP" "$REPS" | tee "$log"
  ours=$(cat "$log")
  python3 bench/peer_lm.py time "$DIR" "$t" "$PROMPT" "$DECODE" "$WARMUP" "$REPS" | tee "$log"
  peer=$(cat "$log")
  lcols=""
  if [ "$llama" = 1 ]; then
    LLAMA_BUILD="$LLAMA_BUILD" GGUF_DIR="$GGUF_DIR" PROMPT="$PROMPT" DECODE="$DECODE" REPS="$REPS" \
      bench/peer_llamacpp.sh "$t" | tee "$log"
    lf=$(grep '^RESULT peer=llama.cpp-f32 ' "$log"); lb=$(grep '^RESULT peer=llama.cpp-bf16 ' "$log")
    lcols=$(awk -v op="$(field "$(grep '^RESULT' <<<"$ours")" prefill_tok_s)" -v od="$(field "$(grep '^RESULT' <<<"$ours")" decode_tok_s)" \
      -v fp="$(field "$lf" prefill_tok_s)" -v bp="$(field "$lb" prefill_tok_s)" \
      -v fd="$(field "$lf" decode_tok_s)" -v bd="$(field "$lb" decode_tok_s)" \
      'BEGIN { printf " %.2f | %.2f | %.2f | %.2f | %.3f | %.3f | %.2f | %.2f |", fp, bp, op / fp, op / bp, fd, bd, od / fd, od / bd }')
  fi
  load="$load → $(cut -d' ' -f1 /proc/loadavg)"
  o=$(grep '^RESULT' <<<"$ours"); p=$(grep '^RESULT' <<<"$peer")
  same=no
  [ "$(grep '^TOKENS' <<<"$ours")" = "$(grep '^TOKENS' <<<"$peer")" ] && same=yes
  rows+=("$(awk -v t="$t" -v load="$load" -v same="$same" \
    -v op="$(field "$o" prefill_tok_s)" -v hp="$(field "$p" prefill_tok_s)" \
    -v od="$(field "$o" decode_tok_s)" -v hd="$(field "$p" decode_tok_s)" \
    -v gflop="$(field "$o" prefill_gflop)" -v peak="$(field "$o" fma_peak)" -v ops="$(field "$o" prefill_s)" -v hps="$(field "$p" prefill_s)" \
    -v limit="$(field "$o" limit_tok_s)" -v bw="$(field "$o" read_gbs)" \
    'BEGIN { printf "| %s | %.2f | %.2f | %.2f | %.0f %% | %.0f %% | %.3f | %.3f | %.2f | %.0f %% | %.0f %% | %.1f | %.1f | %s | %s |",
             t, op, hp, op / hp, 100 * gflop / ops / peak, 100 * gflop / hps / peak, od, hd, od / hd, 100 * od / limit, 100 * hd / limit,
             peak, bw, load, same }')$lcols")
done
echo "load: $(uptime)"
echo
echo "prefill: $PROMPT tokens, decode: $DECODE steps; best of $REPS after $WARMUP warm-up (tok/s; ratio = vlgraph ÷ HF)"
if [ "$llama" = 1 ]; then
  echo "(llama.cpp: $LLAMA_BUILD, $GGUF_DIR/lm-{f32,bf16}.gguf; ratios = vlgraph ÷ llama.cpp)"
  echo "| threads | prefill vlgraph | prefill HF | ratio | vlgraph % of FMA peak | HF % of FMA peak | decode vlgraph | decode HF | ratio | vlgraph % of bandwidth limit | HF % of bandwidth limit | FMA peak GFLOP/s | read GB/s | load (1 min, start → end) | same tokens | prefill llama.cpp f32 | prefill llama.cpp bf16 | prefill vlgraph ÷ llama.cpp f32 | prefill vlgraph ÷ llama.cpp bf16 | decode llama.cpp f32 | decode llama.cpp bf16 | decode vlgraph ÷ llama.cpp f32 | decode vlgraph ÷ llama.cpp bf16 |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
else
  echo "| threads | prefill vlgraph | prefill HF | ratio | vlgraph % of FMA peak | HF % of FMA peak | decode vlgraph | decode HF | ratio | vlgraph % of bandwidth limit | HF % of bandwidth limit | FMA peak GFLOP/s | read GB/s | load (1 min, start → end) | same tokens |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
fi
printf '%s\n' "${rows[@]}"
[ "$llama" = 1 ] || echo "(no llama.cpp build: peer skipped)"
