#!/usr/bin/env bash
# The memory-bounded benchmark: the CPU oracle on a bf16 checkpoint at the real Qwen3.6-27B widths
# (bench/data/qwen3.6-27b-config.json: hidden 5120, MLP 17408, vocab 248320, 48/16 GDN/attention heads)
# with LAYERS of its 64 layers, written with random weights by `bench_lm write`. With 16 layers it holds
# 17.3 GB of bf16 weights, 34.5 GB as f32: a loader that converted to f32 could not run it on a 24 GB
# machine. vlgraph reads the bf16 matrices where they lie in the mmap'd files (the OS pages them in and,
# under pressure, out), computes in f32, and reports its peak resident set (mapped pages included).
#
#   bench/run_lm_bounded.sh [THREADS...]          (default: 1 2; needs BUILD/bin/bench_lm)
#
# Settings (environment):
#   DIR=/tmp/vlgraph-27b-16L   the checkpoint (written when absent, kept; 17.3 GB for 16 layers)
#   LAYERS=16                  layers of the 27B config to keep (the 3 GDN + 1 attention pattern)
#   BUILD=build  PROMPT=128  DECODE=16  WARMUP=1  REPS=1
#
# Prints bench_lm's RESULT per thread count, then a table: tok/s, peak RSS against the f32 size, and the
# projection to the 64-layer model (prefill by FLOPs, decode by bytes read per token, at the rates measured).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${DIR:-/tmp/vlgraph-27b-16L}
LAYERS=${LAYERS:-16}
BUILD=${BUILD:-build}
PROMPT=${PROMPT:-128}
DECODE=${DECODE:-16}
WARMUP=${WARMUP:-1}
REPS=${REPS:-1}
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)
[ -f "$DIR/config.json" ] || "$BUILD/bin/bench_lm" write "$DIR" "$LAYERS"
echo "load: $(uptime)"
echo "memory: $(free -g | awk '/Mem:/ {print $2 " GB total, " $7 " GB available"}'); checkpoint: $(du -sh "$DIR" | cut -f1)"
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
rows=()
for t in "${threads[@]}"; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  out=$("$BUILD/bin/bench_lm" "$DIR" "$t" "$PROMPT" "$DECODE" "$WARMUP" "$REPS" | tee /dev/stderr)
  r=$(grep '^RESULT' <<<"$out")
  # 64 layers: per-layer FLOPs and bytes scale by 64 / LAYERS; the lm_head and embedding row do not.
  rows+=("$(awk -v t="$t" -v L="$LAYERS" -v load="$load → $(cut -d' ' -f1 /proc/loadavg)" \
    -v pt="$(field "$r" prefill_tok_s)" -v dt="$(field "$r" decode_tok_s)" -v gflop="$(field "$r" prefill_gflop)" \
    -v gbt="$(field "$r" decode_gb_per_tok)" -v w="$(field "$r" weights_gb)" -v w32="$(field "$r" weights_f32_gb)" \
    -v rss="$(field "$r" peak_rss_gb)" -v frac="$(field "$r" prefill_frac)" -v dfrac="$(field "$r" decode_frac)" \
    'BEGIN { head_gflop = 2 * 248320 * 5120 * 1e-9; head_gb = 2 * 248320 * 5120 * 1e-9;
             p64 = pt * gflop / ((gflop - head_gflop) * 64 / L + head_gflop);
             d64 = dt * gbt / ((gbt - head_gb) * 64 / L + head_gb);
             printf "| %s | %.2f (%.0f %% of FMA peak) | %.3f (%.0f %% of bandwidth) | %.2f | %.2f | %.2f (%.0f %% of f32) | %.2f | %.3f | %s |",
                    t, pt, 100 * frac, dt, 100 * dfrac, w, w32, rss, 100 * rss / w32, p64, d64, load }')")
done
echo
echo "LAYERS=$LAYERS of 64 at the 27B widths, bf16 weights read as stored; prefill $PROMPT tokens, decode $DECODE steps, best of $REPS after $WARMUP warm-up"
echo "| threads | prefill tok/s | decode tok/s | weights GB (bf16) | as f32 GB | peak RSS GB | 64 layers: prefill tok/s | 64 layers: decode tok/s | load (1 min) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
