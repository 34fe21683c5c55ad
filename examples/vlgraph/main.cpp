// examples/vlgraph/main.cpp — the `vlgraph` command-line program.
//
//   vlgraph --help
//   vlgraph inspect --model DIR [--scan-nonfinite]
//   vlgraph encode --model DIR (--image PATH_OR_DATA_URI ... | --pixel-values IN) --out OUT [--threads N]
//   vlgraph generate --model DIR [--image PATH_OR_DATA_URI ...] --prompt TEXT [options]
//   vlgraph logits --model DIR (--prompt TEXT [--image ...] | --input-ids IDS) --out OUT [options]
//   vlgraph diff --model DIR (--prompt TEXT [--image ...] | --input-ids IDS) [--backend cpu|cuda] [--perturb TENSOR[=SCALE]]
//   vlgraph tokenize --model DIR --text TEXT
//   vlgraph serve --model DIR [--backend cpu|cuda] [--host H] [--port P] [options]
#include "args.hpp"
#include "diff.hpp"
#include "encode.hpp"
#include "generate.hpp"
#include "inspect.hpp"
#include "logits.hpp"
#include "serve.hpp"
#include "tokenize.hpp"

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
      --hf-image-path string|pil (every command taking images): HF decodes an
      image two ways that disagree; string (default) is what HF does with a
      path or base64 string (load_image: EXIF orientation applied, alpha
      dropped), pil what it does with a PIL image given to the processor
      (alpha composited on white, EXIF ignored).
      --backend cuda: bf16 weights on the GPU (programs built with nvcc only).
  vlgraph generate --model DIR [--image PATH_OR_DATA_URI ...] --prompt TEXT [--system TEXT]
                   [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P]
                   [--repetition-penalty R] [--seed S] [--greedy] [--no-think]
                   [--backend cpu|cuda] [--threads N] [--tensor-parallel N]
      Chat with the model: one user turn (the images, then the prompt), rendered
      with the checkpoint's chat template. Sampling defaults come from
      generation_config.json (temperature, top_k, top_p, repetition_penalty,
      do_sample);
      --temperature 0 or --greedy is greedy; --seed (default 0) makes sampling
      reproducible. Stops at an eos id or after --max-new-tokens (default
      generation_config's max_new_tokens, else 512). --no-think closes the
      <think> block. Text streams to stdout; counts and timings go to stderr.
      CPU: f32; --backend cuda: bf16 weights on the GPU. --tensor-parallel N
      splits the language model over N ranks (CPU: threads of this process,
      the --threads shared among them; CUDA: GPU r for rank r, over NCCL);
      the text is the same as with one.
  vlgraph logits --model DIR (--prompt TEXT [--image ...] [--system TEXT] [--no-think]
                              | --input-ids IDS.safetensors)
                 --out OUT.safetensors [--backend cpu|cuda] [--threads N] [--tensor-parallel N]
      The prefill of one prompt: write input_ids (i64 [L]), position_ids
      (i64 [3, L]) and logits (f32 [L, vocab]). --prompt builds the chat prompt
      of generate; --input-ids reads an integer tensor "input_ids" ([L] or [1, L]).
  vlgraph diff --model DIR (--prompt TEXT [--image ...] [--system TEXT] [--no-think]
                            | --input-ids IDS.safetensors)
               [--backend cpu|cuda] [--threads N] [--perturb TENSOR[=SCALE]]
      Run the prefill of one prompt (with its images: the vision tower too) on
      the CPU oracle (f32) and on the backend (cpu: a second f32 run; cuda:
      bf16 weights on the GPU), both traced, and compare them node by node:
      print the first node beyond tolerance (name, layer, shape, max-abs, NMSE,
      max-rel, the bound) and exit 1, or "all N nodes within tolerance".
      cpu must be bit-identical; cuda is held to the per-op tolerances of
      docs/numerics.md plus an allowance growing with depth. --perturb
      multiplies the checkpoint tensor TENSOR by (1 + SCALE) (default 1e-2) in
      the second run only.
  vlgraph tokenize --model DIR --text TEXT
      Print the token ids of TEXT (space-separated; no special tokens added).
  vlgraph serve --model DIR [--backend cpu|cuda] [--threads N] [--host 127.0.0.1]
                [--port 8080] [--max-batch 8] [--max-queue 64] [--max-context N]
                [--api-key KEY] [--max-body-bytes B] [--max-images 8]
                [--max-image-pixels P] [--prefill-chunk 256] [--shutdown-grace-s 10]
                [--tensor-parallel N]
      An OpenAI-compatible server: POST /v1/chat/completions (text and
      data: image URLs, SSE streaming, reasoning_content split from content),
      GET /v1/models, GET /health (503 while loading). Requests are batched
      continuously (--max-batch running, --max-queue waiting, then 429); a
      request's greedy output does not depend on the others. --port 0 takes
      a free port; the port is printed on stderr. SIGTERM: running requests
      may finish for --shutdown-grace-s, then the program exits 0.
      --tensor-parallel N (CPU) splits the language model over N ranks.
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
        if (command == "encode") return vlcli::encode(vlcli::args(argc, argv, 2, {"model", "image", "hf-image-path", "pixel-values", "out", "backend", "threads"}, {}));
        if (command == "generate")
            return vlcli::generate(vlcli::args(argc, argv, 2,
                                               {"model", "image", "hf-image-path", "prompt", "system", "max-new-tokens", "temperature", "top-k", "top-p",
                                                "repetition-penalty", "seed", "backend", "threads", "tensor-parallel"},
                                               {"no-think", "greedy"}));
        if (command == "logits")
            return vlcli::logits(
                vlcli::args(argc, argv, 2, {"model", "image", "hf-image-path", "prompt", "system", "input-ids", "out", "backend", "threads", "tensor-parallel"}, {"no-think"}));
        if (command == "diff")
            return vlcli::diff(vlcli::args(argc, argv, 2, {"model", "image", "hf-image-path", "prompt", "system", "input-ids", "backend", "threads", "perturb"}, {"no-think"}));
        if (command == "serve")
            return vlcli::serve(vlcli::args(argc, argv, 2,
                                            {"model", "backend", "threads", "host", "port", "max-batch", "max-queue", "max-context", "api-key",
                                             "max-body-bytes", "max-images", "max-image-pixels", "hf-image-path", "prefill-chunk", "prefix-cache-mb", "shutdown-grace-s", "tensor-parallel"},
                                            {}));
        if (command == "tokenize") return vlcli::tokenize(vlcli::args(argc, argv, 2, {"model", "text"}, {}));
        throw vlcli::usage_error("unknown command '" + command + "'");
    } catch (const vlcli::usage_error& e) {
        std::fprintf(stderr, "vlgraph %s: %s\n(vlgraph --help for usage)\n", command.c_str(), e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vlgraph %s: error: %s\n", command.c_str(), e.what());
        return 1;
    }
}
