// examples/vlgraph/main.cpp — the `vlgraph` command-line program.
//
//   vlgraph --help
//   vlgraph inspect --model DIR [--scan-nonfinite]
#include "args.hpp"
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
        throw vlcli::usage_error("unknown command '" + command + "'");
    } catch (const vlcli::usage_error& e) {
        std::fprintf(stderr, "vlgraph %s: %s\n(vlgraph --help for usage)\n", command.c_str(), e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vlgraph %s: error: %s\n", command.c_str(), e.what());
        return 1;
    }
}
