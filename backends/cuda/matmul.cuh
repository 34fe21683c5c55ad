// backends/cuda/matmul.cuh — batched matmul (ops/matmul.hpp). A shared [K, N]
// b is one GEMM with the batches folded into M ([..., M, K] is contiguous, so it
// is one [batches·M, K] matrix); a batched b is one strided-batched GEMM.
#pragma once

#include <vlgraph/backends/cuda/gemm.cuh>
#include <vlgraph/ops/matmul.hpp>

namespace vl {

template <class T>
struct lowering<cuda::executor<T>, ops::matmul> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value a = ctx.contiguous(node.a), b = ctx.contiguous(node.b);
        value out = ctx.alloc(node.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1];
            index_t batches = 1;
            for (int d = 0; d < a.rank - 2; ++d) batches *= a.shape[d];
            const cuda::gemm_shape s = b.rank == 2 ? cuda::gemm_shape{batches * m, n, k, false}
                                                   : cuda::gemm_shape{m, n, k, false, batches, m * k, k * n, m * n};
            cuda::gemm<T>(ex, s, a.ptr<const T>(), b.ptr<const T>(), nullptr, out.ptr<T>());
        });
        return out;
    }
};

}  // namespace vl
