// backends/cpu/linear.hpp — y = x · Wᵀ + b (ops/linear.hpp) as one GEMM over
// all leading axes of x, bias added in the same tile pass.
//
// Weights as stored: a bf16 W bound directly (vl::input of a checkpoint tensor, e.g. a view of the
// mmap'd safetensors) is read where it lies and widened in registers; the result is bit for bit that
// of the same W converted to f32 (gemm.hpp), with half the bytes and no copy. Any other W is converted
// to f32 as every operand is.
#pragma once

#include <vlgraph/backends/cpu/gemm.hpp>
#include <vlgraph/backends/cpu/executor.hpp>
#include <vlgraph/ops/linear.hpp>

#include <type_traits>

namespace vl {

template <>
struct lowering<cpu::executor, ops::linear> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value x = ctx.contiguous(node.x);
        const value w = weight(ctx, node.w);
        value b;
        if constexpr (Node::has_bias) b = ctx.contiguous(node.b);
        value out = ctx.alloc(node.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t n = w.shape[0], k = w.shape[1];
            const index_t m = k ? x.numel() / k : out.numel() / std::max<index_t>(n, 1);
            const float* bias = Node::has_bias ? b.ptr<const float>() : nullptr;
            if (w.type == dtype::bf16)
                cpu::gemm(*ex.pool, m, n, k, x.ptr<const float>(), w.ptr<const bf16>(), true, bias, out.ptr<float>());
            else
                cpu::gemm(*ex.pool, m, n, k, x.ptr<const float>(), w.ptr<const float>(), true, bias, out.ptr<float>());
        });
        return out;
    }

private:
    // A contiguous host bf16 tensor bound as W stays as it is; anything else is an f32 operand.
    template <class Ctx, class W>
    static value weight(Ctx& ctx, const W& w) {
        if constexpr (std::is_same_v<typename W::op, ops::input>) {
            const tensor& t = w.value();
            if (t.type() == dtype::bf16 && t.space() == memory_space::host) {
                const value v = value::of(t);
                if (v.contiguous()) return v;
            }
        }
        return ctx.contiguous(w);
    }
};

}  // namespace vl
