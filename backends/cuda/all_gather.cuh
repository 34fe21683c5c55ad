// backends/cuda/all_gather.cuh — columns gathered over the group (ops/all_gather.hpp). Without a group (or
// in a group of one) it is the value itself. Over a group of device buffers (vl::cuda::nccl_communicator,
// comm.cuh) the ranks' [L, C] blocks are gathered one after another (ncclAllGather) and laid side by side
// as [L, size · C] by one pitched copy per rank; a single row (a decode step's logits) is already in that
// layout and is gathered straight into the result. Both are launches on the executor's stream, captured
// into a recorded program's graph. A group of host buffers (vl::cpu::local_group) is refused.
#pragma once

#include <vlgraph/backends/cuda/all_reduce.cuh>
#include <vlgraph/backends/cuda/executor.cuh>
#include <vlgraph/ops/all_gather.hpp>

namespace vl {

template <class T>
struct lowering<cuda::executor<T>, ops::all_gather_columns> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value in = ctx.contiguous(node.a);
        if (!node.comm || node.comm->size() == 1) return in;
        cuda::detail::check_device_group(*node.comm, "all_gather_columns");
        const index_t ranks = node.comm->size(), rows = in.shape[0], cols = in.shape[1];
        const std::size_t row = static_cast<std::size_t>(cols) * size_of(in.type);
        value out = ctx.alloc(node.shape(), in.type);
        if (rows == 1) {
            ctx.launch([=, comm = node.comm] { comm->all_gather(in.data, out.data, row); });
            return out;
        }
        const value blocks = ctx.alloc(shape_t<3>{ranks, rows, cols}, in.type);  // rank r's [L, C] at block r
        ctx.launch([=, comm = node.comm, &ex = ctx.executor()] {
            comm->all_gather(in.data, blocks.data, static_cast<std::size_t>(rows) * row);
            for (index_t r = 0; r < ranks; ++r)
                VL_CUDA_CHECK(cudaMemcpy2DAsync(static_cast<char*>(out.data) + static_cast<std::size_t>(r) * row, static_cast<std::size_t>(ranks) * row,
                                                static_cast<const char*>(blocks.data) + static_cast<std::size_t>(r * rows) * row, row, row,
                                                static_cast<std::size_t>(rows), cudaMemcpyDeviceToDevice, ex.stream));
        });
        return out;
    }
};

}  // namespace vl
