// bench/bench_gemm.cpp — CPU GEMM (vl::linear, y = x·Wᵀ) throughput as a fraction
// of the measured FMA peak, for 1 thread and all threads.
//
//   build/bin/bench_gemm [threads]        (VLGRAPH_CPU_ISA=avx2 or portable: a narrower kernel)
//
// Shapes: square GEMMs and the Qwen3.6-27B projections at a 256-token prefill
// (x [256, 5120] · W[N, 5120]ᵀ). Each is timed best-of-5 after a warm-up.
#include "machine_peak.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

namespace {

vl::tensor random_matrix(vl::index_t rows, vl::index_t cols, unsigned seed) {
    vl::tensor t = vl::tensor::empty({rows, cols}, vl::dtype::f32);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (vl::index_t i = 0; i < rows * cols; ++i) t.data<float>()[i] = u(rng);
    return t;
}

double gemm_gflops(vl::cpu::executor& exec, vl::index_t m, vl::index_t n, vl::index_t k) {
    const auto expr = vl::linear(vl::input<2>(random_matrix(m, k, 1)), vl::input<2>(random_matrix(n, k, 2)));
    vl::eval(expr, exec);  // warm-up (also sizes the arena)
    double best = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        vl::eval(expr, exec);
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) / best * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
    const int all = argc > 1 ? std::atoi(argv[1]) : static_cast<int>(std::thread::hardware_concurrency());
    struct shape {
        const char* what;
        vl::index_t m, n, k;
    };
    const shape shapes[] = {
        {"square 512", 512, 512, 512},
        {"square 1024", 1024, 1024, 1024},
        {"27B mlp.up_proj  L=256", 256, 17408, 5120},
        {"27B attn.o_proj  L=256", 256, 5120, 6144},
        {"27B gdn.in_proj_qkv L=256", 256, 10240, 5120},
    };
    for (int threads : {1, all}) {
        const double peak = vl::bench::checked_fma_peak(threads);
        vl::cpu::executor exec{threads};
        std::printf("threads %d: measured FMA peak %.1f GFLOP/s; kernels: %s\n", threads, peak, std::string(vl::cpu::isa_name(vl::cpu::active_isa())).c_str());
        for (const shape& s : shapes) {
            const double g = gemm_gflops(exec, s.m, s.n, s.k);
            std::printf("  %-28s M=%-5ld N=%-6ld K=%-5ld %7.1f GFLOP/s  %5.1f%% of peak\n", s.what, static_cast<long>(s.m), static_cast<long>(s.n),
                        static_cast<long>(s.k), g, 100.0 * g / peak);
        }
        if (all == 1) break;
    }
    return 0;
}
