// vlgraph/ops/binary.hpp — elementwise binary functions with broadcasting
// (rule in ops/elementwise.hpp). Operators + - * / are defined for any pair of
// expressions, or an expression and an arithmetic scalar.
#pragma once

#include <vlgraph/ops/elementwise.hpp>

namespace vl {
namespace fn {
struct add {
    static constexpr const char* name = "add";
    static VL_HOST_DEVICE float apply(float a, float b) { return a + b; }
};
struct sub {
    static constexpr const char* name = "sub";
    static VL_HOST_DEVICE float apply(float a, float b) { return a - b; }
};
struct mul {
    static constexpr const char* name = "mul";
    static VL_HOST_DEVICE float apply(float a, float b) { return a * b; }
};
struct div {
    static constexpr const char* name = "div";
    static VL_HOST_DEVICE float apply(float a, float b) { return a / b; }
};
}  // namespace fn

namespace detail {
// At least one side is an expression, the other an expression or a scalar.
template <class A, class B>
concept binary_operands = (expression<std::remove_cvref_t<A>> && (expression<std::remove_cvref_t<B>> || std::is_arithmetic_v<std::remove_cvref_t<B>>)) ||
                          (std::is_arithmetic_v<std::remove_cvref_t<A>> && expression<std::remove_cvref_t<B>>);
}  // namespace detail

template <class A, class B> requires detail::binary_operands<A, B>
auto add(A&& a, B&& b) { return make_binary<fn::add>(std::forward<A>(a), std::forward<B>(b)); }
template <class A, class B> requires detail::binary_operands<A, B>
auto sub(A&& a, B&& b) { return make_binary<fn::sub>(std::forward<A>(a), std::forward<B>(b)); }
template <class A, class B> requires detail::binary_operands<A, B>
auto mul(A&& a, B&& b) { return make_binary<fn::mul>(std::forward<A>(a), std::forward<B>(b)); }
template <class A, class B> requires detail::binary_operands<A, B>
auto div(A&& a, B&& b) { return make_binary<fn::div>(std::forward<A>(a), std::forward<B>(b)); }

template <class A, class B> requires detail::binary_operands<A, B>
auto operator+(A&& a, B&& b) { return add(std::forward<A>(a), std::forward<B>(b)); }
template <class A, class B> requires detail::binary_operands<A, B>
auto operator-(A&& a, B&& b) { return sub(std::forward<A>(a), std::forward<B>(b)); }
template <class A, class B> requires detail::binary_operands<A, B>
auto operator*(A&& a, B&& b) { return mul(std::forward<A>(a), std::forward<B>(b)); }
template <class A, class B> requires detail::binary_operands<A, B>
auto operator/(A&& a, B&& b) { return div(std::forward<A>(a), std::forward<B>(b)); }

}  // namespace vl
