// backends/cuda/linear.cuh — y = x · Wᵀ (+ b) (ops/linear.hpp): one cuBLASLt GEMM
// over all leading axes of x, W used as stored ([N, K], the checkpoint layout),
// the bias fused as the GEMM's epilogue. Transposes explained in gemm.cuh.
#pragma once

#include <vlgraph/backends/cuda/gemm.cuh>
#include <vlgraph/ops/linear.hpp>

namespace vl {

template <class T>
struct lowering<cuda::executor<T>, ops::linear> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value x = ctx.contiguous(node.x), w = ctx.contiguous(node.w);
        value b;
        if constexpr (Node::has_bias) b = ctx.contiguous(node.b);
        value out = ctx.alloc(node.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t n = w.shape[0], k = w.shape[1];
            const index_t m = k ? x.numel() / k : out.numel() / std::max<index_t>(n, 1);
            cuda::gemm<T>(ex, {m, n, k, true}, x.ptr<const T>(), w.ptr<const T>(), Node::has_bias ? b.ptr<const T>() : nullptr, out.ptr<T>());
        });
        return out;
    }
};

}  // namespace vl
