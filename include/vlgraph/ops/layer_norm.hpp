// vlgraph/ops/layer_norm.hpp — LayerNorm over the last axis, with weight and bias.
//
//     y = (x - mean(x)) / sqrt(var(x) + eps) * w + b        var: biased (1/D)
//
// x: [..., D], w: [D], b: [D] -> [..., D]. Statistics in f64 on the CPU backend,
// f32 on CUDA. (The Qwen3.6 vision tower uses eps = 1e-6.)
#pragma once

#include <vlgraph/expr.hpp>

namespace vl {
namespace ops {
struct layer_norm {};
}

namespace detail {
// Shared shape rule of the last-axis norms: x [..., D] with per-feature vectors [D].
template <int RX, int RW>
void check_feature_vector(const char* op, const char* what, const shape_t<RX>& x, const shape_t<RW>& w) {
    if (w[0] != x[RX - 1])
        throw shape_error(std::string(op) + ": " + what + " " + to_string<RW>(w) + " does not match the last axis of x " + to_string<RX>(x));
}
}  // namespace detail

template <floating_expression X, floating_expression W, floating_expression B>
struct layer_norm_expr {
    using op = ops::layer_norm;
    static_assert(X::rank >= 1 && W::rank == 1 && B::rank == 1, "vl::layer_norm: x is [..., D], weight and bias are [D]");
    static constexpr int rank = X::rank;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<rank> static_shape = X::static_shape;

    layer_norm_expr(X x_, W w_, B b_, float eps_) : x(std::move(x_)), w(std::move(w_)), b(std::move(b_)), eps(eps_) {
        detail::check_feature_vector<rank, 1>("layer_norm", "weight", x.shape(), w.shape());
        detail::check_feature_vector<rank, 1>("layer_norm", "bias", x.shape(), b.shape());
    }
    X x;
    W w;
    B b;
    float eps;
    const shape_t<rank>& shape() const { return x.shape(); }
};

template <floating_expression X, floating_expression W, floating_expression B>
auto layer_norm(X x, W w, B b, float eps) {
    return layer_norm_expr<X, W, B>(std::move(x), std::move(w), std::move(b), eps);
}

}  // namespace vl
