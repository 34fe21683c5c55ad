// bench/machine_peak.hpp — measures this machine's f32 FMA peak (GFLOP/s) so
// benchmarks can report their rate as a fraction of it.
//
// Each thread runs 12 independent chains of 8-wide fused multiply-adds held in
// registers (enough chains to cover FMA latency x 2 FMA ports); compiled with
// -march=native this is the vfmadd throughput limit of the core.
#pragma once

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace vl::bench {

using v8f = float __attribute__((vector_size(32)));

__attribute__((noinline)) inline float fma_chains(long iterations, float seed) {
    v8f acc[12];
    const v8f a = {0.999999f, 0.999999f, 0.999999f, 0.999999f, 0.999999f, 0.999999f, 0.999999f, 0.999999f};
    const v8f b = {1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f};
    for (int i = 0; i < 12; ++i) acc[i] = v8f{} + seed + static_cast<float>(i);
    for (long it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) acc[i] = acc[i] * a + b;
    }
    float s = 0;
    for (int i = 0; i < 12; ++i)
        for (int j = 0; j < 8; ++j) s += acc[i][j];
    return s;
}

// Peak GFLOP/s with `threads` threads (best of 3 runs).
inline double fma_peak_gflops(int threads) {
    const long iterations = 20'000'000;
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        std::vector<std::thread> pool;
        std::vector<float> sink(static_cast<std::size_t>(threads));
        const auto t0 = std::chrono::steady_clock::now();
        for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sink[static_cast<std::size_t>(t)] = fma_chains(iterations, static_cast<float>(t)); });
        for (auto& th : pool) th.join();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double flops = static_cast<double>(iterations) * 12 * 8 * 2 * threads;
        best = std::max(best, flops / s * 1e-9);
        if (sink[0] == 12345.f) std::puts("");  // keeps the result alive
    }
    return best;
}

}  // namespace vl::bench
