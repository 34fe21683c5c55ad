// bench/machine_peak.hpp — measures this machine's f32 FMA peak (GFLOP/s) and its
// memory read bandwidth (GB/s) so benchmarks can report their rate as a fraction
// of the limit that applies: compute for prefill-like work, bandwidth for decode.
//
// FMA peak, on the widest vector unit the CPU has (chosen at run time, whatever the
// benchmark was compiled for): each thread runs 12 independent chains of fused
// multiply-adds held in registers (enough to cover FMA latency × 2 FMA ports), 16
// lanes with AVX-512, 8 with AVX2 + FMA, 4 otherwise. Readings repeat until the best
// three agree within 1 %; a machine that never settles (another process on the cores)
// is reported as disturbed, and the benchmarks refuse such a reading (see
// checked_fma_peak) rather than print fractions of a wrong limit.
//
// Read bandwidth: STREAM-like, each thread sums its contiguous share of a 1 GiB
// array (far larger than any cache), see read_bandwidth_gbs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string_view>
#include <thread>
#include <vector>

namespace vl::bench {

using v8f = float __attribute__((vector_size(32)));

// 12 chains of Lanes-wide fma, `iterations` steps; compiled for the ISA of the caller's target attribute.
#define VL_BENCH_FMA_CHAINS(LANES)                                                          \
    using vec = float __attribute__((vector_size(LANES * 4)));                              \
    vec acc[12];                                                                            \
    const vec a = vec{} + 0.999999f, b = vec{} + 1e-7f;                                     \
    for (int i = 0; i < 12; ++i) acc[i] = vec{} + seed + static_cast<float>(i);            \
    for (long it = 0; it < iterations; ++it) {                                             \
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; ++i) acc[i] = acc[i] * a + b;     \
    }                                                                                       \
    float s = 0;                                                                            \
    for (int i = 0; i < 12; ++i)                                                            \
        for (int j = 0; j < LANES; ++j) s += acc[i][j];                                     \
    return s;

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((noinline, target("avx512f"))) inline float fma_chains_16(long iterations, float seed) { VL_BENCH_FMA_CHAINS(16) }
__attribute__((noinline, target("avx2,fma"))) inline float fma_chains_8(long iterations, float seed) { VL_BENCH_FMA_CHAINS(8) }
#endif
__attribute__((noinline)) inline float fma_chains_4(long iterations, float seed) { VL_BENCH_FMA_CHAINS(4) }
#undef VL_BENCH_FMA_CHAINS

struct fma_unit {
    const char* isa;
    int lanes;
    float (*chains)(long, float);
};

// The widest FMA unit of this CPU (cpuid), not of the compiler flags.
inline fma_unit widest_fma_unit() {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) return {"AVX-512", 16, fma_chains_16};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {"AVX2+FMA", 8, fma_chains_8};
#endif
    return {"portable (4 lanes)", 4, fma_chains_4};
}

struct fma_peak {
    double gflops = 0;     // the best reading
    const char* isa = "";  // the unit it was measured on
    int lanes = 0;
    double spread = 0;     // (best − third best) / best over the readings taken
    int readings = 0;
    bool stable = false;   // the best three within 1 %
};

// Peak GFLOP/s with `threads` threads: readings of ~0.1 s until the best three agree within 1 %
// (at least 5, at most 25).
inline fma_peak measure_fma_peak(int threads) {
    const fma_unit unit = widest_fma_unit();
    const long iterations = 64'000'000 / unit.lanes;
    std::vector<double> readings;
    fma_peak r;
    r.isa = unit.isa;
    r.lanes = unit.lanes;
    while (readings.size() < 25) {
        std::vector<std::thread> pool;
        std::vector<float> sink(static_cast<std::size_t>(threads));
        const auto t0 = std::chrono::steady_clock::now();
        for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sink[static_cast<std::size_t>(t)] = unit.chains(iterations, static_cast<float>(t)); });
        for (auto& th : pool) th.join();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        readings.push_back(static_cast<double>(iterations) * 12 * unit.lanes * 2 * threads / s * 1e-9);
        if (sink[0] == 12345.f) std::puts("");  // keeps the result alive
        std::vector<double> best = readings;
        std::sort(best.begin(), best.end(), std::greater<>());
        r.gflops = best[0];
        r.spread = best.size() >= 3 ? (best[0] - best[2]) / best[0] : 1.0;
        r.readings = static_cast<int>(readings.size());
        r.stable = readings.size() >= 5 && r.spread <= 0.01;
        if (r.stable) break;
    }
    return r;
}

// The FMA peak the benchmarks divide by: printed with its unit and spread; a disturbed reading ends the
// benchmark (exit 3) unless VLGRAPH_BENCH_ALLOW_DISTURBED=1, in which case it is printed as such.
inline double checked_fma_peak(int threads) {
    const fma_peak p = measure_fma_peak(threads);
    std::printf("FMA peak, %d thread(s): %.1f GFLOP/s on %s (%d lanes), best 3 of %d readings within %.2f %%%s\n", threads, p.gflops, p.isa,
                p.lanes, p.readings, 100 * p.spread, p.stable ? "" : " — DISTURBED");
    if (!p.stable) {
        const char* allow = std::getenv("VLGRAPH_BENCH_ALLOW_DISTURBED");
        if (!allow || std::string_view(allow) != "1") {
            std::fprintf(stderr, "machine_peak: the FMA peak did not settle (another load on the cores?): refusing to report fractions of it "
                                 "(VLGRAPH_BENCH_ALLOW_DISTURBED=1 to go on anyway)\n");
            std::exit(3);
        }
    }
    std::fflush(stdout);
    return p.gflops;
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
