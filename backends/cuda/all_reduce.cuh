// backends/cuda/all_reduce.cuh — the group sum of a value (ops/all_reduce.hpp). Without a group (or in a
// group of one) it is the value itself; collectives on the GPU need the NCCL communicator, which this
// backend does not have yet: a group is refused rather than silently ignored.
#pragma once

#include <vlgraph/backends/cuda/executor.cuh>
#include <vlgraph/ops/all_reduce.hpp>

namespace vl {

template <class T>
struct lowering<cuda::executor<T>, ops::all_reduce_sum> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        if (node.comm && node.comm->size() > 1)
            throw backend_error("cuda executor: all_reduce_sum over " + std::to_string(node.comm->size()) + " ranks needs an NCCL communicator (not built yet)");
        return ctx.contiguous(node.a);
    }
};

}  // namespace vl
