// examples/mlp_block_cpu.cpp — runs examples/mlp_block.hpp on the CPU backend
// and prints the named intermediates it traced.
#include "mlp_block.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>

#include <cstdio>

int main() {
    const vl::index_t L = 4, D = 8, I = 16;
    auto filled = [](vl::dims shape, float scale) {
        vl::tensor t = vl::tensor::empty(shape, vl::dtype::f32);
        for (vl::index_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = scale * static_cast<float>((i * 7) % 11 - 5);
        return t;
    };
    vl::cpu::executor cpu{2};
    cpu.trace = [](std::string_view name, const vl::tensor& t) { std::printf("  traced %-9.*s %s\n", int(name.size()), name.data(), vl::to_string(t.shape()).c_str()); };
    const vl::tensor y = mlp_block(filled({L, D}, 0.1f), filled({D}, 0.01f), filled({I, D}, 0.05f), filled({I, D}, 0.05f), filled({D, I}, 0.05f), cpu);
    std::printf("y %s, y[0][0] = %.6f\n", vl::to_string(y.shape()).c_str(), static_cast<double>(y.data<float>()[0]));
    return 0;
}
