#!/usr/bin/env bash
# The main job on the bundled tiny checkpoint: installs what is missing, builds the
# vlgraph program, validates the checkpoint, encodes the bundled sample image and
# generates text about it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh vlgraph_cli
model=tests/data/tiny-qwen36
build/bin/vlgraph inspect --model "$model"
build/bin/vlgraph encode --model "$model" --image tests/data/images/img_c_125x94.png --out build/image_embeds.safetensors
build/bin/vlgraph generate --model "$model" --image tests/data/images/img_c_125x94.png --prompt "Describe this image." --max-new-tokens 32
