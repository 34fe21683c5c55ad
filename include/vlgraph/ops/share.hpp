// vlgraph/ops/share.hpp — a subexpression used more than once, computed once.
//
// Expressions are trees: using the same sub-expression twice copies it, and it
// would be evaluated twice. vl::share marks it as one node of a DAG: the first
// use in an eval materialises it, later uses read that value.
//
//     auto n = vl::share(vl::rms_norm(x, w, eps));     // [L, D]   computed once
//     auto q = vl::linear(n, wq), k = vl::linear(n, wk), v = vl::linear(n, wv);
//
// The shared value stays alive until the end of the eval.
#pragma once

#include <vlgraph/expr.hpp>

#include <memory>

namespace vl {
namespace ops {
struct shared {};
}

template <expression A>
struct shared_expr {
    using op = ops::shared;
    static constexpr int rank = A::rank;
    static constexpr kind value_kind = A::value_kind;
    static constexpr shape_t<rank> static_shape = A::static_shape;

    std::shared_ptr<const A> a;
    const shape_t<rank>& shape() const { return a->shape(); }
};

template <expression A>
shared_expr<A> share(A a) {
    return shared_expr<A>{std::make_shared<const A>(std::move(a))};
}

}  // namespace vl
