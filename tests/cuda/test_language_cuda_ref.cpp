// tests/cuda/test_language_cuda_ref.cpp — the CPU reference of the CUDA language test, compiled by the
// host compiler (the CPU backend uses Eigen, which nvcc never sees).
#include "language_steps.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>

namespace vl::test {

tensor forced_steps_cpu(const qwen36::language_weights& w, const tensor& input_ids, const tensor& image_embeds, const qwen36::rope_index& rope,
                        std::span<const std::int64_t> forced) {
    cpu::executor ex(2);
    qwen36::model_cache cache = qwen36::model_cache::empty(w.config.text, ex);
    return forced_steps(w, input_ids, image_embeds, rope, forced, cache, ex);
}

}  // namespace vl::test
