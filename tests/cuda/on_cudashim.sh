#!/usr/bin/env bash
# Runs a CUDA program on the counting stand-in for the CUDA runtime, cuBLASLt and NCCL
# (../shared/tools/cudashim, see its README): no GPU needed, kernels do not execute.
#   on_cudashim.sh SHIM_SOURCE_DIR SHIM_BUILD_DIR PROGRAM [ARGS...]
# Builds the stand-in into SHIM_BUILD_DIR once; exits 77 (CTest: skipped) when SHIM_SOURCE_DIR is absent.
set -euo pipefail
src=$1 out=$2
shift 2
if [ ! -f "$src/build.sh" ]; then
  echo "no cudashim at $src: skipping (it comes with the project's shared/ folder)"
  exit 77
fi
# Always under the lock, and done only when every library is there: a test started while another is still
# building must wait (checking one library outside the lock let it run against a half-built set: CTest -j2
# in a fresh build tree failed the TP test's ncclCommInitAll).
mkdir -p "$out.lock"
( flock 9; [ -e "$out/libcudart.so.13" ] && [ -e "$out/libcublasLt.so.13" ] && [ -e "$out/libnccl.so.2" ] ||
  bash "$src/build.sh" "$out" >/dev/null ) 9>"$out.lock/lock"
LD_LIBRARY_PATH="$out${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$@"
