#!/usr/bin/env bash
# The main job on the bundled tiny checkpoint: installs what is missing, builds the
# vlgraph program and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh vlgraph_cli
build/bin/vlgraph inspect --model tests/data/tiny-qwen36
