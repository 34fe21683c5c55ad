// vlgraph/expr.hpp — what an expression is.
//
// A model is written as C++ expressions whose *types* form the graph:
//
//     auto h = vl::silu(vl::linear(x, w_gate)) * vl::linear(x, w_up);   // [L, I]
//
// builds an object of type  mul_expr<unary_expr<silu, linear_expr<...>>, linear_expr<...>>.
// The structure (which ops, how they connect, ranks, value kinds) is fixed at
// compile time; extents are run-time values, checked when the node is built
// (a vl::shape_error that names the op). Nothing is computed until
// vl::eval(expr, executor) lowers the tree to a backend (vlgraph/eval.hpp).
//
// Every node type provides
//   using op                 — the op tag; a backend lowers a node by specialising
//                              vl::lowering<Executor, op> (vlgraph/eval.hpp)
//   static constexpr int rank
//   static constexpr kind value_kind            — floating or integer values
//   static constexpr std::array<index_t, rank> static_shape
//                                              — extents known at compile time (vl::dyn = not known)
//   const shape_t<rank>& shape() const          — the run-time extents
#pragma once

#include <vlgraph/config.hpp>
#include <vlgraph/error.hpp>
#include <vlgraph/tensor.hpp>

#include <array>
#include <concepts>
#include <span>
#include <string>
#include <type_traits>

namespace vl {

// Values are floating (computed in the executor's compute type) or integer (ids, indices).
enum class kind { floating, integer };

// An extent not known at compile time.
inline constexpr index_t dyn = -1;

template <int R>
using shape_t = std::array<index_t, static_cast<std::size_t>(R)>;

template <int R>
std::string to_string(const shape_t<R>& s) {
    return vl::to_string(std::span<const index_t>(s.data(), s.size()));
}

namespace ops {
// Op tags of the leaves and of the generic (backend-independent) nodes.
struct input {};        // a tensor
struct constant {};     // a float scalar
struct elementwise {};  // unary / binary maps, fused into one kernel per chain
struct view {};         // reshape / permute / slice: no data movement where possible
struct composite {};    // ops lowered once for all backends from eval-context primitives (concat)
struct name {};         // names an intermediate for tracing
struct copy {};         // backends: strided copy with dtype conversion
}  // namespace ops

template <class T>
concept expression = requires(const T& e) {
    typename T::op;
    { T::rank } -> std::convertible_to<int>;
    { T::value_kind } -> std::convertible_to<kind>;
    { e.shape() } -> std::convertible_to<shape_t<T::rank>>;
    requires std::same_as<std::remove_cvref_t<decltype(T::static_shape)>, shape_t<T::rank>>;
};

template <class T>
concept floating_expression = expression<T> && T::value_kind == kind::floating;
template <class T>
concept integer_expression = expression<T> && T::value_kind == kind::integer;

// Compile-time extents of a leaf: vl::extents<vl::dyn, 64> is a rank-2 shape whose
// last extent is fixed to 64 (checked when a tensor is bound to it).
template <index_t... E>
struct extents {
    static constexpr int rank = static_cast<int>(sizeof...(E));
    static constexpr shape_t<rank> values{E...};
};

namespace detail {
template <int R>
constexpr shape_t<R> all_dyn() {
    shape_t<R> s{};
    for (auto& e : s) e = dyn;
    return s;
}
// A run-time check of an extent against a compile-time one.
inline void check_static_extent(const char* op, index_t fixed, index_t actual, int axis) {
    if (fixed != dyn && fixed != actual)
        throw shape_error(std::string(op) + ": axis " + std::to_string(axis) + " is fixed to " + std::to_string(fixed) + " but got " + std::to_string(actual));
}
template <int R>
shape_t<R> to_shape(std::span<const index_t> d) {
    shape_t<R> s{};
    for (int i = 0; i < R; ++i) s[static_cast<std::size_t>(i)] = d[static_cast<std::size_t>(i)];
    return s;
}
}  // namespace detail

// ---------------------------------------------------------------------------
// Leaves
// ---------------------------------------------------------------------------

// A tensor bound into an expression. The tensor is held by handle (shared
// storage), so the expression stays valid as long as it lives.
template <kind K, int R, shape_t<R> Static>
struct input_expr {
    using op = ops::input;
    static constexpr int rank = R;
    static constexpr kind value_kind = K;
    static constexpr shape_t<R> static_shape = Static;

    explicit input_expr(tensor t) : tensor_(std::move(t)) {
        if (!tensor_.defined()) throw shape_error("input: tensor is empty");
        if (tensor_.rank() != R)
            throw shape_error("input: expression expects rank " + std::to_string(R) + ", tensor " + vl::to_string(tensor_.shape()) + " has rank " +
                              std::to_string(tensor_.rank()));
        if ((K == kind::floating) != is_floating(tensor_.type()))
            throw dtype_error(std::string("input: a ") + (K == kind::floating ? "floating" : "integer") + " input was bound to a " +
                              std::string(name_of(tensor_.type())) + " tensor");
        for (int i = 0; i < R; ++i) detail::check_static_extent("input", Static[static_cast<std::size_t>(i)], tensor_.shape()[static_cast<std::size_t>(i)], i);
        shape_ = detail::to_shape<R>(tensor_.shape());
    }
    const shape_t<R>& shape() const { return shape_; }
    const tensor& value() const { return tensor_; }

private:
    tensor tensor_;
    shape_t<R> shape_;
};

// vl::input<R>(t): a floating tensor of rank R, all extents run-time.
template <int R>
auto input(tensor t) {
    return input_expr<kind::floating, R, detail::all_dyn<R>()>(std::move(t));
}
// vl::input(t, vl::extents<vl::dyn, 64>{}): extents fixed where given.
template <index_t... E>
auto input(tensor t, extents<E...>) {
    return input_expr<kind::floating, extents<E...>::rank, extents<E...>::values>(std::move(t));
}
// vl::indices<R>(t): an integer tensor (token ids, gather indices).
template <int R>
auto indices(tensor t) {
    return input_expr<kind::integer, R, detail::all_dyn<R>()>(std::move(t));
}

// A float scalar; broadcasts against anything (rank 0).
struct constant_expr {
    using op = ops::constant;
    static constexpr int rank = 0;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<0> static_shape{};
    float value;
    const shape_t<0>& shape() const {
        static constexpr shape_t<0> s{};
        return s;
    }
};

}  // namespace vl
