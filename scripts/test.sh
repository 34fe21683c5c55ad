#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (the CUDA backend
# too when nvcc is present; its tests skip without a GPU) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
