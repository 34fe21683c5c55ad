// vlgraph/ops/elementwise.hpp — the two elementwise node templates and the
// broadcasting rule. The scalar functions themselves live in ops/unary.hpp and
// ops/binary.hpp; the backends fuse any chain of these nodes into one kernel
// (backends/<backend>/elementwise.*).
//
// Broadcasting (NumPy rule): shapes are aligned on the right; two extents
// match when equal or when one of them is 1.
//
//     a: [L, 1, D]     b:    [H, D]     a + b: [L, H, D]
#pragma once

#include <vlgraph/expr.hpp>

#include <algorithm>

namespace vl {

namespace detail {
template <int RA, int RB>
constexpr bool static_broadcastable(const shape_t<RA>& a, const shape_t<RB>& b) {
    constexpr int R = RA > RB ? RA : RB;
    for (int i = 0; i < R; ++i) {
        const index_t x = i < R - RA ? 1 : a[static_cast<std::size_t>(i - (R - RA))];
        const index_t y = i < R - RB ? 1 : b[static_cast<std::size_t>(i - (R - RB))];
        if (x != dyn && y != dyn && x != y && x != 1 && y != 1) return false;
    }
    return true;
}
template <int RA, int RB>
constexpr auto static_broadcast(const shape_t<RA>& a, const shape_t<RB>& b) {
    constexpr int R = RA > RB ? RA : RB;
    shape_t<R> out{};
    for (int i = 0; i < R; ++i) {
        const index_t x = i < R - RA ? 1 : a[static_cast<std::size_t>(i - (R - RA))];
        const index_t y = i < R - RB ? 1 : b[static_cast<std::size_t>(i - (R - RB))];
        out[static_cast<std::size_t>(i)] = (x == 1) ? y : (y == 1) ? x : (x == dyn ? y : x);
    }
    return out;
}
template <int RA, int RB>
shape_t<(RA > RB ? RA : RB)> broadcast(const char* op, const shape_t<RA>& a, const shape_t<RB>& b) {
    constexpr int R = RA > RB ? RA : RB;
    shape_t<R> out{};
    for (int i = 0; i < R; ++i) {
        const index_t x = i < R - RA ? 1 : a[static_cast<std::size_t>(i - (R - RA))];
        const index_t y = i < R - RB ? 1 : b[static_cast<std::size_t>(i - (R - RB))];
        if (x != y && x != 1 && y != 1)
            throw shape_error(std::string(op) + ": cannot broadcast " + to_string<RA>(a) + " with " + to_string<RB>(b));
        out[static_cast<std::size_t>(i)] = x == 1 ? y : x;
    }
    return out;
}
}  // namespace detail

// f(a) for every element. F is a scalar function type from ops/unary.hpp.
template <class F, floating_expression A>
struct unary_expr {
    using op = ops::elementwise;
    using function = F;
    static constexpr int function_arity = 1;
    static constexpr int rank = A::rank;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<rank> static_shape = A::static_shape;

    A a;
    const shape_t<rank>& shape() const { return a.shape(); }
};

// f(a, b) for every element of the broadcast shape. F is from ops/binary.hpp.
template <class F, floating_expression A, floating_expression B>
struct binary_expr {
    using op = ops::elementwise;
    using function = F;
    static constexpr int function_arity = 2;
    static_assert(detail::static_broadcastable<A::rank, B::rank>(A::static_shape, B::static_shape),
                  "vl: elementwise operands have fixed extents that cannot broadcast");
    static constexpr int rank = A::rank > B::rank ? A::rank : B::rank;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<rank> static_shape = detail::static_broadcast<A::rank, B::rank>(A::static_shape, B::static_shape);

    binary_expr(A a_, B b_) : a(std::move(a_)), b(std::move(b_)), shape_(detail::broadcast<A::rank, B::rank>(F::name, a.shape(), b.shape())) {}
    A a;
    B b;
    const shape_t<rank>& shape() const { return shape_; }

private:
    shape_t<rank> shape_;
};

template <class T> inline constexpr bool is_elementwise_v = std::is_same_v<typename T::op, ops::elementwise>;

namespace detail {
template <class T>
auto as_expr(T&& v) {
    if constexpr (std::is_arithmetic_v<std::remove_cvref_t<T>>) return constant_expr{static_cast<float>(v)};
    else return std::forward<T>(v);
}
template <class T>
using as_expr_t = decltype(as_expr(std::declval<T>()));
}  // namespace detail

// Builds f(a) / f(a, b); scalars (float, double, int) become constants.
template <class F, class A>
auto make_unary(A&& a) {
    using EA = std::remove_cvref_t<detail::as_expr_t<A>>;
    static_assert(floating_expression<EA>, "vl: elementwise ops take floating expressions (integer inputs are for gather)");
    return unary_expr<F, EA>{detail::as_expr(std::forward<A>(a))};
}
template <class F, class A, class B>
auto make_binary(A&& a, B&& b) {
    using EA = std::remove_cvref_t<detail::as_expr_t<A>>;
    using EB = std::remove_cvref_t<detail::as_expr_t<B>>;
    static_assert(expression<EA> && expression<EB>, "vl: elementwise operands must be vl expressions or arithmetic scalars");
    static_assert(floating_expression<EA> && floating_expression<EB>,
                  "vl: elementwise ops take floating expressions (integer inputs are for gather)");
    return binary_expr<F, EA, EB>(detail::as_expr(std::forward<A>(a)), detail::as_expr(std::forward<B>(b)));
}

}  // namespace vl
