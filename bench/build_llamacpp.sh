#!/usr/bin/env bash
# Everything the llama.cpp peer (bench/peer_llamacpp.sh, bench/run_lm.sh's third column set, and
# bench/run_vision.sh's llama.cpp rows) needs, from scratch, all of it OUTSIDE the repository: llama.cpp's
# source from the PyPI sdist of llama-cpp-python (which vendors it under vendor/llama.cpp), a CPU-only native
# build of llama-bench and llama-mtmd-cli, and GGUF conversions of the benchmark checkpoints.
#
#   bench/build_llamacpp.sh          (needs pip, cmake, a C++ compiler, python3 with torch + transformers)
#
# Settings (environment):
#   PEERS=/work/peers                   where the sdist is downloaded (PEERS/dl) and extracted
#   LLAMACPP_PY=0.3.36                  llama-cpp-python version (0.3.36 vendors ggml-org/llama.cpp@0c1e57098)
#   LLAMA_BUILD=$PEERS/llama-build      the CMake build directory
#   JOBS=1                              parallel compile jobs
#   DIR=/tmp/vlgraph-bench-lm           the LM benchmark checkpoint (written by bench/peer_lm.py build if absent)
#   GGUF_DIR=/tmp/vlgraph-bench-lm-gguf its conversions: lm-f32.gguf, lm-bf16.gguf (+ input/: links + tokenizer)
#   VISION_DIR=/tmp/vlgraph-bench-vision  the vision benchmark checkpoint (BUILD/bin/bench_vision write, if absent)
#   BUILD=build                         vlgraph's build directory (for bench_vision); VISION=0 skips the vision part
#
# Steps: pip download --no-binary :all: --no-deps llama-cpp-python==LLAMACPP_PY; extract; cmake -DGGML_NATIVE=ON
# -DGGML_CUDA=OFF -DLLAMA_CURL=OFF ... ; build the two tools; bench/peer_llamacpp_convert.py prepare (a
# converted-input directory of links to the checkpoint plus a constructed tokenizer.json, which the random
# checkpoints lack) and convert (the vendored convert_hf_to_gguf.py --no-mtp --outtype f32 / bf16; for the vision
# tower --mmproj f32, plus textlm: the tiny text model of hidden size 5120 that llama-mtmd-cli needs beside it).
# Steps whose output exists are skipped (delete a GGUF to redo it, e.g. after bench_vision's weights change).
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-/work/peers}
LLAMACPP_PY=${LLAMACPP_PY:-0.3.36}
LLAMA_BUILD=${LLAMA_BUILD:-$PEERS/llama-build}
JOBS=${JOBS:-1}
DIR=${DIR:-/tmp/vlgraph-bench-lm}
GGUF_DIR=${GGUF_DIR:-/tmp/vlgraph-bench-lm-gguf}
VISION_DIR=${VISION_DIR:-/tmp/vlgraph-bench-vision}
BUILD=${BUILD:-build}
repo=$(pwd)
case "$(realpath -m "$PEERS")/" in "$repo"/*) echo "PEERS=$PEERS is inside the repository" >&2; exit 1 ;; esac

src=$PEERS/llama_cpp_python-$LLAMACPP_PY/vendor/llama.cpp
if [ ! -f "$src/CMakeLists.txt" ]; then
  mkdir -p "$PEERS/dl"
  sdist=$PEERS/dl/llama_cpp_python-$LLAMACPP_PY.tar.gz
  [ -f "$sdist" ] || pip download --no-binary :all: --no-deps "llama-cpp-python==$LLAMACPP_PY" -d "$PEERS/dl"
  tar -xzf "$sdist" -C "$PEERS"
fi
commit=$(sed -n "/^## \[$LLAMACPP_PY\]/,/^## /s/.*llama.cpp@\([0-9a-f]*\).*/\1/p" "$src/../../CHANGELOG.md" | head -1)
echo "llama.cpp: $src (llama-cpp-python $LLAMACPP_PY, ggml-org/llama.cpp@${commit:-unknown})"

if [ ! -x "$LLAMA_BUILD/bin/llama-bench" ] || [ ! -x "$LLAMA_BUILD/bin/llama-mtmd-cli" ]; then
  cmake -S "$src" -B "$LLAMA_BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_COMMIT="${commit:-unknown}"
  cmake --build "$LLAMA_BUILD" -j"$JOBS" --target llama-bench llama-mtmd-cli
fi

conv() { python3 bench/peer_llamacpp_convert.py convert "$src" "$@"; }
python3 bench/peer_lm.py build "$DIR"
mkdir -p "$GGUF_DIR"
python3 bench/peer_llamacpp_convert.py prepare "$DIR" "$GGUF_DIR/input"
for d in f32 bf16; do
  [ -f "$GGUF_DIR/lm-$d.gguf" ] || conv "$GGUF_DIR/input" --no-mtp --outtype "$d" --outfile "$GGUF_DIR/lm-$d.gguf"
done

if [ "${VISION:-1}" = 1 ]; then
  [ -f "$VISION_DIR/model.safetensors" ] || "$BUILD/bin/bench_vision" write "$VISION_DIR"
  python3 bench/peer_llamacpp_convert.py prepare "$VISION_DIR" "$GGUF_DIR/vision-input"
  [ -f "$GGUF_DIR/mmproj-f32.gguf" ] || conv "$GGUF_DIR/vision-input" --mmproj --outtype f32 --outfile "$GGUF_DIR/mmproj-f32.gguf"
  python3 bench/peer_llamacpp_convert.py textlm "$VISION_DIR" "$GGUF_DIR/vision-textlm"
  [ -f "$GGUF_DIR/vision-textlm-f32.gguf" ] ||
    conv "$GGUF_DIR/vision-textlm" --no-mtp --outtype f32 --outfile "$GGUF_DIR/vision-textlm-f32.gguf"
fi
ls -l "$LLAMA_BUILD/bin/llama-bench" "$LLAMA_BUILD/bin/llama-mtmd-cli" "$GGUF_DIR"/*.gguf
