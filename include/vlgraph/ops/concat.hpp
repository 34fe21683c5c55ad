// vlgraph/ops/concat.hpp — concatenation along one axis. All parts have the
// same rank and the same extents except along `axis`. Each part is written
// straight into its slice of the output (elementwise parts stay fused), with
// the eval context's own primitives, so one lowering serves every backend.
//
//     vl::concat(-1, a, b)      // [L, 3] ++ [L, 5] -> [L, 8]
#pragma once

#include <vlgraph/expr.hpp>

#include <tuple>

namespace vl {
template <expression... Parts>
struct concat_expr {
    using op = ops::composite;
    using first = std::tuple_element_t<0, std::tuple<Parts...>>;
    static_assert(((Parts::rank == first::rank) && ...), "vl::concat: all parts must have the same rank");
    static_assert(((Parts::value_kind == first::value_kind) && ...), "vl::concat: all parts must be floating, or all integer");
    static constexpr int rank = first::rank;
    static constexpr kind value_kind = first::value_kind;
    static constexpr shape_t<rank> static_shape = detail::all_dyn<rank>();

    concat_expr(int axis, Parts... ps) : parts(std::move(ps)...) {
        if (axis < -rank || axis >= rank) throw shape_error("concat: axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
        axis_ = axis < 0 ? axis + rank : axis;
        shape_ = std::get<0>(parts).shape();
        shape_[static_cast<std::size_t>(axis_)] = 0;
        std::apply([&](const auto&... p) { (check(p.shape()), ...); }, parts);
    }
    std::tuple<Parts...> parts;
    int axis() const { return axis_; }
    const shape_t<rank>& shape() const { return shape_; }

    template <class Ctx>
    value apply(Ctx& ctx) const {
        // integer parts (ids) stay integer: i64, as vl::eval returns integer expressions
        value out = ctx.alloc(shape_, value_kind == kind::integer ? dtype::i64 : Ctx::compute_dtype);
        index_t at = 0;
        std::apply(
            [&](const auto&... part) {
                ([&] {
                    value dst = out;
                    const index_t len = part.shape()[static_cast<std::size_t>(axis_)];
                    if (dst.data) dst.data = static_cast<char*>(dst.data) + at * dst.strides[axis_] * static_cast<index_t>(size_of(dst.type));
                    dst.shape[axis_] = len;
                    ctx.assign(dst, part);
                    at += len;
                }(), ...);
            },
            parts);
        return out;
    }

private:
    void check(const shape_t<rank>& s) {
        for (int i = 0; i < rank; ++i)
            if (i != axis_ && s[static_cast<std::size_t>(i)] != shape_[static_cast<std::size_t>(i)])
                throw shape_error("concat: part " + to_string<rank>(s) + " does not match " + to_string<rank>(std::get<0>(parts).shape()) + " outside axis " +
                                  std::to_string(axis_));
        shape_[static_cast<std::size_t>(axis_)] += s[static_cast<std::size_t>(axis_)];
    }
    int axis_ = 0;
    shape_t<rank> shape_{};
};

template <expression... Parts>
auto concat(int axis, Parts... parts) {
    static_assert(sizeof...(Parts) >= 1, "vl::concat: needs at least one part");
    return concat_expr<Parts...>(axis, std::move(parts)...);
}

}  // namespace vl
