// vlgraph/ops/name.hpp — naming an intermediate.
//
//     auto q = vl::name("attn.q", vl::linear(x, wq));   // [L, H*D]
//
// A name changes nothing in the computation. When the executor has a trace
// (executor.trace = [](std::string_view name, const vl::tensor& t) {...}), every
// named node is materialised and handed to it, so two backends (or vlgraph and a
// golden dump) can be compared node by node (vlgraph/compare.hpp). Without a
// trace, names inside an elementwise chain do not break its fusion.
#pragma once

#include <vlgraph/expr.hpp>

#include <string>

namespace vl {

template <class A>
struct named_expr {
    using op = ops::name;
    static constexpr int rank = A::rank;
    static constexpr kind value_kind = A::value_kind;
    static constexpr shape_t<rank> static_shape = A::static_shape;

    std::string name;
    A a;
    const shape_t<rank>& shape() const { return a.shape(); }
};

template <expression A>
named_expr<A> name(std::string n, A a) {
    return named_expr<A>{std::move(n), std::move(a)};
}

}  // namespace vl
