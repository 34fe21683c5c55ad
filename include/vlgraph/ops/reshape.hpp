// vlgraph/ops/reshape.hpp — reshape to a new rank; one extent may be -1
// (inferred). The element order (row-major) is unchanged. A contiguous input is
// reshaped for free (a view); any other input is copied first.
//
//     vl::reshape(x, vl::shape_t<3>{L, H, -1})     // [L, H*D] -> [L, H, D]
#pragma once

#include <vlgraph/expr.hpp>

namespace vl {

template <expression A, int R>
struct reshape_expr {
    using op = ops::view;
    static constexpr int rank = R;
    static constexpr kind value_kind = A::value_kind;
    static constexpr shape_t<R> static_shape = detail::all_dyn<R>();

    reshape_expr(A a_, shape_t<R> s) : a(std::move(a_)), shape_(s) {
        const index_t numel = checked_numel(a.shape());  // sizes from a checkpoint may overflow: refused
        index_t known = 1;
        int infer = -1;
        for (int i = 0; i < R; ++i) {
            const index_t e = shape_[static_cast<std::size_t>(i)];
            if (e == -1) {
                if (infer >= 0) throw shape_error("reshape: more than one -1 in " + to_string<R>(s));
                infer = i;
            } else if (e < 0) {
                throw shape_error("reshape: negative extent in " + to_string<R>(s));
            } else if (__builtin_mul_overflow(known, e, &known)) {
                throw shape_error("reshape: element count of " + to_string<R>(s) + " overflows int64");
            }
        }
        if (infer >= 0) {
            if (known == 0 || numel % known) throw shape_error("reshape: cannot infer -1 in " + to_string<R>(s) + " from " + to_string<A::rank>(a.shape()));
            shape_[static_cast<std::size_t>(infer)] = numel / known;
            known = numel;
        }
        if (known != numel) throw shape_error("reshape: " + to_string<A::rank>(a.shape()) + " cannot be viewed as " + to_string<R>(s));
    }
    A a;
    const shape_t<R>& shape() const { return shape_; }

    template <class Ctx>
    value apply(Ctx& ctx) const {
        value v = ctx.contiguous(a);
        v.rank = R;
        for (int i = 0; i < R; ++i) v.shape[i] = shape_[static_cast<std::size_t>(i)];
        v.set_row_major();
        return v;
    }

private:
    shape_t<R> shape_;
};

template <expression A, std::size_t R>
auto reshape(A a, const std::array<index_t, R>& s) {
    return reshape_expr<A, static_cast<int>(R)>(std::move(a), s);
}

}  // namespace vl
