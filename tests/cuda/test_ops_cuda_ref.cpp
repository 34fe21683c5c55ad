// tests/cuda/test_ops_cuda_ref.cpp — the CPU reference of the CUDA op test,
// compiled by the host compiler (the CPU backend uses Eigen, which nvcc never sees).
#include "op_cases.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>

namespace vl::test {

run_result reference(std::string_view name, const std::vector<tensor>& in) {
    cpu::executor ex(2);
    run_result r;
    ex.trace = [&](std::string_view n, const tensor& t) { r.traced.emplace_back(std::string(n), t); };
    r.out = eval_case(name, in, ex);
    return r;
}

}  // namespace vl::test
