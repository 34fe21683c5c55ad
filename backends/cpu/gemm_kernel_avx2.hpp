// backends/cpu/gemm_kernel_avx2.hpp — the CPU GEMM's kernels for AVX2 + FMA (8-lane ymm), compiled with a
// function target attribute (cpu_isa.hpp) and run when the CPU has AVX2 but not AVX-512, and for the parts
// the AVX-512 kernel leaves to them (Bp packing, the decode dot products, the one-row [K, N] kernel:
// memory-bound, where wider vectors gain nothing). Bit for bit the portable kernels' results.
#pragma once

#include <vlgraph/backends/cpu/gemm_layout.hpp>

#if VL_CPU_AVX2
namespace vl::cpu::gemm_detail {

// Transposes the 8 × 8 block r[0..7] (r[i] = row i) and stores column kk at bp + kk · gemm_nr.
VL_TARGET_AVX2 inline void transpose_8x8_store(const __m256 (&r)[8], float* bp) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]), t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]), t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE), s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE), s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_store_ps(bp + 0 * gemm_nr, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_store_ps(bp + 1 * gemm_nr, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_store_ps(bp + 2 * gemm_nr, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_store_ps(bp + 3 * gemm_nr, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_store_ps(bp + 4 * gemm_nr, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_store_ps(bp + 5 * gemm_nr, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_store_ps(bp + 6 * gemm_nr, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_store_ps(bp + 7 * gemm_nr, _mm256_permute2f128_ps(s3, s7, 0x31));
}

// 8 rows × 16 floats (row stride ld) → bp[kk · gemm_nr + r], kk < 16, r < 8. Both
// halves of each row are loaded together: rows of B are often 2^n bytes apart,
// all in one L1 set, and a line may not survive until a later visit.
VL_TARGET_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
// 8 bf16 → 8 f32: the 16 bits become the high half of each float (exact).
VL_TARGET_AVX2 inline __m256 load8(const bf16* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <gemm_b_element T>
VL_TARGET_AVX2 inline void transpose_8x16_into(const T* src, index_t ld, float* bp) {
    __m256 lo[8], hi[8];
    for (int i = 0; i < 8; ++i) {
        lo[i] = load8(src + i * ld);
        hi[i] = load8(src + i * ld + 8);
    }
    transpose_8x8_store(lo, bp);
    transpose_8x8_store(hi, bp + 8 * gemm_nr);
}
// Bp panel from B[N, K] with all gemm_nr columns present (b at B[j][k0], row stride ldb), k < kc/16·16;
// returns the k where the scalar loop (pack_b_nk_portable) continues. Eight rows at a time, 16 k (a whole
// cache line of each) per step: rows of B are often 2^n bytes apart, all in one L1 set, and 16 rows' lines
// (with the lines prefetched ahead of them) would evict each other before use.
template <gemm_b_element T>
VL_TARGET_AVX2 inline index_t pack_b_nk_avx2(const T* b, index_t ldb, index_t kc, float* bp) {
    index_t k = 0;
    for (index_t g = 0; g < gemm_nr; g += 8)
        for (k = 0; k + 16 <= kc; k += 16) transpose_8x16_into(b + g * ldb + k, ldb, bp + k * gemm_nr + g);
    return k;
}

// Rows × 16 tile of C (row stride ldc): chains from init, then kc fused steps — 12 ymm accumulators, per k
// two loads of Bp, six broadcasts of Ap and twelve vfmadd.
static_assert(gemm_mr == 6 && gemm_nr == 16, "the AVX2 micro-kernel is 6 x 16");

// Row i of a tile's chains from init (zero without), and a finished row stored.
VL_TARGET_AVX2 inline void start_row(tile_init init, int i, __m256& lo, __m256& hi) {
    lo = init.p ? _mm256_loadu_ps(init.p + i * init.ld) : _mm256_setzero_ps();
    hi = init.p ? _mm256_loadu_ps(init.p + i * init.ld + 8) : _mm256_setzero_ps();
}
VL_TARGET_AVX2 inline void finish_row(float* c, __m256 lo, __m256 hi) {
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
}

template <int Rows>
VL_TARGET_AVX2 inline void kernel_avx2(index_t kc, const float* __restrict ap, const float* __restrict bp, index_t ldb, float* c, index_t ldc, tile_init init) {
    // Named accumulators (not arrays), so that they live in registers.
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    start_row(init, 0, c00, c01);
    if constexpr (Rows > 1) start_row(init, 1, c10, c11);
    if constexpr (Rows > 2) start_row(init, 2, c20, c21);
    if constexpr (Rows > 3) start_row(init, 3, c30, c31);
    if constexpr (Rows > 4) start_row(init, 4, c40, c41);
    if constexpr (Rows > 5) start_row(init, 5, c50, c51);
    for (index_t k = 0; k < kc; ++k, ap += gemm_mr, bp += ldb) {
        const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
        __m256 a = _mm256_broadcast_ss(ap);
        c00 = _mm256_fmadd_ps(a, b0, c00);
        c01 = _mm256_fmadd_ps(a, b1, c01);
        if constexpr (Rows > 1) {
            a = _mm256_broadcast_ss(ap + 1);
            c10 = _mm256_fmadd_ps(a, b0, c10);
            c11 = _mm256_fmadd_ps(a, b1, c11);
        }
        if constexpr (Rows > 2) {
            a = _mm256_broadcast_ss(ap + 2);
            c20 = _mm256_fmadd_ps(a, b0, c20);
            c21 = _mm256_fmadd_ps(a, b1, c21);
        }
        if constexpr (Rows > 3) {
            a = _mm256_broadcast_ss(ap + 3);
            c30 = _mm256_fmadd_ps(a, b0, c30);
            c31 = _mm256_fmadd_ps(a, b1, c31);
        }
        if constexpr (Rows > 4) {
            a = _mm256_broadcast_ss(ap + 4);
            c40 = _mm256_fmadd_ps(a, b0, c40);
            c41 = _mm256_fmadd_ps(a, b1, c41);
        }
        if constexpr (Rows > 5) {
            a = _mm256_broadcast_ss(ap + 5);
            c50 = _mm256_fmadd_ps(a, b0, c50);
            c51 = _mm256_fmadd_ps(a, b1, c51);
        }
    }
    finish_row(c + 0 * ldc, c00, c01);
    if constexpr (Rows > 1) finish_row(c + 1 * ldc, c10, c11);
    if constexpr (Rows > 2) finish_row(c + 2 * ldc, c20, c21);
    if constexpr (Rows > 3) finish_row(c + 3 * ldc, c30, c31);
    if constexpr (Rows > 4) finish_row(c + 4 * ldc, c40, c41);
    if constexpr (Rows > 5) finish_row(c + 5 * ldc, c50, c51);
}
// One row of C, gemm_wide_cols columns (see kernel_row_wide_portable).
VL_TARGET_AVX2 inline void kernel_row_wide_avx2(index_t kc, const float* __restrict a, const float* __restrict bp, index_t ldb, index_t panel_stride, float* c, tile_init init) {
    static_assert(gemm_wide_panels == 4);
    const float* b0 = bp;
    const float* b1 = bp + panel_stride;
    const float* b2 = bp + 2 * panel_stride;
    const float* b3 = bp + 3 * panel_stride;
    __m256 c0 = init.p ? _mm256_loadu_ps(init.p) : _mm256_setzero_ps(), c1 = init.p ? _mm256_loadu_ps(init.p + 8) : _mm256_setzero_ps();
    __m256 c2 = init.p ? _mm256_loadu_ps(init.p + 16) : _mm256_setzero_ps(), c3 = init.p ? _mm256_loadu_ps(init.p + 24) : _mm256_setzero_ps();
    __m256 c4 = init.p ? _mm256_loadu_ps(init.p + 32) : _mm256_setzero_ps(), c5 = init.p ? _mm256_loadu_ps(init.p + 40) : _mm256_setzero_ps();
    __m256 c6 = init.p ? _mm256_loadu_ps(init.p + 48) : _mm256_setzero_ps(), c7 = init.p ? _mm256_loadu_ps(init.p + 56) : _mm256_setzero_ps();
    for (index_t k = 0; k < kc; ++k, b0 += ldb, b1 += ldb, b2 += ldb, b3 += ldb) {
        const __m256 x = _mm256_broadcast_ss(a + k);
        c0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b0), c0);
        c1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b0 + 8), c1);
        c2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b1), c2);
        c3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b1 + 8), c3);
        c4 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b2), c4);
        c5 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b2 + 8), c5);
        c6 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b3), c6);
        c7 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b3 + 8), c7);
    }
    _mm256_storeu_ps(c, c0);
    _mm256_storeu_ps(c + 8, c1);
    _mm256_storeu_ps(c + 16, c2);
    _mm256_storeu_ps(c + 24, c3);
    _mm256_storeu_ps(c + 32, c4);
    _mm256_storeu_ps(c + 40, c5);
    _mm256_storeu_ps(c + 48, c6);
    _mm256_storeu_ps(c + 56, c7);
}

// The lane sums of gemv_dot8_rows over k < k8 (see gemv_dot8_sums_portable for the order).
template <int Rows, gemm_b_element T>
VL_TARGET_AVX2 inline void gemv_dot8_sums_avx2(index_t k8, const float* __restrict a, index_t lda, const T* const (&r)[8], float (&sum)[Rows][8]) {
    __m256 v[Rows][8];
    for (int i = 0; i < Rows; ++i)
        for (int j = 0; j < 8; ++j) v[i][j] = _mm256_setzero_ps();
    for (index_t q = 0; q < k8; q += 8) {
        __m256 x[Rows];
        for (int i = 0; i < Rows; ++i) x[i] = _mm256_loadu_ps(a + i * lda + q);
        for (int j = 0; j < 8; ++j) {
            const __m256 b = load8(r[j] + q);
            for (int i = 0; i < Rows; ++i) v[i][j] = _mm256_fmadd_ps(x[i], b, v[i][j]);
        }
    }
    // hadd pairs neighbouring lanes within each 128-bit half: after two rounds the
    // halves hold (l0+l1)+(l2+l3) and (l4+l5)+(l6+l7) of each column
    for (int i = 0; i < Rows; ++i) {
        const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(v[i][0], v[i][1]), _mm256_hadd_ps(v[i][2], v[i][3]));
        const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(v[i][4], v[i][5]), _mm256_hadd_ps(v[i][6], v[i][7]));
        _mm256_storeu_ps(sum[i], _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31)));
    }
}

}  // namespace vl::cpu::gemm_detail
#endif
