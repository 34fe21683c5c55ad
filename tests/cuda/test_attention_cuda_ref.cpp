// tests/cuda/test_attention_cuda_ref.cpp — the CPU reference of the CUDA attention
// test, compiled by the host compiler (the CPU backend uses Eigen, which nvcc never sees).
#include <vlgraph/backends/cpu/cpu.hpp>

namespace vl::test {

tensor attention_cpu(const tensor& q, const tensor& k, const tensor& v, float scale, const attention_mask& mask) {
    cpu::executor ex(2);
    return eval(attention(input<3>(q), input<3>(k), input<3>(v), scale, mask), ex);
}

}  // namespace vl::test
