#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (the CUDA backend
# too when nvcc is present; its tests skip without a GPU) and runs every test; then
# the sanitizer build (clang, ASan + UBSan) of the CPU suites, the CLI, the
# hostile-input table and the fuzz targets' corpora runs them again (scripts/sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
scripts/sanitize.sh
