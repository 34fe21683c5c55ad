// examples/vlgraph/logits.hpp — `vlgraph logits`: the prefill logits of a prompt, for comparing with HF.
//
//   vlgraph logits --model DIR (--prompt TEXT [--image PATH_OR_DATA_URI ...] [--system TEXT] [--no-think]
//                               | --input-ids IDS.safetensors)
//                  --out OUT.safetensors [--backend cpu|cuda] [--threads N] [--tensor-parallel N]
//
// --prompt builds the same chat prompt as `vlgraph generate` (prompt.hpp). --input-ids takes the token ids
// as they are (read_input_ids): a safetensors file with an integer tensor "input_ids", [L] or [1, L] (a text prompt: image
// tokens in it are refused, there are no images to fill them). Writes input_ids (i64 [L]), position_ids
// (i64 [3, L], the MRoPE T/H/W rows) and logits (f32 [L, V]) — HF's
//   model(input_ids, pixel_values=..., image_grid_thw=...).logits[0]
#pragma once

#include "args.hpp"
#include "prompt.hpp"
#include "tensor_parallel.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/language.hpp>
#include <vlgraph/models/qwen36/rope_index.hpp>
#include <vlgraph/models/qwen36/tokenizer.hpp>

#if VLGRAPH_CLI_CUDA
#include "on_cuda.hpp"
#endif

#include <cstdio>
#include <string>

namespace vlcli {

inline int logits(const args& a) {
    namespace q = vl::qwen36;
    using clock = std::chrono::steady_clock;
    const std::filesystem::path dir = a.required("model");
    const std::string out_path = a.required("out");
    const std::string backend = a.backend(VLGRAPH_CLI_CUDA);
    const int threads = a.threads();
    check_prompt_or_input_ids(a);

    auto t0 = clock::now();
    const q::model_config cfg = q::load_config(dir);
    chat_prompt p;
    if (a.has("prompt")) p = build_chat_prompt(a, dir, cfg, q::load_tokenizer(dir), backend, threads);
    else p.input_ids = read_input_ids(a.one("input-ids"));
    const vl::tensor& ids = p.input_ids;
    const q::rope_index rope = q::get_rope_index({ids.data<std::int64_t>(), static_cast<std::size_t>(ids.numel())}, p.grids, {}, cfg);
    const int ranks = tensor_parallel_size(a, backend, cfg);
    vl::tensor logits;
    std::string where;
    double t_setup = 0;
    if (ranks > 1) {
        t_setup = seconds_since(t0) - p.vision_s;
        t0 = clock::now();  // the prefill time includes loading the shards
#if VLGRAPH_CLI_CUDA
        if (backend == "cuda") {
            logits = prompt_logits_on_cuda_ranks(vl::checkpoint::open(dir), cfg, ranks, ids, p.image_embeds, rope.position_ids);
            where = "cuda, bf16, tensor parallel " + std::to_string(ranks) + " over NCCL, shards loaded in the prefill time";
        }
#endif
        if (backend == "cpu") {
            logits = on_cpu_ranks(vl::checkpoint::open(dir), cfg, ranks, threads, [&](const q::language_weights& w, vl::cpu::executor& cpu, int) {
                return q::prompt_logits(w, ids, p.image_embeds, rope.position_ids, cpu);
            });
            where = "cpu, f32, tensor parallel " + std::to_string(ranks) + ", shards loaded in the prefill time";
        }
    } else {
        // The CPU oracle reads bf16 matrices where they lie (bit-identical, half the memory).
        const q::language_weights w = backend == "cuda" ? q::language_weights::load(vl::checkpoint::open(dir), cfg, vl::dtype::bf16)
                                                        : q::language_weights::load(vl::checkpoint::open(dir), cfg, vl::dtype::f32, q::matrix_storage::as_stored);
        t_setup = seconds_since(t0) - p.vision_s;
        t0 = clock::now();
#if VLGRAPH_CLI_CUDA
        if (backend == "cuda") {
            logits = prompt_logits_on_cuda(w, ids, p.image_embeds, rope.position_ids);
            where = "cuda, bf16";
        }
#endif
        if (backend == "cpu") {
            vl::cpu::executor cpu{threads};
            logits = q::prompt_logits(w, ids, p.image_embeds, rope.position_ids, cpu);
            where = "cpu, f32, " + std::to_string(cpu.threads()) + " threads";
        }
    }
    const double t_prefill = seconds_since(t0);

    vl::save_safetensors(out_path, {{"input_ids", ids}, {"position_ids", rope.position_ids}, {"logits", logits}});
    std::printf("logits %s (%ld prompt tokens, %zu images) -> %s\n", vl::to_string(logits.shape()).c_str(), long(ids.numel()), p.grids.size(),
                out_path.c_str());
    std::fprintf(stderr, "timings: load + tokenize %.3f s, vision %.3f s, prefill %.3f s (%s)\n", t_setup, p.vision_s, t_prefill, where.c_str());
    return 0;
}

}  // namespace vlcli
