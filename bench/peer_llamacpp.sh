#!/usr/bin/env bash
# llama.cpp as a peer of the language-model benchmark (bench/run_lm.sh): llama-bench on GGUF conversions (f32
# and bf16) of the SAME checkpoint bench_lm and bench/peer_lm.py load (Qwen3.6-27B layer widths, 4 layers,
# vocab 8192, random weights), same prompt length, decode steps and thread count.
#
#   bench/peer_llamacpp.sh [THREADS...]      (default: 1 2; needs LLAMA_BUILD/bin/llama-bench and the GGUFs)
#   bench/peer_llamacpp.sh vision [THREADS...]   the vision-tower peer (bench/run_vision.sh): llama-mtmd-cli's image encode
#   bench/peer_llamacpp.sh build             download, build and convert all that from scratch: bench/build_llamacpp.sh
#
# Settings (environment):
#   LLAMA_BUILD=/work/peers/llama-build             llama.cpp's CMake build directory (outside the repository)
#   GGUF_DIR=/tmp/vlgraph-bench-lm-gguf             where the conversions are: lm-f32.gguf, lm-bf16.gguf
#   DTYPES="f32 bf16"                               which of them
#   PROMPT=128 DECODE=16                            prompt tokens; decode steps
#   REPS=3                                          llama-bench repetitions (after its one warm-up run)
#   LOAD_MODE=auto                                  llama-bench -lm: auto (= mmap, as llama.cpp runs by default;
#                                                   bench_lm maps its checkpoint too) or none (read into memory)
#   vision: SIZES="448 1024" WARMUP=1 REPS=3         square image sides; untimed encodes, then best of REPS
#
# What is measured, per (dtype, threads): prefill = llama-bench's pp test, PROMPT tokens in one batch on an
# empty context; decode = its tg test, DECODE tokens one at a time after a PROMPT-token context (-d PROMPT,
# as bench_lm decodes on the prompt's cache; the context fill is not timed). llama-bench feeds random token
# ids (the vocabulary is never used) and does not sample: decode is DECODE single-token forwards. Otherwise
# llama-bench's defaults (f16 KV cache, flash attention auto, weights repacked where it has a CPU layout for
# them, threads polling between ops), printed in the RESULT line. Prints llama-bench's figures, then one
#   RESULT peer=llama.cpp-<dtype> threads=T prefill_tok_s=X decode_tok_s=Y prefill_best_tok_s=.. decode_best_tok_s=..
# line each: X and Y are llama-bench's averages over REPS (avg_ts), the _best ones the fastest repetition
# (bench_lm and peer_lm.py report the best of REPS), and the 1-minute load average before → after.
#
# vision: llama-mtmd-cli with GGUF_DIR/mmproj-f32.gguf (the f32 conversion of bench_vision's checkpoint, the
# Qwen3.6-27B vision tower bench/run_vision.sh times) and GGUF_DIR/vision-textlm-f32.gguf (a tiny random text
# model of hidden size 5120 that mtmd needs to attach the tower to), one process per (threads, size) given the
# same SIZE x SIZE image WARMUP + REPS times (--no-warmup: mtmd's own warm-up encodes a 1472 x 1472 image).
# It encodes each image separately and logs "mtmd batch encoding done in N ms" — mtmd_batch_encode of one
# image: the tower's graph on the preprocessed patches, as bench_vision times vision_forward (preprocessing and the text
# model's work on the image tokens are outside it). Prints every encode and
#   RESULT impl=llama.cpp-mtmd-f32 threads=T image=SxS best_s=.. avg_s=.. load=..   (over the REPS timed encodes;
#   load: the 1-minute load average before → after)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = build ]; then
  exec bench/build_llamacpp.sh
fi
vision=0
if [ "${1:-}" = vision ]; then
  vision=1
  shift
fi
LLAMA_BUILD=${LLAMA_BUILD:-/work/peers/llama-build}
GGUF_DIR=${GGUF_DIR:-/tmp/vlgraph-bench-lm-gguf}
DTYPES=${DTYPES:-"f32 bf16"}
PROMPT=${PROMPT:-128}
DECODE=${DECODE:-16}
REPS=${REPS:-3}
LOAD_MODE=${LOAD_MODE:-auto}
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)

if [ "$vision" = 1 ]; then
  SIZES=${SIZES:-"448 1024"}
  WARMUP=${WARMUP:-1}
  cli=$LLAMA_BUILD/bin/llama-mtmd-cli
  for f in "$cli" "$GGUF_DIR/mmproj-f32.gguf" "$GGUF_DIR/vision-textlm-f32.gguf"; do
    [ -e "$f" ] || { echo "no $f: run bench/build_llamacpp.sh" >&2; exit 1; }
  done
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
  for t in "${threads[@]}"; do
    for side in $SIZES; do
      img=$GGUF_DIR/image-$side.ppm
      [ -f "$img" ] || python3 bench/peer_llamacpp_convert.py image "$side" "$img"
      images=$img
      for _ in $(seq 2 $((WARMUP + REPS))); do images+=",$img"; done
      load=$(cut -d' ' -f1 /proc/loadavg)
      "$cli" -m "$GGUF_DIR/vision-textlm-f32.gguf" --mmproj "$GGUF_DIR/mmproj-f32.gguf" --image "$images" -p "describe" \
        -n 1 -c $(((WARMUP + REPS) * ((side / 32) * (side / 32) + 8) + 256)) -t "$t" --no-warmup --temp 0 >"$out" 2>&1 || { cat "$out"; exit 1; }
      # one image per encode: mtmd-cli batches adjacent images, the text tokens around each one split them
      if grep 'encoding mtmd batch' "$out" | grep -qv 'n_chunks = 1 '; then cat "$out"; exit 1; fi
      ms=$(sed -n 's/.*mtmd batch encoding done in \([0-9]*\) ms.*/\1/p' "$out")
      [ "$(wc -l <<<"$ms")" = $((WARMUP + REPS)) ] || { cat "$out"; exit 1; }
      load="$load→$(cut -d' ' -f1 /proc/loadavg)"
      awk -v t="$t" -v side="$side" -v warmup="$WARMUP" -v ms="$ms" -v load="$load" 'BEGIN {
        n = split(ms, v, "\n"); best = 0; sum = 0; k = 0
        for (i = 1; i <= n; i++) {
          printf "  llama.cpp %sx%s threads %s encode %d: %.3f s%s\n", side, side, t, i - warmup, v[i] / 1000, i <= warmup ? " (warm-up)" : ""
          if (i > warmup) { s = v[i] / 1000; sum += s; k++; if (best == 0 || s < best) best = s }
        }
        printf "RESULT impl=llama.cpp-mtmd-f32 threads=%s image=%sx%s best_s=%.4f avg_s=%.4f reps=%d load=%s\n", t, side, side, best, sum / k, k, load }'
    done
  done
  exit 0
fi

bench=$LLAMA_BUILD/bin/llama-bench
[ -x "$bench" ] || { echo "no $bench: run bench/build_llamacpp.sh" >&2; exit 1; }
for d in $DTYPES; do
  [ -f "$GGUF_DIR/lm-$d.gguf" ] || { echo "no $GGUF_DIR/lm-$d.gguf: run bench/build_llamacpp.sh" >&2; exit 1; }
done

# llama-bench -o jsonl: one line per test; avg_ts is its average over REPS, samples_ts each repetition
result() {
  python3 - "$@" <<'PY'
import json, sys
d, t, prompt, decode, pp, tg, load = sys.argv[1:]
pp, tg = json.loads(pp), json.loads(tg)
assert pp["n_prompt"] == int(prompt) and tg["n_gen"] == int(decode) and tg["n_depth"] == int(prompt)
print(f"llama-bench {d} threads={t} pp{prompt}: {pp['avg_ts']:.3f} ± {pp['stddev_ts']:.3f} tok/s (best {max(pp['samples_ts']):.3f}); "
      f"tg{decode} @ depth {prompt}: {tg['avg_ts']:.3f} ± {tg['stddev_ts']:.3f} tok/s (best {max(tg['samples_ts']):.3f})")
print(f"RESULT peer=llama.cpp-{d} threads={t} prompt={prompt} decode={decode} prefill_tok_s={pp['avg_ts']:.3f} "
      f"decode_tok_s={tg['avg_ts']:.3f} prefill_best_tok_s={max(pp['samples_ts']):.3f} decode_best_tok_s={max(tg['samples_ts']):.3f} "
      f"build={pp['build_commit']} type_k={pp['type_k']} flash_attn={pp['flash_attn']} repack={int(pp['repack'])} "
      f"poll={pp['poll']} load={load}")
PY
}
for t in "${threads[@]}"; do
  for d in $DTYPES; do
    m=$GGUF_DIR/lm-$d.gguf
    load=$(cut -d' ' -f1 /proc/loadavg)
    pp=$("$bench" -m "$m" -t "$t" -r "$REPS" -lm "$LOAD_MODE" -p "$PROMPT" -n 0 -o jsonl | grep '^{')
    tg=$("$bench" -m "$m" -t "$t" -r "$REPS" -lm "$LOAD_MODE" -p 0 -n "$DECODE" -d "$PROMPT" -o jsonl | grep '^{')
    result "$d" "$t" "$PROMPT" "$DECODE" "$pp" "$tg" "$load→$(cut -d' ' -f1 /proc/loadavg)"
  done
done
