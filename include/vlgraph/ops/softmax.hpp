// vlgraph/ops/softmax.hpp — softmax over the last axis.
//
//     y_i = exp(x_i - max(x)) / sum_j exp(x_j - max(x))
//
// A row that is entirely -inf yields NaN, as in PyTorch. Sum in f64 on the CPU
// backend, f32 on CUDA.
#pragma once

#include <vlgraph/expr.hpp>

namespace vl {
namespace ops {
struct softmax {};
}

template <floating_expression X>
struct softmax_expr {
    using op = ops::softmax;
    static_assert(X::rank >= 1, "vl::softmax: needs rank >= 1");
    static constexpr int rank = X::rank;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<rank> static_shape = X::static_shape;
    X x;
    const shape_t<rank>& shape() const { return x.shape(); }
};

template <floating_expression X>
auto softmax(X x) {
    return softmax_expr<X>{std::move(x)};
}

}  // namespace vl
