// examples/vlgraph/vision_cuda.hpp — the vision tower on the CUDA backend, for
// `vlgraph encode --backend cuda`. Defined in vision_cuda.cu, which is compiled
// (by nvcc) into the program only when the CUDA backend is built; the rest of the
// program stays plain C++.
#pragma once

#include <vlgraph/models/qwen36/vision.hpp>
#include <vlgraph/models/qwen36/vision_weights.hpp>

namespace vlcli {

// bf16 weights and intermediates on the GPU, f32 math; the result is copied back as f32 host tensors.
vl::qwen36::vision_output vision_on_cuda(const vl::qwen36::vision_weights& host_weights, const vl::tensor& pixel_values,
                                         std::span<const vl::qwen36::grid_thw> grids);

}  // namespace vlcli
