// backends/cpu/reduce.hpp — sum / mean / max along one axis (ops/reduce.hpp).
// The input is viewed as [outer, n, inner]; each output element is reduced in
// index order (sum and mean in f64), so the result is independent of threads.
#pragma once

#include <vlgraph/backends/cpu/executor.hpp>
#include <vlgraph/ops/reduce.hpp>

#include <limits>

namespace vl {

template <>
struct lowering<cpu::executor, ops::reduce> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value x = ctx.contiguous(node.a);
        value out = ctx.alloc(node.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const int ax = node.axis();
            index_t outer = 1, inner = 1;
            for (int d = 0; d < ax; ++d) outer *= x.shape[d];
            for (int d = ax + 1; d < x.rank; ++d) inner *= x.shape[d];
            const index_t n = x.shape[ax];
            const float* in = x.ptr<const float>();
            float* o = out.ptr<float>();
            cpu::parallel_blocks(*ex.pool, outer * inner, cpu::rows_per_task(n), [&](index_t b, index_t e) {
                for (index_t k = b; k < e; ++k) {
                    const float* p = in + (k / inner) * n * inner + (k % inner);
                    if (node.how == reduction::max) {
                        float m = -std::numeric_limits<float>::infinity();
                        for (index_t i = 0; i < n; ++i) m = std::max(m, p[i * inner]);
                        o[k] = m;
                    } else {
                        double s = 0;
                        for (index_t i = 0; i < n; ++i) s += p[i * inner];
                        o[k] = static_cast<float>(node.how == reduction::mean ? s / static_cast<double>(n) : s);
                    }
                }
            });
        });
        return out;
    }
};

}  // namespace vl
