// examples/vlgraph/generate.hpp — `vlgraph generate`: chat-prompted text generation.
//
//   vlgraph generate --model DIR [--image PATH_OR_DATA_URI ...] --prompt TEXT [--system TEXT]
//                    [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R] [--seed S]
//                    [--greedy] [--no-think] [--backend cpu|cuda] [--threads N] [--tensor-parallel N]
//
// Builds the chat prompt (prompt.hpp: one user turn, the checkpoint's chat template, image pads expanded,
// the vision tower), then generates: on the CPU in f32, or with --backend cuda in bf16 on the GPU.
// --tensor-parallel N splits the language model over N ranks (CPU threads, or N GPUs over NCCL with
// --backend cuda; tensor_parallel.hpp).
// Sampling defaults come from generation_config.json (do_sample false → greedy; repetition_penalty); --temperature 0 or
// --greedy forces greedy. Stops at any eos id of generation_config.json or after --max-new-tokens (default:
// generation_config's max_new_tokens, else 512). Text streams to stdout; counts and timings go to stderr.
#pragma once

#include "args.hpp"
#include "prompt.hpp"
#include "tensor_parallel.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/models/qwen36/generate.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace vlcli {

inline int generate(const args& a) {
    namespace q = vl::qwen36;
    using clock = std::chrono::steady_clock;
    const std::filesystem::path dir = a.required("model");
    (void)a.required("prompt");  // a usage error before anything is loaded
    const std::string backend = a.backend(VLGRAPH_CLI_CUDA);
    const int threads = a.threads();

    auto t0 = clock::now();
    const q::model_config cfg = q::load_config(dir);
    const q::generation_config gcfg = q::load_generation_config(dir, cfg);
    const q::tokenizer tok = q::load_tokenizer(dir);

    q::generate_options opt;
    opt.sampling = q::sampling_options::from(gcfg);
    if (a.has("temperature")) opt.sampling.temperature = a.real("temperature");
    if (a.has("top-k")) opt.sampling.top_k = a.integer("top-k", 0, 1LL << 40);
    if (a.has("top-p")) opt.sampling.top_p = a.real("top-p");
    if (a.has("repetition-penalty")) opt.sampling.repetition_penalty = a.real("repetition-penalty");
    if (a.has("seed")) opt.sampling.seed = static_cast<std::uint64_t>(a.integer("seed", 0, (1LL << 62)));
    if (a.flag("greedy") || opt.sampling.temperature == 0) opt.sampling.greedy = true;
    try {
        opt.sampling.validate();
    } catch (const vl::config_error& e) {
        throw usage_error(e.what());
    }
    opt.max_new_tokens = a.has("max-new-tokens") ? a.integer("max-new-tokens", 0, 1LL << 40) : gcfg.max_new_tokens.value_or(512);
    opt.eos_token_ids = gcfg.eos_token_ids;
    opt.tokenizer = &tok.bpe;

    const int ranks = tensor_parallel_size(a, backend, cfg);
    const chat_prompt p = build_chat_prompt(a, dir, cfg, tok, backend, threads, opt.max_new_tokens);  // context checked before the vision tower
    const q::token_callback print = [](const q::token_event& e) {
        std::fwrite(e.piece.data(), 1, e.piece.size(), stdout);
        std::fflush(stdout);
    };
    q::generation_result r;
    std::string where;
    double t_setup = 0;
    if (ranks > 1) {
        t_setup = seconds_since(t0) - p.vision_s;
#if VLGRAPH_CLI_CUDA
        if (backend == "cuda") {
            r = generate_on_cuda_ranks(vl::checkpoint::open(dir), cfg, ranks, p.input_ids, p.image_embeds, p.grids, opt, print);
            where = "cuda, bf16, tensor parallel " + std::to_string(ranks) + " over NCCL";
        }
#endif
        if (backend == "cpu") {
            r = on_cpu_ranks(vl::checkpoint::open(dir), cfg, ranks, threads, [&](const q::language_weights& w, vl::cpu::executor& cpu, int rank) {
                return q::generate(w, p.input_ids, p.image_embeds, p.grids, opt, cpu, rank == 0 ? print : q::token_callback{});
            });
            where = "cpu, f32, tensor parallel " + std::to_string(ranks);
        }
    } else {
        // The CUDA path keeps the weights in bf16 (half the host memory of f32 on the way to the device); the
        // CPU oracle reads bf16 matrices where they lie (bit-identical, half the memory).
        const q::language_weights w = backend == "cuda" ? q::language_weights::load(vl::checkpoint::open(dir), cfg, vl::dtype::bf16)
                                                        : q::language_weights::load(vl::checkpoint::open(dir), cfg, vl::dtype::f32, q::matrix_storage::as_stored);
        t_setup = seconds_since(t0) - p.vision_s;
#if VLGRAPH_CLI_CUDA
        if (backend == "cuda") {
            r = generate_on_cuda(w, p.input_ids, p.image_embeds, p.grids, opt, print);
            where = "cuda, bf16";
        }
#endif
        if (backend == "cpu") {
            vl::cpu::executor cpu{threads};
            r = q::generate(w, p.input_ids, p.image_embeds, p.grids, opt, cpu, print);
            where = "cpu, f32, " + std::to_string(cpu.threads()) + " threads";
        }
    }
    std::fwrite(r.text_tail.data(), 1, r.text_tail.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);

    const q::generation_stats& s = r.stats;
    std::fprintf(stderr, "prompt %ld tokens (%ld image), generated %ld tokens (%s)\n", long(s.prompt_tokens), long(s.image_tokens),
                 long(s.generated_tokens), r.stopped_at_eos ? "stopped at eos" : "max-new-tokens reached");
    std::fprintf(stderr, "timings: load + tokenize %.3f s, vision %.3f s, prefill %.3f s (%.1f tok/s), decode %.3f s (%.1f tok/s) (%s)\n",
                 t_setup, p.vision_s, s.prefill_s, s.prefill_s > 0 ? s.prompt_tokens / s.prefill_s : 0.0, s.decode_s,
                 s.decode_s > 0 && s.generated_tokens > 1 ? (s.generated_tokens - 1) / s.decode_s : 0.0, where.c_str());
    return 0;
}

}  // namespace vlcli
