// backends/cpu/softmax.hpp — softmax over the last axis (ops/softmax.hpp):
// max-subtracted exponentials in f32, their sum in f64.
#pragma once

#include <vlgraph/backends/cpu/rows.hpp>
#include <vlgraph/ops/softmax.hpp>

#include <cmath>
#include <limits>

namespace vl {

template <>
struct lowering<cpu::executor, ops::softmax> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& n) {
        const value x = ctx.contiguous(n.x);
        value out = ctx.alloc(n.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            cpu::for_each_row(ex, x, out, [](const float* in, float* o, index_t d) {
                float m = -std::numeric_limits<float>::infinity();
                for (index_t i = 0; i < d; ++i) m = std::max(m, in[i]);
                double s = 0;
                for (index_t i = 0; i < d; ++i) s += (o[i] = ::expf(in[i] - m));
                const float inv = static_cast<float>(1.0 / s);
                for (index_t i = 0; i < d; ++i) o[i] *= inv;
            });
        });
        return out;
    }
};

}  // namespace vl
