// bench/machine_peak.hpp — measures this machine's f32 FMA peak (GFLOP/s) and its
// memory read bandwidth (GB/s) so benchmarks can report their rate as a fraction
// of the limit that applies: compute for prefill-like work, bandwidth for decode.
//
// FMA peak: each thread runs 12 independent chains of 8-wide fused multiply-adds
// held in registers (enough chains to cover FMA latency x 2 FMA ports); compiled
// with -march=native this is the vfmadd throughput limit of the core.
//
// Read bandwidth: STREAM-like, each thread sums its contiguous share of a 1 GiB
// array (far larger than any cache), see read_bandwidth_gbs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
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

// One sequential stream, 4 independent accumulators.
__attribute__((noinline)) inline float sum_stream(const v8f* p, std::size_t n) {
    v8f acc[4] = {};
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (std::size_t a = 0; a < 4; ++a) acc[a] += p[i + a];
    for (; i < n; ++i) acc[0] += p[i];
    v8f s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    return s[0] + s[7];
}

// Blocks of 8 rows of `row` vectors, the 8 rows of a block read in lockstep: the pattern of the decode
// GEMV (backends/cpu/gemm.hpp: 8 weight rows per dot-product step). Whole blocks only.
__attribute__((noinline)) inline float sum_rows8(const v8f* p, std::size_t n, std::size_t row) {
    v8f acc[8] = {};
    for (std::size_t b = 0; b + 8 * row <= n; b += 8 * row)
        for (std::size_t q = 0; q < row; ++q)
            for (std::size_t j = 0; j < 8; ++j) acc[j] += p[b + j * row + q];
    v8f s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    return s[0] + s[7];
}

// Read bandwidth in GB/s (10^9 bytes) with `threads` threads, each reading its contiguous share of a
// 1 GiB array: the best of 5 passes of each of two patterns, one sequential stream per thread and
// sum_rows8 over rows of 5120 floats (a 27B weight row). On the 2-core VM this was written on a single
// stream per core reaches only 60-75 % of the 8-row pattern (the prefetchers cover more misses with
// several streams), so the single stream alone would understate the limit decode runs against.
inline double read_bandwidth_gbs(int threads) {
    const std::size_t row = 5120 / 8, n = (std::size_t{1} << 30) / sizeof(v8f);
    const std::vector<v8f> data(n, v8f{} + 1.0f);  // filled, so every page is mapped before timing
    const std::size_t share = n / static_cast<std::size_t>(threads) / (8 * row) * (8 * row);
    double best = 0;
    for (int rep = 0; rep < 10; ++rep) {
        const bool rows = rep % 2 == 1;
        std::vector<std::thread> pool;
        std::vector<float> sink(static_cast<std::size_t>(threads));
        const auto t0 = std::chrono::steady_clock::now();
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                const v8f* p = data.data() + static_cast<std::size_t>(t) * share;
                sink[static_cast<std::size_t>(t)] = rows ? sum_rows8(p, share, row) : sum_stream(p, share);
            });
        for (auto& th : pool) th.join();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, static_cast<double>(share * static_cast<std::size_t>(threads) * sizeof(v8f)) / s * 1e-9);
        if (sink[0] == 12345.f) std::puts("");  // keeps the result alive
    }
    return best;
}

}  // namespace vl::bench
