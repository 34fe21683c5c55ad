// backends/cuda/softmax.cuh — softmax over the last axis (ops/softmax.hpp), one
// block per row: max, then the sum of max-subtracted exponentials (f32), then
// each output exp(x - max) * (1 / sum). The exponentials are recomputed rather
// than stored, so a bf16 output is rounded once. A row of -inf gives NaN.
#pragma once

#include <vlgraph/backends/cuda/rows.cuh>
#include <vlgraph/ops/softmax.hpp>

namespace vl {
namespace cuda::detail {

template <class T>
__global__ void softmax_kernel(const T* x, T* out, index_t rows, index_t d) {
    for (index_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* in = x + row * d;
        T* o = out + row * d;
        float m = -INFINITY;
        for (index_t i = threadIdx.x; i < d; i += blockDim.x) m = fmaxf(m, to_float(in[i]));
        m = block_reduce(m, max_op{});
        float s = 0;
        for (index_t i = threadIdx.x; i < d; i += blockDim.x) s += ::expf(to_float(in[i]) - m);
        const float inv = 1.0f / block_reduce(s, sum_op{});
        for (index_t i = threadIdx.x; i < d; i += blockDim.x) o[i] = from_float<T>(::expf(to_float(in[i]) - m) * inv);
    }
}

}  // namespace cuda::detail

template <class T>
struct lowering<cuda::executor<T>, ops::softmax> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& n) {
        const value x = ctx.contiguous(n.x);
        value out = ctx.alloc(n.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t rows = cuda::detail::row_count(x);
            if (rows == 0) return;
            cuda::detail::softmax_kernel<T><<<cuda::detail::row_blocks(rows), cuda::detail::row_threads, 0, ex.stream>>>(
                x.ptr<const T>(), out.ptr<T>(), rows, cuda::detail::row_length(x));
            VL_CUDA_CHECK_LAUNCH("softmax");
        });
        return out;
    }
};

}  // namespace vl
