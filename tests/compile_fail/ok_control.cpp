// Control: the same flags and includes compile a valid program (so the other
// tests fail only because of their static_assert).
#include <vlgraph/backends/cpu/cpu.hpp>
int main() {
    vl::cpu::executor cpu{1};
    const auto x = vl::input<2>(vl::tensor::empty({2, 3}, vl::dtype::f32));
    (void)vl::eval(vl::silu(x) + vl::gather(x, vl::indices<1>(vl::tensor::empty({4}, vl::dtype::i64))).shape()[0] * 0.0f, cpu);
}
