// backends/cpu/cpu_isa.hpp — which vector unit the CPU kernels use, chosen once at run time.
//
// The micro-kernels come per instruction set, each in its own file (gemm_kernel_avx512.hpp,
// gemm_kernel_avx2.hpp, gemm_kernel_portable.hpp). On x86-64 with GCC or Clang the AVX2 and AVX-512
// kernels are compiled with function target attributes, whatever the compiler flags, and the widest
// one the CPU (and its OS) supports runs: a program built without -march still gets AVX-512 on a
// machine that has it. Under nvcc (whose front end does not take target attributes) a kernel exists
// only when the compiler flags enable its instruction set.
//
// Numerics do not depend on the choice: every kernel computes each output as the same chain of fused
// multiply-adds (gemm.hpp), so AVX-512, AVX2 and the portable loops give the same bits.
// VLGRAPH_CPU_ISA=portable|avx2|avx512 asks for a narrower one (to compare or to measure them).
#pragma once

#include <vlgraph/error.hpp>

#include <atomic>
#include <cstdlib>
#include <string>
#include <string_view>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define VL_CPU_AVX2 1
#define VL_CPU_AVX512 1
#define VL_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define VL_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#if (defined(__x86_64__) || defined(_M_X64)) && defined(__AVX2__) && defined(__FMA__) && !defined(__CUDA_ARCH__)
#define VL_CPU_AVX2 1
#else
#define VL_CPU_AVX2 0
#endif
#if VL_CPU_AVX2 && defined(__AVX512F__)
#define VL_CPU_AVX512 1
#else
#define VL_CPU_AVX512 0
#endif
#define VL_TARGET_AVX2
#define VL_TARGET_AVX512
#endif

#if VL_CPU_AVX2
#include <immintrin.h>
#endif

namespace vl::cpu {

// Ordered: each includes the ones before it.
enum class cpu_isa : int { portable = 0, avx2 = 1, avx512 = 2 };

inline std::string_view isa_name(cpu_isa isa) {
    switch (isa) {
        case cpu_isa::avx512: return "avx512 (16-lane f32 FMA)";
        case cpu_isa::avx2: return "avx2 (8-lane f32 FMA)";
        default: return "portable (scalar loops)";
    }
}

// The widest instruction set this CPU supports and this build has kernels for.
inline cpu_isa widest_isa() {
#if VL_CPU_AVX512 && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return cpu_isa::avx512;
#endif
#if VL_CPU_AVX2 && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return cpu_isa::avx2;
#endif
    return cpu_isa::portable;
}

namespace isa_detail {

inline cpu_isa from_environment() {
    const cpu_isa widest = widest_isa();
    const char* asked = std::getenv("VLGRAPH_CPU_ISA");
    if (!asked || !*asked) return widest;
    const std::string_view a = asked;
    cpu_isa want = cpu_isa::portable;
    if (a == "avx512") want = cpu_isa::avx512;
    else if (a == "avx2") want = cpu_isa::avx2;
    else if (a != "portable") throw error("VLGRAPH_CPU_ISA must be portable, avx2 or avx512, got '" + std::string(a) + "'");
    if (static_cast<int>(want) > static_cast<int>(widest))
        throw error("VLGRAPH_CPU_ISA=" + std::string(a) + ", but this CPU (or build) has at most " + std::string(isa_name(widest)));
    return want;
}

inline std::atomic<int>& chosen() {
    static std::atomic<int> isa{static_cast<int>(from_environment())};
    return isa;
}

}  // namespace isa_detail

// The instruction set the kernels use now.
inline cpu_isa active_isa() { return static_cast<cpu_isa>(isa_detail::chosen().load(std::memory_order_relaxed)); }

// Switches the kernels to `isa` (tests and benchmarks comparing them); refuses one the CPU lacks.
inline void use_isa(cpu_isa isa) {
    if (static_cast<int>(isa) > static_cast<int>(widest_isa()))
        throw error("cpu: " + std::string(isa_name(isa)) + " is not available here (widest: " + std::string(isa_name(widest_isa())) + ")");
    isa_detail::chosen().store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace vl::cpu
