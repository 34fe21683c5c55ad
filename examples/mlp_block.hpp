// examples/mlp_block.hpp — the expression of docs/architecture.md: a pre-norm
// SwiGLU MLP block, written once, evaluated by any executor.
#pragma once

#include <vlgraph/vlgraph.hpp>

// x + down( silu(gate(n)) * up(n) ),  n = rms_norm(x)        x: [L, D]
template <class Executor>
vl::tensor mlp_block(const vl::tensor& x_, const vl::tensor& norm_w, const vl::tensor& w_gate, const vl::tensor& w_up,
                     const vl::tensor& w_down, Executor& exec) {
    auto x = vl::input<2>(x_);                                                  // [L, D]
    auto n = vl::share(vl::name("mlp.norm",                                     // [L, D]  computed once
                                vl::rms_norm(x, vl::input<1>(norm_w), 1e-6f, vl::rms_weight::one_plus)));
    auto gate = vl::linear(n, vl::input<2>(w_gate));                            // [L, I]
    auto up = vl::linear(n, vl::input<2>(w_up));                                // [L, I]
    auto act = vl::name("mlp.act", vl::silu(gate) * up);                        // [L, I]  fused
    auto y = x + vl::linear(act, vl::input<2>(w_down));                         // [L, D]  fused add
    return vl::eval(y, exec);  // lowered here: 3 GEMMs, 1 norm, 2 fused kernels
}
