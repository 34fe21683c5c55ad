// vlgraph/ops/all_reduce.hpp — the sum of x over a tensor-parallel group (vlgraph/comm.hpp): after a
// row-parallel projection each rank holds a partial product, and every rank needs the whole.
//
//     vl::all_reduce_sum(x, comm)      x: [...] floating  ->  [...] (the same shape on every rank)
//
// comm null (or a group of one): x itself. Accumulated in f32 (the communicator's rule: in rank order on
// the CPU group, in NCCL's ring order on GPUs; the same bits on every rank either way).
#pragma once

#include <vlgraph/comm.hpp>
#include <vlgraph/expr.hpp>

namespace vl {
namespace ops {
struct all_reduce_sum {};
}

template <floating_expression A>
struct all_reduce_sum_expr {
    using op = ops::all_reduce_sum;
    static constexpr int rank = A::rank;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<rank> static_shape = A::static_shape;
    A a;
    communicator* comm;
    const shape_t<rank>& shape() const { return a.shape(); }
};

template <floating_expression A>
auto all_reduce_sum(A a, communicator* comm) {
    return all_reduce_sum_expr<A>{std::move(a), comm};
}

}  // namespace vl
