// vlgraph/ops/permute.hpp — reorder axes: output axis i is input axis order[i].
// Always a view (strides permuted, no copy); consumers that need contiguous
// data copy it then.
//
//     vl::permute(x, {1, 0, 2})    // [L, H, D] -> [H, L, D]
#pragma once

#include <vlgraph/expr.hpp>

namespace vl {

template <expression A>
struct permute_expr {
    using op = ops::view;
    static constexpr int rank = A::rank;
    static constexpr kind value_kind = A::value_kind;
    static constexpr shape_t<rank> static_shape = detail::all_dyn<rank>();

    permute_expr(A a_, std::array<int, rank> order) : a(std::move(a_)), order_(order) {
        std::array<bool, rank> seen{};
        for (int i = 0; i < rank; ++i) {
            int o = order_[static_cast<std::size_t>(i)];
            if (o < 0) o += rank;
            if (o < 0 || o >= rank || seen[static_cast<std::size_t>(o)])
                throw shape_error("permute: order is not a permutation of 0.." + std::to_string(rank - 1));
            seen[static_cast<std::size_t>(o)] = true;
            order_[static_cast<std::size_t>(i)] = o;
            shape_[static_cast<std::size_t>(i)] = a.shape()[static_cast<std::size_t>(o)];
        }
    }
    A a;
    const shape_t<rank>& shape() const { return shape_; }

    template <class Ctx>
    value apply(Ctx& ctx) const {
        const value in = ctx.view(a);
        value v = in;
        for (int i = 0; i < rank; ++i) {
            v.shape[i] = in.shape[order_[static_cast<std::size_t>(i)]];
            v.strides[i] = in.strides[order_[static_cast<std::size_t>(i)]];
        }
        return v;
    }

private:
    std::array<int, rank> order_;
    shape_t<rank> shape_{};
};

template <expression A>
auto permute(A a, std::array<int, A::rank> order) {
    return permute_expr<A>(std::move(a), order);
}

}  // namespace vl
