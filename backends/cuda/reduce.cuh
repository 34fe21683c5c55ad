// backends/cuda/reduce.cuh — sum / mean / max along one axis (ops/reduce.hpp).
// The input is viewed as [outer, n, inner]. When the reduced axis is the last
// one (inner == 1) a block reduces each row (cub::BlockReduce, coalesced reads);
// otherwise one thread per output walks its column, and neighbouring threads
// read neighbouring elements. Accumulation in f32. Empty axis: sum 0, mean NaN,
// max -inf, as on the CPU backend.
#pragma once

#include <vlgraph/backends/cuda/rows.cuh>
#include <vlgraph/ops/reduce.hpp>

namespace vl {
namespace cuda::detail {

__device__ __forceinline__ float reduce_start(reduction how) { return how == reduction::max ? -INFINITY : 0.0f; }
__device__ __forceinline__ float reduce_step(reduction how, float acc, float v) { return how == reduction::max ? fmaxf(acc, v) : acc + v; }
__device__ __forceinline__ float reduce_finish(reduction how, float acc, index_t n) {
    return how == reduction::mean ? acc / static_cast<float>(n) : acc;
}

template <class T>
__global__ void reduce_rows_kernel(const T* x, T* out, index_t rows, index_t n, reduction how) {
    for (index_t row = blockIdx.x; row < rows; row += gridDim.x) {
        float acc = reduce_start(how);
        for (index_t i = threadIdx.x; i < n; i += blockDim.x) acc = reduce_step(how, acc, to_float(x[row * n + i]));
        acc = how == reduction::max ? block_reduce(acc, max_op{}) : block_reduce(acc, sum_op{});
        if (threadIdx.x == 0) out[row] = from_float<T>(reduce_finish(how, acc, n));
    }
}

template <class T>
__global__ void reduce_columns_kernel(const T* x, T* out, index_t outputs, index_t n, index_t inner, reduction how) {
    for (index_t k = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; k < outputs; k += static_cast<index_t>(gridDim.x) * blockDim.x) {
        const T* p = x + (k / inner) * n * inner + k % inner;
        float acc = reduce_start(how);
        for (index_t i = 0; i < n; ++i) acc = reduce_step(how, acc, to_float(p[i * inner]));
        out[k] = from_float<T>(reduce_finish(how, acc, n));
    }
}

}  // namespace cuda::detail

template <class T>
struct lowering<cuda::executor<T>, ops::reduce> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value x = ctx.contiguous(node.a);
        value out = ctx.alloc(node.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const int ax = node.axis();
            index_t outer = 1, inner = 1;
            for (int d = 0; d < ax; ++d) outer *= x.shape[d];
            for (int d = ax + 1; d < x.rank; ++d) inner *= x.shape[d];
            const index_t n = x.shape[ax], outputs = outer * inner;
            if (outputs == 0) return;
            if (inner == 1) {
                cuda::detail::reduce_rows_kernel<T><<<cuda::detail::row_blocks(outer), cuda::detail::row_threads, 0, ex.stream>>>(
                    x.ptr<const T>(), out.ptr<T>(), outer, n, node.how);
            } else {
                constexpr int threads = 256;
                cuda::detail::reduce_columns_kernel<T><<<ex.blocks_for(outputs, threads), threads, 0, ex.stream>>>(x.ptr<const T>(), out.ptr<T>(),
                                                                                                                 outputs, n, inner, node.how);
            }
            VL_CUDA_CHECK_LAUNCH("reduce");
        });
        return out;
    }
};

}  // namespace vl
