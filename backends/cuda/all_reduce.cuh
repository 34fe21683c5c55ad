// backends/cuda/all_reduce.cuh — the group sum of a value (ops/all_reduce.hpp). Without a group (or in a
// group of one) it is the value itself. Over a group of device buffers (vl::cuda::nccl_communicator,
// comm.cuh) the value is widened into an f32 buffer of the arena, summed there in place by the
// communicator, and rounded to T once: NCCL's bf16 sum would round at every hop of its ring. That puts
// twice the bytes of a bf16 all-reduce on the wire (4 bytes per element: 20 KiB a token at the 27B
// width), small against the weights a decode step reads. The collective is a launch, so a recorded program
// captures it into its graph; the arena buffer is planned with the program, nothing is allocated per run.
// A group of host buffers (vl::cpu::local_group) is refused: its ranks read host memory.
#pragma once

#include <vlgraph/backends/cuda/executor.cuh>
#include <vlgraph/ops/all_reduce.hpp>

#include <string>

namespace vl {
namespace cuda::detail {

inline void check_device_group(const communicator& comm, const char* op) {
    if (comm.space() != memory_space::device)
        throw backend_error(std::string("cuda executor: ") + op + " over " + std::to_string(comm.size()) +
                            " ranks of a communicator of host buffers (vl::cpu::local_group): GPU ranks need an NCCL communicator "
                            "(vl::cuda::nccl_group, backends/cuda/comm.cuh)");
}

}  // namespace cuda::detail

template <class T>
struct lowering<cuda::executor<T>, ops::all_reduce_sum> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        if (!node.comm || node.comm->size() == 1) return ctx.contiguous(node.a);
        cuda::detail::check_device_group(*node.comm, "all_reduce_sum");
        const value sum = ctx.alloc(node.shape(), dtype::f32);
        ctx.assign(sum, node.a);  // this rank's partial, as its op rounded it, widened to f32
        ctx.launch([=, comm = node.comm] { comm->all_reduce_sum(sum.data, static_cast<std::size_t>(sum.numel()), dtype::f32); });
        if constexpr (std::is_same_v<T, float>) {
            return sum;
        } else {
            value out = ctx.alloc(node.shape());
            ctx.copy(out, sum);
            return out;
        }
    }
};

}  // namespace vl
