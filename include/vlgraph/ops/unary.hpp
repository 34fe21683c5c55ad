// vlgraph/ops/unary.hpp — elementwise unary functions.
//
// Each is a scalar function on float (the compute type of every backend, also
// when storage is bf16) usable on host and device. Formulas follow PyTorch:
//   sigmoid(x)   = 1 / (1 + e^-x)
//   silu(x)      = x * sigmoid(x)
//   gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (gelu_pytorch_tanh)
//   gelu_erf(x)  = 0.5 x (1 + erf(x / sqrt(2)))                       (exact GELU)
//   softplus(x)  = log(1 + e^x), and x itself for x > 20 (torch's threshold)
#pragma once

#include <vlgraph/ops/elementwise.hpp>

#include <cmath>

namespace vl {
namespace fn {
struct exp {
    static constexpr const char* name = "exp";
    static VL_HOST_DEVICE float apply(float x) { return ::expf(x); }
};
struct neg {
    static constexpr const char* name = "neg";
    static VL_HOST_DEVICE float apply(float x) { return -x; }
};
struct sigmoid {
    static constexpr const char* name = "sigmoid";
    static VL_HOST_DEVICE float apply(float x) { return 1.0f / (1.0f + ::expf(-x)); }
};
struct silu {
    static constexpr const char* name = "silu";
    static VL_HOST_DEVICE float apply(float x) { return x / (1.0f + ::expf(-x)); }
};
struct gelu_tanh {
    static constexpr const char* name = "gelu_tanh";
    static VL_HOST_DEVICE float apply(float x) {
        const float k = 0.7978845608028654f;  // sqrt(2/pi)
        return 0.5f * x * (1.0f + ::tanhf(k * (x + 0.044715f * x * x * x)));
    }
};
struct gelu_erf {
    static constexpr const char* name = "gelu_erf";
    static VL_HOST_DEVICE float apply(float x) { return 0.5f * x * (1.0f + ::erff(x * 0.7071067811865476f)); }
};
struct softplus {
    static constexpr const char* name = "softplus";
    static VL_HOST_DEVICE float apply(float x) { return x > 20.0f ? x : ::log1pf(::expf(x)); }
};
}  // namespace fn

template <class A> auto exp(A&& a) { return make_unary<fn::exp>(std::forward<A>(a)); }
template <class A> auto sigmoid(A&& a) { return make_unary<fn::sigmoid>(std::forward<A>(a)); }
template <class A> auto silu(A&& a) { return make_unary<fn::silu>(std::forward<A>(a)); }
template <class A> auto gelu_tanh(A&& a) { return make_unary<fn::gelu_tanh>(std::forward<A>(a)); }
template <class A> auto gelu_erf(A&& a) { return make_unary<fn::gelu_erf>(std::forward<A>(a)); }
template <class A> auto softplus(A&& a) { return make_unary<fn::softplus>(std::forward<A>(a)); }
template <expression A> auto operator-(A a) { return make_unary<fn::neg>(std::move(a)); }

}  // namespace vl
