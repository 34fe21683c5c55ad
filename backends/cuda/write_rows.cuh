// backends/cuda/write_rows.cuh — rows written into a tensor at a position read on the device
// (ops/write_rows.hpp): one grid-stride copy; nothing is written when the rows would not fit.
#pragma once

#include <vlgraph/backends/cuda/executor.cuh>
#include <vlgraph/ops/write_rows.hpp>

#include <cstdint>

namespace vl {
namespace cuda::detail {

template <class T>
__global__ void write_rows_kernel(T* dst, index_t capacity, const T* rows, index_t n, index_t row, const std::int64_t* at) {
    const index_t first = static_cast<index_t>(*at);
    if (first < 0 || first + n > capacity) return;
    T* out = dst + first * row;
    for (index_t i = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; i < n * row; i += static_cast<index_t>(gridDim.x) * blockDim.x)
        out[i] = rows[i];
}

}  // namespace cuda::detail

template <class T>
struct lowering<cuda::executor<T>, ops::write_rows> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        if (node.dst.space() != memory_space::device || node.at.space() != memory_space::device)
            throw backend_error("cuda executor: write_rows needs its destination and position in device memory");
        if (node.dst.type() != dtype_of_v<T>) throw dtype_error("cuda write_rows: the destination must be in the executor's compute dtype");
        const value rows = ctx.contiguous(node.rows);
        const value dst = value::of(node.dst);
        const tensor at = node.at;
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t n = rows.shape[0], row = n ? rows.numel() / n : 0;
            if (n * row == 0) return;
            constexpr int threads = 256;
            cuda::detail::write_rows_kernel<T><<<ex.blocks_for(n * row, threads), threads, 0, ex.stream>>>(dst.ptr<T>(), dst.shape[0], rows.ptr<const T>(), n, row,
                                                                                                        static_cast<const std::int64_t*>(at.raw_data()));
            VL_CUDA_CHECK_LAUNCH("write_rows");
        });
        return dst;
    }
};

}  // namespace vl
