// backends/cpu/all_reduce.hpp — the group sum of a value (ops/all_reduce.hpp) into a buffer of its own,
// so no input is overwritten; the collective is a launch, ordered with the rest of a recorded program.
#pragma once

#include <vlgraph/backends/cpu/executor.hpp>
#include <vlgraph/ops/all_reduce.hpp>

#include <cstring>

namespace vl {

template <>
struct lowering<cpu::executor, ops::all_reduce_sum> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value in = ctx.contiguous(node.a);
        if (!node.comm || node.comm->size() == 1) return in;
        if (node.comm->space() != memory_space::host)
            throw backend_error("cpu executor: all_reduce_sum over a communicator of device buffers (NCCL): the CPU backend's ranks exchange host memory (vl::cpu::local_group)");
        value out = ctx.alloc(node.shape());
        ctx.launch([=, comm = node.comm] {
            const auto n = static_cast<std::size_t>(in.numel());
            std::memcpy(out.data, in.data, n * size_of(in.type));
            comm->all_reduce_sum(out.data, n, out.type);
        });
        return out;
    }
};

}  // namespace vl
