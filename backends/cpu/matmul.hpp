// backends/cpu/matmul.hpp — batched matmul (ops/matmul.hpp): one GEMM per batch.
#pragma once

#include <vlgraph/backends/cpu/gemm.hpp>
#include <vlgraph/backends/cpu/executor.hpp>
#include <vlgraph/ops/matmul.hpp>

namespace vl {

template <>
struct lowering<cpu::executor, ops::matmul> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value a = ctx.contiguous(node.a), b = ctx.contiguous(node.b);
        value out = ctx.alloc(node.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1];
            const index_t batches = (m * k != 0) ? a.numel() / (m * k) : out.numel() / std::max<index_t>(m * n, 1);
            const bool shared_b = b.rank == 2;
            for (index_t i = 0; i < batches; ++i)
                cpu::gemm(*ex.pool, m, n, k, a.ptr<const float>() + i * m * k, b.ptr<const float>() + (shared_b ? 0 : i * k * n), false, nullptr,
                          out.ptr<float>() + i * m * n);
        });
        return out;
    }
};

}  // namespace vl
