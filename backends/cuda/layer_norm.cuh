// backends/cuda/layer_norm.cuh — LayerNorm (ops/layer_norm.hpp), one block per
// row: mean, then the biased variance around it (two passes, f32), then
// ((x - mean) * inv) * w + b as on the CPU backend.
#pragma once

#include <vlgraph/backends/cuda/rows.cuh>
#include <vlgraph/ops/layer_norm.hpp>

namespace vl {
namespace cuda::detail {

template <class T>
__global__ void layer_norm_kernel(const T* x, const T* w, const T* b, T* out, index_t rows, index_t d, float eps) {
    for (index_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* in = x + row * d;
        T* o = out + row * d;
        float s = 0;
        for (index_t i = threadIdx.x; i < d; i += blockDim.x) s += to_float(in[i]);
        const float mean = block_reduce(s, sum_op{}) / static_cast<float>(d);
        float v = 0;
        for (index_t i = threadIdx.x; i < d; i += blockDim.x) {
            const float c = to_float(in[i]) - mean;
            v += c * c;
        }
        const float inv = 1.0f / sqrtf(block_reduce(v, sum_op{}) / static_cast<float>(d) + eps);
        for (index_t i = threadIdx.x; i < d; i += blockDim.x) o[i] = from_float<T>(((to_float(in[i]) - mean) * inv) * to_float(w[i]) + to_float(b[i]));
    }
}

}  // namespace cuda::detail

template <class T>
struct lowering<cuda::executor<T>, ops::layer_norm> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& n) {
        const value x = ctx.contiguous(n.x), w = ctx.contiguous(n.w), b = ctx.contiguous(n.b);
        value out = ctx.alloc(n.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t rows = cuda::detail::row_count(x);
            if (rows == 0) return;
            cuda::detail::layer_norm_kernel<T><<<cuda::detail::row_blocks(rows), cuda::detail::row_threads, 0, ex.stream>>>(
                x.ptr<const T>(), w.ptr<const T>(), b.ptr<const T>(), out.ptr<T>(), rows, cuda::detail::row_length(x), n.eps);
            VL_CUDA_CHECK_LAUNCH("layer_norm");
        });
        return out;
    }
};

}  // namespace vl
