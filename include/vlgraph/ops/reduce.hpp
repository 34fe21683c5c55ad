// vlgraph/ops/reduce.hpp — sum, mean and max along one axis.
// The reduced axis is kept with extent 1, so the result broadcasts back
// against its input:  x - vl::mean(x, -1).
//
// Precision: sum and mean accumulate in double on the CPU backend (f32 on
// CUDA); max is exact. Reducing an empty axis: sum 0, mean NaN, max -inf.
#pragma once

#include <vlgraph/expr.hpp>

namespace vl {
namespace ops {
struct reduce {};
}
enum class reduction { sum, mean, max };

template <floating_expression A>
struct reduce_expr {
    using op = ops::reduce;
    static constexpr int rank = A::rank;
    static_assert(rank >= 1, "vl::reduce: cannot reduce a rank-0 expression");
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<rank> static_shape = detail::all_dyn<rank>();

    reduce_expr(A a_, int axis, reduction r) : a(std::move(a_)), how(r), shape_(a.shape()) {
        if (axis < -rank || axis >= rank) throw shape_error("reduce: axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
        axis_ = axis < 0 ? axis + rank : axis;
        shape_[static_cast<std::size_t>(axis_)] = 1;
    }
    A a;
    reduction how;
    int axis() const { return axis_; }
    const shape_t<rank>& shape() const { return shape_; }

private:
    shape_t<rank> shape_;
    int axis_ = 0;
};

template <floating_expression A> auto sum(A a, int axis) { return reduce_expr<A>(std::move(a), axis, reduction::sum); }
template <floating_expression A> auto mean(A a, int axis) { return reduce_expr<A>(std::move(a), axis, reduction::mean); }
template <floating_expression A> auto max(A a, int axis) { return reduce_expr<A>(std::move(a), axis, reduction::max); }

}  // namespace vl
