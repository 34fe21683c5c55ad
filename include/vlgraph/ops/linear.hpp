// vlgraph/ops/linear.hpp — a fully connected layer, weights as checkpoints store them.
//
//     y = x · Wᵀ (+ b)        x: [..., K],  W: [N, K] (nn.Linear layout [out, in]),  b: [N]
//                            y: [..., N]
//
// A materialisation point (GEMM). The bias add is fused into the GEMM
// (an epilogue on CUDA). CPU: f32 FMA accumulation, result independent of the
// thread count; CUDA: storage dtype inputs, f32 accumulation (cuBLASLt).
#pragma once

#include <vlgraph/expr.hpp>

namespace vl {
namespace ops {
struct linear {};
}

// Marks "no bias".
struct no_bias {
    using op = void;
    static constexpr int rank = 1;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<1> static_shape{dyn};
};

template <floating_expression X, floating_expression W, class B = no_bias>
struct linear_expr {
    using op = ops::linear;
    static constexpr bool has_bias = !std::is_same_v<B, no_bias>;
    static_assert(X::rank >= 1, "vl::linear: x must be [..., K]");
    static_assert(W::rank == 2, "vl::linear: the weight must be [N, K] (out_features, in_features)");
    static_assert(B::rank == 1, "vl::linear: the bias must be [N]");
    static_assert(X::static_shape[X::rank - 1] == dyn || W::static_shape[1] == dyn || X::static_shape[X::rank - 1] == W::static_shape[1],
                  "vl::linear: fixed in_features of x and W differ");
    static constexpr int rank = X::rank;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<rank> static_shape = [] {
        shape_t<rank> s = X::static_shape;
        s[rank - 1] = W::static_shape[0];
        return s;
    }();

    linear_expr(X x_, W w_, B b_ = {}) : x(std::move(x_)), w(std::move(w_)), b(std::move(b_)), shape_(x.shape()) {
        const index_t k = x.shape()[rank - 1];
        if (w.shape()[1] != k)
            throw shape_error("linear: x " + to_string<rank>(x.shape()) + " has " + std::to_string(k) + " input features, W " + to_string<2>(w.shape()) +
                              " expects " + std::to_string(w.shape()[1]));
        if constexpr (has_bias)
            if (b.shape()[0] != w.shape()[0])
                throw shape_error("linear: bias " + to_string<1>(b.shape()) + " does not match the " + std::to_string(w.shape()[0]) + " output features of W");
        shape_[rank - 1] = w.shape()[0];
    }
    X x;
    W w;
    [[no_unique_address]] B b;
    const shape_t<rank>& shape() const { return shape_; }

private:
    shape_t<rank> shape_;
};

template <floating_expression X, floating_expression W>
auto linear(X x, W w) {
    return linear_expr<X, W>(std::move(x), std::move(w));
}
template <floating_expression X, floating_expression W, floating_expression B>
auto linear(X x, W w, B b) {
    return linear_expr<X, W, B>(std::move(x), std::move(w), std::move(b));
}

}  // namespace vl
