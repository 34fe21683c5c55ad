// tests/cuda/language_steps.hpp — one prompt, then forced tokens one at a time (teacher forcing), on any
// executor: the CUDA language test runs it on the GPU and, through test_language_cuda_ref.cpp, on the CPU.
#pragma once

#include <vlgraph/models/qwen36/language.hpp>
#include <vlgraph/models/qwen36/rope_index.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace vl::test {

// Row 0: the logits of the prompt's last position; row i: those after feeding forced[i − 1]. f32 [1 + n, V]
// on the host. The cache ends holding every position, in the executor's memory.
template <class Executor>
tensor forced_steps(const qwen36::language_weights& w, const tensor& input_ids, const tensor& image_embeds, const qwen36::rope_index& rope,
                    std::span<const std::int64_t> forced, qwen36::model_cache& cache, Executor& exec) {
    const index_t vocab = w.config.text.vocab_size;
    std::vector<float> rows;
    const auto keep = [&](const tensor& logits) {
        const tensor row = exec.to_host(logits).to(dtype::f32);
        rows.insert(rows.end(), row.data<float>(), row.data<float>() + vocab);
    };
    keep(qwen36::language_forward(w, qwen36::embed_prompt(w, input_ids, image_embeds, exec), rope.position_ids, cache, exec).logits);
    for (const std::int64_t id : forced) {
        const tensor embeds = qwen36::embed_prompt(w, tensor::from(std::vector<std::int64_t>{id}, {1}), {}, exec);  // [1, D]
        keep(qwen36::language_forward(w, embeds, qwen36::text_position_ids(cache.length + rope.rope_delta, 1), cache, exec).logits);
    }
    return tensor::from(rows, {static_cast<index_t>(forced.size()) + 1, vocab});
}

}  // namespace vl::test
