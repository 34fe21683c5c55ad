// backends/cpu/layer_norm.hpp — LayerNorm (ops/layer_norm.hpp): mean and
// variance in f64, two passes over the row.
#pragma once

#include <vlgraph/backends/cpu/rows.hpp>
#include <vlgraph/ops/layer_norm.hpp>

#include <cmath>

namespace vl {

template <>
struct lowering<cpu::executor, ops::layer_norm> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& n) {
        const value x = ctx.contiguous(n.x), w = ctx.contiguous(n.w), b = ctx.contiguous(n.b);
        value out = ctx.alloc(n.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const float* wp = w.ptr<const float>();
            const float* bp = b.ptr<const float>();
            cpu::for_each_row(ex, x, out, [&](const float* in, float* o, index_t d) {
                double s = 0;
                for (index_t i = 0; i < d; ++i) s += in[i];
                const double mean = s / static_cast<double>(d);
                double v = 0;
                for (index_t i = 0; i < d; ++i) v += (in[i] - mean) * (in[i] - mean);
                const double inv = 1.0 / std::sqrt(v / static_cast<double>(d) + static_cast<double>(n.eps));
                for (index_t i = 0; i < d; ++i) o[i] = static_cast<float>((in[i] - mean) * inv) * wp[i] + bp[i];
            });
        });
        return out;
    }
};

}  // namespace vl
