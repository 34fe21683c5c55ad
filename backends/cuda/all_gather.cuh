// backends/cuda/all_gather.cuh — columns gathered over the group (ops/all_gather.hpp). Without a group (or
// in a group of one) it is the value itself; a group needs the NCCL communicator, not built yet: refused.
#pragma once

#include <vlgraph/backends/cuda/executor.cuh>
#include <vlgraph/ops/all_gather.hpp>

namespace vl {

template <class T>
struct lowering<cuda::executor<T>, ops::all_gather_columns> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        if (node.comm && node.comm->size() > 1)
            throw backend_error("cuda executor: all_gather_columns over " + std::to_string(node.comm->size()) + " ranks needs an NCCL communicator (not built yet)");
        return ctx.contiguous(node.a);
    }
};

}  // namespace vl
