// examples/vlgraph/main.cpp — the `vlgraph` command-line program.
//
//   vlgraph --help
//   vlgraph inspect --model DIR [--scan-nonfinite]
//   vlgraph encode --model DIR (--image PATH_OR_DATA_URI ... | --pixel-values IN) --out OUT [--threads N]
#include "args.hpp"
#include "encode.hpp"
#include "inspect.hpp"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

namespace {

const char* const usage = R"(vlgraph — Qwen3.6 (HF model_type qwen3_5) with the vlgraph framework

usage:
  vlgraph inspect --model DIR [--scan-nonfinite]
      Validate a checkpoint directory (config.json, preprocessor_config.json,
      model.safetensors or a sharded model.safetensors.index.json): print the
      config summary, tensor count, bytes per dtype and every problem found.
      --scan-nonfinite also counts NaN/Inf weights. Exit status 1 on problems.
  vlgraph encode --model DIR (--image PATH_OR_DATA_URI [--image ...] | --pixel-values IN.safetensors)
                 --out OUT.safetensors [--backend cpu|cuda] [--threads N]
      Run the vision tower: decode and preprocess the images exactly as HF does
      (PNG, JPEG, GIF, BMP, WebP files or data:image/...;base64 URIs; URLs are
      refused), then write pixel_values, image_grid_thw and image_embeds.
      --pixel-values skips preprocessing (tensors pixel_values, image_grid_thw).
      --backend cuda: bf16 weights on the GPU (programs built with nvcc only).
  vlgraph --help

Errors are reported as one line naming the file, tensor or field at fault.
)";

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        std::fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string command = argv[1];
    try {
        if (command == "inspect") return vlcli::inspect(vlcli::args(argc, argv, 2, {"model"}, {"scan-nonfinite"}));
        if (command == "encode") return vlcli::encode(vlcli::args(argc, argv, 2, {"model", "image", "pixel-values", "out", "backend", "threads"}, {}));
        throw vlcli::usage_error("unknown command '" + command + "'");
    } catch (const vlcli::usage_error& e) {
        std::fprintf(stderr, "vlgraph %s: %s\n(vlgraph --help for usage)\n", command.c_str(), e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vlgraph %s: error: %s\n", command.c_str(), e.what());
        return 1;
    }
}
