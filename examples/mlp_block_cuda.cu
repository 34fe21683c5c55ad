// examples/mlp_block_cuda.cu — the same examples/mlp_block.hpp expression as
// examples/mlp_block_cpu.cpp, evaluated by the CUDA backend (bf16 storage, f32 math).
#include "mlp_block.hpp"

#include <vlgraph/backends/cuda/cuda.cuh>

#include <cstdio>

int main() {
    if (!vl::cuda::available()) {
        std::printf("no CUDA device: nothing to run\n");
        return 0;
    }
    const vl::index_t L = 4, D = 8, I = 16;
    auto filled = [](vl::dims shape, float scale) {
        vl::tensor t = vl::tensor::empty(shape, vl::dtype::f32);
        for (vl::index_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = scale * static_cast<float>((i * 7) % 11 - 5);
        return vl::cuda::to_device(t, vl::dtype::bf16);  // weights live on the device in bf16
    };
    vl::cuda::executor<vl::bf16> gpu;
    const vl::tensor y = mlp_block(filled({L, D}, 0.1f), filled({D}, 0.01f), filled({I, D}, 0.05f), filled({I, D}, 0.05f), filled({D, I}, 0.05f), gpu);
    const vl::tensor h = vl::cuda::to_host(y, gpu.stream).to(vl::dtype::f32);
    std::printf("y %s, y[0][0] = %.6f (bf16 storage)\n", vl::to_string(h.shape()).c_str(), static_cast<double>(h.data<float>()[0]));
    return 0;
}
