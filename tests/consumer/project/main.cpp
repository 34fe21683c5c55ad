// Uses the installed (or add_subdirectory'd) vlgraph: sums a vector on the CPU backend.
#include <vlgraph/backends/cpu/cpu.hpp>

#include <cstdio>
#include <vector>

int main() {
    vl::cpu::executor cpu{1};
    const std::vector<float> v{1, 2, 3};
    const vl::tensor s = vl::eval(vl::sum(vl::input<1>(vl::tensor::from(v, {3})), 0), cpu);
    std::printf("consumer ok: 1 2 3 -> %g\n", static_cast<double>(s.data<float>()[0]));
    return 0;
}
