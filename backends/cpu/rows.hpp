// backends/cpu/rows.hpp — shared helper of the last-axis kernels (norms,
// softmax): runs f(row_in, row_out, D) over every row of a contiguous
// [rows, D] input, in fixed blocks of rows.
#pragma once

#include <vlgraph/backends/cpu/executor.hpp>

namespace vl::cpu {

template <class F>
void for_each_row(executor& exec, const value& in, const value& out, F&& f) {
    const index_t d = in.rank ? in.shape[in.rank - 1] : 1;
    if (d == 0) return;
    const index_t rows = in.numel() / d;
    parallel_blocks(*exec.pool, rows, rows_per_task(d), [&](index_t b, index_t e) {
        for (index_t r = b; r < e; ++r) f(in.ptr<const float>() + r * d, out.ptr<float>() + r * d, d);
    });
}

}  // namespace vl::cpu
