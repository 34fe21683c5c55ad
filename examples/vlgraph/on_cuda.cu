// examples/vlgraph/on_cuda.cu — see on_cuda.hpp.
#include "on_cuda.hpp"
#include "prefill_trace.hpp"

#include <vlgraph/backends/cuda/cuda.cuh>

namespace vlcli {

namespace {
vl::tensor bf16_on_device(const vl::tensor& t) { return vl::cuda::to_device(t, vl::dtype::bf16); }
}  // namespace

vl::qwen36::vision_output vision_on_cuda(const vl::qwen36::vision_weights& host_weights, const vl::tensor& pixel_values,
                                         std::span<const vl::qwen36::grid_thw> grids) {
    vl::cuda::executor<vl::bf16> gpu;
    const auto w = host_weights.map(bf16_on_device);
    vl::qwen36::vision_output out = vl::qwen36::vision_forward(w, vl::cuda::to_device(pixel_values), grids, gpu);
    out.image_embeds = gpu.to_host(out.image_embeds).to(vl::dtype::f32);
    out.last_hidden_state = gpu.to_host(out.last_hidden_state).to(vl::dtype::f32);
    return out;
}

vl::tensor prompt_logits_on_cuda(const vl::qwen36::language_weights& host_weights, const vl::tensor& input_ids, const vl::tensor& image_embeds,
                                 const vl::tensor& position_ids) {
    vl::cuda::executor<vl::bf16> gpu;
    const auto w = host_weights.map(bf16_on_device);
    return gpu.to_host(vl::qwen36::prompt_logits(w, input_ids, image_embeds, position_ids, gpu)).to(vl::dtype::f32);
}

vl::trace_recorder prefill_trace_on_cuda(const vl::qwen36::language_weights& host_weights, const vl::qwen36::vision_weights* host_vision,
                                         const vl::tensor& pixel_values, std::span<const vl::qwen36::grid_thw> grids, const vl::tensor& input_ids,
                                         const vl::tensor& position_ids) {
    vl::cuda::executor<vl::bf16> gpu;
    const auto w = host_weights.map(bf16_on_device);
    vl::qwen36::vision_weights vw;
    if (host_vision) vw = host_vision->map(bf16_on_device);
    const vl::tensor pixels = host_vision ? vl::cuda::to_device(pixel_values) : vl::tensor();
    return prefill_trace(w, host_vision ? &vw : nullptr, pixels, grids, input_ids, position_ids, gpu,
                         [&gpu](const vl::tensor& t) { return gpu.to_host(t); });
}

vl::qwen36::generation_result generate_on_cuda(const vl::qwen36::language_weights& host_weights, const vl::tensor& input_ids,
                                               const vl::tensor& image_embeds, std::span<const vl::qwen36::grid_thw> grids,
                                               const vl::qwen36::generate_options& options, const vl::qwen36::token_callback& on_token) {
    vl::cuda::executor<vl::bf16> gpu;
    const auto w = host_weights.map(bf16_on_device);
    return vl::qwen36::generate(w, input_ids, image_embeds, grids, options, gpu, on_token);
}

std::unique_ptr<vl::qwen36::serving_engine> serving_engine_on_cuda(const vl::checkpoint& ck, const vl::qwen36::model_config& config, bool vision,
                                                                   const vl::qwen36::tokenizer& tok, std::vector<std::int64_t> eos_token_ids,
                                                                   vl::serve::scheduler_options options) {
    vl::qwen36::language_weights w = vl::qwen36::language_weights::load(ck, config, vl::dtype::bf16).map(bf16_on_device);
    std::optional<vl::qwen36::vision_weights> vw;
    if (vision) vw = vl::qwen36::vision_weights::load(ck, config.vision, vl::dtype::f32).map(bf16_on_device);
    return std::make_unique<vl::qwen36::serving_engine_on<vl::cuda::executor<vl::bf16>>>(std::move(w), std::move(vw), tok, std::move(eos_token_ids), options);
}

}  // namespace vlcli
