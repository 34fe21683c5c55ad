// backends/cuda/rows.cuh — shared pieces of the last-axis kernels (norms,
// softmax, reduce): one thread block per row, and block-wide f32 sum / max whose
// result every thread of the block receives.
#pragma once

#include <vlgraph/backends/cuda/executor.cuh>

#include <cub/block/block_reduce.cuh>

namespace vl::cuda::detail {

inline constexpr int row_threads = 256;

struct max_op {
    // fmaxf ignores a NaN operand, as std::max(m, x) does on the CPU backend.
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct sum_op {
    __device__ float operator()(float a, float b) const { return a + b; }
};

// Reduces v over the block with op and hands the result to every thread. Safe to
// call several times in a row: the trailing barrier frees the shared storage.
template <class Op>
__device__ float block_reduce(float v, Op op) {
    using reduce = cub::BlockReduce<float, row_threads>;
    __shared__ typename reduce::TempStorage tmp;
    __shared__ float result;
    const float r = reduce(tmp).Reduce(v, op);
    if (threadIdx.x == 0) result = r;
    __syncthreads();
    const float all = result;
    __syncthreads();
    return all;
}

// Rows of a contiguous [rows, d] value, and the grid that walks them.
inline index_t row_length(const value& v) { return v.rank ? v.shape[v.rank - 1] : 1; }
inline index_t row_count(const value& v) {
    const index_t d = row_length(v);
    return d ? v.numel() / d : 0;
}
inline unsigned row_blocks(index_t rows) { return static_cast<unsigned>(std::min<index_t>(rows, index_t{1} << 20)); }

}  // namespace vl::cuda::detail
