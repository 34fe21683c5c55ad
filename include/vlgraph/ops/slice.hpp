// vlgraph/ops/slice.hpp — elements [begin, end) along one axis (a view), and
// split: consecutive slices along an axis.
//
//     vl::slice(qkv, -1, 0, D)                         // [L, 3D] -> [L, D]
//     auto [q, k, v] = vl::split(qkv, -1, {D, D, D});  // three [L, D] views
#pragma once

#include <vlgraph/expr.hpp>

namespace vl {

template <expression A>
struct slice_expr {
    using op = ops::view;
    static constexpr int rank = A::rank;
    static constexpr kind value_kind = A::value_kind;
    static constexpr shape_t<rank> static_shape = detail::all_dyn<rank>();

    slice_expr(A a_, int axis, index_t begin, index_t end) : a(std::move(a_)), shape_(a.shape()) {
        if (axis < -rank || axis >= rank) throw shape_error("slice: axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
        axis_ = axis < 0 ? axis + rank : axis;
        const index_t n = shape_[static_cast<std::size_t>(axis_)];
        if (begin < 0 || end < begin || end > n)
            throw shape_error("slice: [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for axis " + std::to_string(axis_) + " of " +
                              to_string<rank>(a.shape()));
        begin_ = begin;
        shape_[static_cast<std::size_t>(axis_)] = end - begin;
    }
    A a;
    const shape_t<rank>& shape() const { return shape_; }
    int axis() const { return axis_; }
    index_t begin() const { return begin_; }

    template <class Ctx>
    value apply(Ctx& ctx) const {
        value v = ctx.view(a);
        if (v.data) v.data = static_cast<char*>(v.data) + begin_ * v.strides[axis_] * static_cast<index_t>(size_of(v.type));
        v.shape[axis_] = shape_[static_cast<std::size_t>(axis_)];
        return v;
    }

private:
    shape_t<rank> shape_;
    int axis_ = 0;
    index_t begin_ = 0;
};

template <expression A>
auto slice(A a, int axis, index_t begin, index_t end) {
    return slice_expr<A>(std::move(a), axis, begin, end);
}

// Consecutive slices of the given sizes; the sizes must add up to the extent.
template <expression A, std::size_t N>
std::array<slice_expr<A>, N> split(const A& a, int axis, const std::array<index_t, N>& sizes) {
    if (axis < -A::rank || axis >= A::rank) throw shape_error("split: axis " + std::to_string(axis) + " out of range for rank " + std::to_string(A::rank));
    const int ax = axis < 0 ? axis + A::rank : axis;
    index_t total = 0;
    for (index_t s : sizes) total += s;
    if (total != a.shape()[static_cast<std::size_t>(ax)])
        throw shape_error("split: sizes add up to " + std::to_string(total) + " but axis " + std::to_string(ax) + " of " + to_string<A::rank>(a.shape()) +
                          " has " + std::to_string(a.shape()[static_cast<std::size_t>(ax)]));
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        std::array<index_t, N> begin{};
        for (std::size_t i = 1; i < N; ++i) begin[i] = begin[i - 1] + sizes[i - 1];
        return std::array<slice_expr<A>, N>{slice_expr<A>(a, ax, begin[I], begin[I] + sizes[I])...};
    }(std::make_index_sequence<N>{});
}

}  // namespace vl
