// backends/cpu/linear.hpp — y = x · Wᵀ + b (ops/linear.hpp) as one GEMM over
// all leading axes of x, bias added in the same tile pass.
#pragma once

#include <vlgraph/backends/cpu/gemm.hpp>
#include <vlgraph/backends/cpu/executor.hpp>
#include <vlgraph/ops/linear.hpp>

namespace vl {

template <>
struct lowering<cpu::executor, ops::linear> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value x = ctx.contiguous(node.x), w = ctx.contiguous(node.w);
        value b;
        if constexpr (Node::has_bias) b = ctx.contiguous(node.b);
        value out = ctx.alloc(node.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t n = w.shape[0], k = w.shape[1];
            const index_t m = k ? x.numel() / k : out.numel() / std::max<index_t>(n, 1);
            cpu::gemm(*ex.pool, m, n, k, x.ptr<const float>(), w.ptr<const float>(), true, Node::has_bias ? b.ptr<const float>() : nullptr,
                      out.ptr<float>());
        });
        return out;
    }
};

}  // namespace vl
