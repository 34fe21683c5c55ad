// vlgraph/ops/matmul.hpp — (batched) matrix product.
//
//     a: [..., M, K]   b: [..., K, N]  or  [K, N] (shared by every batch)   ->  [..., M, N]
//
// Batch extents of a and b must be equal (no broadcasting beyond a shared
// rank-2 b). A materialisation point; same precision contract as linear.
#pragma once

#include <vlgraph/expr.hpp>

namespace vl {
namespace ops {
struct matmul {};
}

template <floating_expression A, floating_expression B>
struct matmul_expr {
    using op = ops::matmul;
    static_assert(A::rank >= 2 && B::rank >= 2, "vl::matmul: both operands need rank >= 2");
    static_assert(B::rank == 2 || B::rank == A::rank, "vl::matmul: b is [K, N] or has a's rank");
    static constexpr int rank = A::rank;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<rank> static_shape = detail::all_dyn<rank>();

    matmul_expr(A a_, B b_) : a(std::move(a_)), b(std::move(b_)), shape_(a.shape()) {
        const auto& sa = a.shape();
        const auto& sb = b.shape();
        if (sa[rank - 1] != sb[B::rank - 2])
            throw shape_error("matmul: inner extents differ: a " + to_string<rank>(sa) + ", b " + to_string<B::rank>(sb));
        if constexpr (B::rank == rank)
            for (int i = 0; i < rank - 2; ++i)
                if (sa[static_cast<std::size_t>(i)] != sb[static_cast<std::size_t>(i)])
                    throw shape_error("matmul: batch extents differ: a " + to_string<rank>(sa) + ", b " + to_string<B::rank>(sb));
        shape_[rank - 1] = sb[B::rank - 1];
    }
    A a;
    B b;
    const shape_t<rank>& shape() const { return shape_; }

private:
    shape_t<rank> shape_;
};

template <floating_expression A, floating_expression B>
auto matmul(A a, B b) {
    return matmul_expr<A, B>(std::move(a), std::move(b));
}

}  // namespace vl
