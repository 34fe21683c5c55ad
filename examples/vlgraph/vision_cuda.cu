// examples/vlgraph/vision_cuda.cu — see vision_cuda.hpp.
#include "vision_cuda.hpp"

#include <vlgraph/backends/cuda/cuda.cuh>

namespace vlcli {

vl::qwen36::vision_output vision_on_cuda(const vl::qwen36::vision_weights& host_weights, const vl::tensor& pixel_values,
                                         std::span<const vl::qwen36::grid_thw> grids) {
    vl::cuda::executor<vl::bf16> gpu;
    const auto w = host_weights.map([](const vl::tensor& t) { return vl::cuda::to_device(t, vl::dtype::bf16); });
    vl::qwen36::vision_output out = vl::qwen36::vision_forward(w, vl::cuda::to_device(pixel_values), grids, gpu);
    out.image_embeds = vl::cuda::to_host(out.image_embeds, gpu.stream).to(vl::dtype::f32);
    out.last_hidden_state = vl::cuda::to_host(out.last_hidden_state, gpu.stream).to(vl::dtype::f32);
    return out;
}

}  // namespace vlcli
