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

// The lane sums of gemv_dot8_rows (gemm_kernel.hpp) over k < k8, in its 8-lane order (gemv_dot8_sums_portable)
// with half the instructions of the AVX2 version: a zmm holds two columns, j in lanes 0–7 and j + 4 in lanes
// 8–15, each lane still the chain of k = 8q + l; a bf16 chunk of both columns is widened by one vpmovzxwd.
// Decode reads the weights once per token, so this is what keeps a bf16 GEMV at the memory's pace.
VL_TARGET_AVX512 inline __m512 load_two_columns(const float* lo, const float* hi) {
    // insertf64x4 (AVX-512F; insertf32x8 would need DQ) moves the same 256 bits
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(lo))), _mm256_castps_pd(_mm256_loadu_ps(hi)), 1));
}
VL_TARGET_AVX512 inline __m512 load_two_columns(const bf16* lo, const bf16* hi) {
    const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo))),
                                                 _mm_loadu_si128(reinterpret_cast<const __m128i*>(hi)), 1);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(both), 16));  // bf16 bits as the high half: exact
}

template <int Rows, gemm_b_element T>
VL_TARGET_AVX512 inline void gemv_dot8_sums_avx512(index_t k8, const float* __restrict a, index_t lda, const T* const (&r)[8], float (&sum)[Rows][8]) {
    __m512 v[Rows][4];
    for (int i = 0; i < Rows; ++i)
        for (int p = 0; p < 4; ++p) v[i][p] = _mm512_setzero_ps();
    for (index_t q = 0; q < k8; q += 8) {
        __m512 x[Rows];
        for (int i = 0; i < Rows; ++i) x[i] = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(a + i * lda + q))));
        for (int p = 0; p < 4; ++p) {
            const __m512 b = load_two_columns(r[p] + q, r[p + 4] + q);
            for (int i = 0; i < Rows; ++i) v[i][p] = _mm512_fmadd_ps(x[i], b, v[i][p]);
        }
    }
    for (int i = 0; i < Rows; ++i)
        for (int p = 0; p < 4; ++p) {
            alignas(64) float l[16];
            _mm512_store_ps(l, v[i][p]);
            for (int h = 0; h < 2; ++h) {
                const float* t = l + 8 * h;
                sum[i][p + 4 * h] = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
            }
        }
}

}  // namespace vl::cpu::gemm_detail
#endif
