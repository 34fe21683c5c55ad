// backends/cpu/all_gather.hpp — columns gathered over the group (ops/all_gather.hpp): the ranks' [L, C]
// blocks gathered one after another, then laid out side by side as [L, size · C].
#pragma once

#include <vlgraph/backends/cpu/executor.hpp>
#include <vlgraph/ops/all_gather.hpp>

#include <cstring>

namespace vl {

template <>
struct lowering<cpu::executor, ops::all_gather_columns> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value in = ctx.contiguous(node.a);
        if (!node.comm || node.comm->size() == 1) return in;
        if (node.comm->space() != memory_space::host)
            throw backend_error("cpu executor: all_gather_columns over a communicator of device buffers (NCCL): the CPU backend's ranks exchange host memory (vl::cpu::local_group)");
        const index_t ranks = node.comm->size(), rows = in.shape[0], cols = in.shape[1];
        value blocks = ctx.alloc(shape_t<3>{ranks, rows, cols});  // rank r's [L, C] at block r
        value out = ctx.alloc(node.shape());
        ctx.launch([=, comm = node.comm] {
            const std::size_t es = size_of(in.type), row = static_cast<std::size_t>(cols) * es;
            comm->all_gather(in.data, blocks.data, static_cast<std::size_t>(rows) * row);
            for (index_t r = 0; r < ranks; ++r)
                for (index_t l = 0; l < rows; ++l)
                    std::memcpy(static_cast<char*>(out.data) + static_cast<std::size_t>(l * ranks + r) * row,
                                static_cast<const char*>(blocks.data) + static_cast<std::size_t>(r * rows + l) * row, row);
        });
        return out;
    }
};

}  // namespace vl
