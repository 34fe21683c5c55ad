// backends/cpu/copy.hpp — strided copy with dtype conversion (ops::copy), and
// binding input tensors (ops::input): a floating tensor not already f32 is
// converted into an arena buffer; integer tensors are used as stored.
#pragma once

#include <vlgraph/backends/cpu/executor.hpp>

#include <cstring>

namespace vl {

template <>
struct lowering<cpu::executor, ops::copy> {
    template <class Ctx>
    static void run(Ctx& ctx, const value& dst, const value& src) {
        if (dst.rank != src.rank || dst.numel() != src.numel()) throw shape_error("copy: shapes differ");
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t n = dst.numel();
            if (n == 0) return;
            if (dst.contiguous() && src.contiguous()) {
                const std::size_t bytes = size_of(src.type);
                cpu::parallel_blocks(*ex.pool, n, cpu::grain_elements * 4, [&](index_t b, index_t e) {
                    convert(static_cast<const char*>(src.data) + b * static_cast<index_t>(bytes), src.type,
                            static_cast<char*>(dst.data) + b * static_cast<index_t>(size_of(dst.type)), dst.type, static_cast<std::size_t>(e - b));
                });
                return;
            }
            // General case: row by row over the last axis.
            const int r = dst.rank;
            const index_t inner = r ? dst.shape[r - 1] : 1;
            const index_t rows = n / inner;
            const std::size_t ss = size_of(src.type), ds = size_of(dst.type);
            cpu::parallel_blocks(*ex.pool, rows, cpu::rows_per_task(inner), [&](index_t b, index_t e) {
                for (index_t row = b; row < e; ++row) {
                    index_t so = 0, doff = 0, rem = row;
                    for (int d = r - 2; d >= 0; --d) {
                        const index_t i = rem % dst.shape[d];
                        rem /= dst.shape[d];
                        so += i * src.strides[d];
                        doff += i * dst.strides[d];
                    }
                    const index_t sst = r ? src.strides[r - 1] : 1, dst_st = r ? dst.strides[r - 1] : 1;
                    for (index_t j = 0; j < inner; ++j)
                        convert(static_cast<const char*>(src.data) + (so + j * sst) * static_cast<index_t>(ss), src.type,
                                static_cast<char*>(dst.data) + (doff + j * dst_st) * static_cast<index_t>(ds), dst.type, 1);
                }
            });
        });
    }
};

template <>
struct lowering<cpu::executor, ops::input> {
    template <class Ctx>
    static value run(Ctx& ctx, const tensor& t, kind k) {
        if (t.space() != memory_space::host) throw backend_error("cpu executor: input tensor " + vl::to_string(t.shape()) + " lives on a device");
        value v = value::of(t);
        if (k == kind::integer || t.type() == dtype::f32) return v;
        value c = ctx.alloc(v.dims(), dtype::f32);
        ctx.copy(c, v);
        return c;
    }
};

}  // namespace vl
