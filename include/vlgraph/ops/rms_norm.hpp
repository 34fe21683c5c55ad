// vlgraph/ops/rms_norm.hpp — RMSNorm over the last axis.
//
//     plain:     y = x / sqrt(mean(x^2) + eps) * w
//     one_plus:  y = x / sqrt(mean(x^2) + eps) * (1 + w)     (zero-centred weight)
//
// x: [..., D], w: [D] -> [..., D]. Qwen3.6 uses one_plus for every norm of its
// language model except the Gated DeltaNet's gated norm, which is plain
// (spec §5.2, gotcha 1). mean(x^2) in f64 on the CPU backend, f32 on CUDA.
#pragma once

#include <vlgraph/ops/layer_norm.hpp>

namespace vl {
namespace ops {
struct rms_norm {};
}
enum class rms_weight { plain, one_plus };

template <floating_expression X, floating_expression W>
struct rms_norm_expr {
    using op = ops::rms_norm;
    static_assert(X::rank >= 1 && W::rank == 1, "vl::rms_norm: x is [..., D], weight is [D]");
    static constexpr int rank = X::rank;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<rank> static_shape = X::static_shape;

    rms_norm_expr(X x_, W w_, float eps_, rms_weight v) : x(std::move(x_)), w(std::move(w_)), eps(eps_), weight(v) {
        detail::check_feature_vector<rank, 1>("rms_norm", "weight", x.shape(), w.shape());
    }
    X x;
    W w;
    float eps;
    rms_weight weight;
    const shape_t<rank>& shape() const { return x.shape(); }
};

template <floating_expression X, floating_expression W>
auto rms_norm(X x, W w, float eps, rms_weight v = rms_weight::plain) {
    return rms_norm_expr<X, W>(std::move(x), std::move(w), eps, v);
}

}  // namespace vl
