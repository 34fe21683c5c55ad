// tests/cuda/test_delta_rule_cuda_ref.cpp — the CPU reference of the CUDA gated delta rule test, compiled by
// the host compiler (the CPU backend uses Eigen, which nvcc never sees).
#include <vlgraph/backends/cpu/cpu.hpp>

namespace vl::test {

tensor gated_delta_rule_cpu(const tensor& q, const tensor& k, const tensor& v, const tensor& g, const tensor& beta, const tensor& state,
                            delta_rule_form form) {
    cpu::executor ex(2);
    return eval(gated_delta_rule(input<3>(q), input<3>(k), input<3>(v), input<2>(g), input<2>(beta), state, form), ex);
}

}  // namespace vl::test
