// backends/cpu/gemm_kernel_avx512.hpp — the CPU GEMM's micro-kernel for AVX-512 (16-lane zmm), compiled with
// a function target attribute (cpu_isa.hpp) and run when the CPU has AVX-512F.
//
// The tile is 12 × 16: two neighbouring 6-row Ap panels against one Bp panel, one zmm accumulator per row
// (twelve chains in flight cover the fma latency of two 512-bit pipes), per k one load of Bp, twelve
// broadcasts of Ap and twelve vfmadd. Ragged right edges are masked loads and stores instead of a copy.
// Each element is still the chain c = fma(a[k] b[k], c) over k in order from the same start, so the bits
// are those of the AVX2 and portable kernels.
#pragma once

#include <vlgraph/backends/cpu/gemm_layout.hpp>

#if VL_CPU_AVX512
namespace vl::cpu::gemm_detail {

inline constexpr index_t gemm_mr_avx512 = 2 * gemm_mr;

// Rows × cols of C (Rows ≤ 12, cols ≤ 16; row stride ldc) = init ⊕ Ap · B over kc: rows 0–5 from the Ap
// panel ap0, rows 6–11 from ap1; B[k][j] = bp[k · ldb + j] with all 16 columns readable.
template <int Rows>
VL_TARGET_AVX512 inline void kernel_avx512(index_t kc, const float* __restrict ap0, const float* __restrict ap1, const float* __restrict bp, index_t ldb,
                                           float* c, index_t ldc, index_t cols, tile_init init) {
    static_assert(Rows >= 1 && Rows <= gemm_mr_avx512, "the AVX-512 micro-kernel takes 1 to 12 rows");
    const __mmask16 m = static_cast<__mmask16>(cols >= gemm_nr ? 0xFFFFu : (1u << cols) - 1u);
    __m512 acc[Rows];
#pragma GCC unroll 12
    for (int i = 0; i < Rows; ++i) acc[i] = init.p ? _mm512_maskz_loadu_ps(m, init.p + i * init.ld) : _mm512_setzero_ps();
    for (index_t k = 0; k < kc; ++k, ap0 += gemm_mr, ap1 += gemm_mr, bp += ldb) {
        const __m512 b = _mm512_loadu_ps(bp);
#pragma GCC unroll 12
        for (int i = 0; i < Rows; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(i < gemm_mr ? ap0[i] : ap1[i - gemm_mr]), b, acc[i]);
    }
#pragma GCC unroll 12
    for (int i = 0; i < Rows; ++i) _mm512_mask_storeu_ps(c + i * ldc, m, acc[i]);
}

}  // namespace vl::cpu::gemm_detail
#endif
