#!/usr/bin/env bash
# CTest gpu_check_without_gpu: `scripts/gpu-check.sh run` on a machine without a GPU must say
# "no GPU present", write SUMMARY.txt saying so, and exit non-zero — with an empty bundle, and with a
# fake nvidia-smi that finds no device. Skipped (77) where nvidia-smi lists a GPU.
#   tests/gpu_check_without_gpu.sh SCRIPT
set -uo pipefail
script=${1:?usage: gpu_check_without_gpu.sh path/to/gpu-check.sh}
if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  echo "a GPU is present: nothing to check here"
  exit 77
fi
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
status=0
check() {  # check LABEL NVIDIA_SMI
  local label=$1 out="$w/out-$1" rc
  mkdir -p "$w/bundle-$label/bin"
  GPU_CHECK_NVIDIA_SMI=$2 bash "$script" run "$w/bundle-$label" "$out" >"$w/$label.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then echo "FAIL ($label): exit status 0 without a GPU"; status=1; fi
  if ! grep -q "no GPU present" "$w/$label.log"; then echo "FAIL ($label): no 'no GPU present' message"; status=1; fi
  if ! grep -q "overall: FAIL: no GPU present" "$out/SUMMARY.txt" 2>/dev/null; then echo "FAIL ($label): SUMMARY.txt lacks the verdict"; status=1; fi
  echo "--- $label: exit $rc"
  cat "$w/$label.log"
}
# 1. an empty bundle, as if no nvidia-smi were installed
check empty none
# 2. an nvidia-smi that finds no device (as on a machine with the driver but no GPU)
printf '#!/bin/sh\necho "No devices were found"\nexit 6\n' >"$w/nvidia-smi"
chmod +x "$w/nvidia-smi"
check nodevice "$w/nvidia-smi"
exit $status
