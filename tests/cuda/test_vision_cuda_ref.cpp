// tests/cuda/test_vision_cuda_ref.cpp — the CPU reference of the CUDA vision test,
// compiled by the host compiler (the CPU backend uses Eigen, which nvcc never sees).
#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/models/qwen36/vision.hpp>

namespace vl::test {

qwen36::vision_output vision_cpu(const qwen36::vision_weights& w, const tensor& pixel_values, std::span<const qwen36::grid_thw> grids, const trace_fn& trace) {
    cpu::executor ex(2);
    ex.trace = trace;
    return qwen36::vision_forward(w, pixel_values, grids, ex);
}

}  // namespace vl::test
