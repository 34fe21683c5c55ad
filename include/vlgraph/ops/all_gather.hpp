// vlgraph/ops/all_gather.hpp — columns gathered over a tensor-parallel group (vlgraph/comm.hpp): each
// rank computes a block of columns (its vocabulary rows of lm_head), every rank needs them all.
//
//     vl::all_gather_columns(x, comm)      x: [L, C] on each rank  ->  [L, size · C]
//     out[:, r·C : (r+1)·C] = x of rank r
//
// comm null (or a group of one): x itself.
#pragma once

#include <vlgraph/comm.hpp>
#include <vlgraph/expr.hpp>

namespace vl {
namespace ops {
struct all_gather_columns {};
}

template <floating_expression A>
struct all_gather_columns_expr {
    using op = ops::all_gather_columns;
    static_assert(A::rank == 2, "vl::all_gather_columns: x is [L, C]");
    static constexpr int rank = 2;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<2> static_shape = detail::all_dyn<2>();
    all_gather_columns_expr(A a_, communicator* comm_) : a(std::move(a_)), comm(comm_) {
        shape_ = a.shape();
        if (comm) shape_[1] *= comm->size();
    }
    A a;
    communicator* comm;
    const shape_t<2>& shape() const { return shape_; }

private:
    shape_t<2> shape_{};
};

template <floating_expression A>
auto all_gather_columns(A a, communicator* comm) {
    return all_gather_columns_expr<A>(std::move(a), comm);
}

}  // namespace vl
