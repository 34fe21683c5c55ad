// backends/cuda/rms_norm.cuh — RMSNorm (ops/rms_norm.hpp), one block per row:
// mean of squares (f32), inv = 1 / sqrt(ms + eps), then (x * inv) * w or
// (x * inv) * (1 + w), the CPU backend's order of operations.
#pragma once

#include <vlgraph/backends/cuda/rows.cuh>
#include <vlgraph/ops/rms_norm.hpp>

namespace vl {
namespace cuda::detail {

template <class T>
__global__ void rms_norm_kernel(const T* x, const T* w, T* out, index_t rows, index_t d, float eps, float offset) {
    for (index_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* in = x + row * d;
        T* o = out + row * d;
        float ss = 0;
        for (index_t i = threadIdx.x; i < d; i += blockDim.x) {
            const float v = to_float(in[i]);
            ss += v * v;
        }
        const float inv = 1.0f / sqrtf(block_reduce(ss, sum_op{}) / static_cast<float>(d) + eps);
        for (index_t i = threadIdx.x; i < d; i += blockDim.x) o[i] = from_float<T>((to_float(in[i]) * inv) * (offset + to_float(w[i])));
    }
}

}  // namespace cuda::detail

template <class T>
struct lowering<cuda::executor<T>, ops::rms_norm> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& n) {
        const value x = ctx.contiguous(n.x), w = ctx.contiguous(n.w);
        value out = ctx.alloc(n.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t rows = cuda::detail::row_count(x);
            if (rows == 0) return;
            const float offset = n.weight == rms_weight::one_plus ? 1.0f : 0.0f;
            cuda::detail::rms_norm_kernel<T><<<cuda::detail::row_blocks(rows), cuda::detail::row_threads, 0, ex.stream>>>(
                x.ptr<const T>(), w.ptr<const T>(), out.ptr<T>(), rows, cuda::detail::row_length(x), n.eps, offset);
            VL_CUDA_CHECK_LAUNCH("rms_norm");
        });
        return out;
    }
};

}  // namespace vl
