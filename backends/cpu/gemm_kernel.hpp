// backends/cpu/gemm_kernel.hpp — packing routines and the register-blocked
// micro-kernel of the CPU GEMM (gemm.hpp explains the loop nest and the order of
// summation it guarantees).
//
// Packed layouts (row-major C, gemm_mr × gemm_nr micro-tiles):
//   Ap panel: kc × gemm_mr, ap[k · gemm_mr + i] = A[i][k]      (rows past mr: 0)
//   Bp panel: kc × gemm_nr, bp[k · gemm_nr + j] = op(B)[k][j]  (columns past nr: 0)
//
// With AVX2 + FMA (x86, host code) the micro-kernel is 6 × 16: 12 ymm accumulators,
// per k two loads of Bp, six broadcasts of Ap and twelve vfmadd. Elsewhere a
// portable loop nest of the same shape and the same summation order.
//
// B[N, K] (a checkpoint weight) may be bf16 as stored: it is widened to f32 where it
// is read (packing a Bp panel, or the GEMV's loads), which is exact, so the products,
// their order and every result bit are those of the same weights converted to f32.
#pragma once

#include <vlgraph/config.hpp>
#include <vlgraph/dtype.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>

#if defined(__AVX2__) && defined(__FMA__) && (defined(__x86_64__) || defined(_M_X64)) && !defined(__CUDA_ARCH__)
#define VL_CPU_GEMM_AVX2 1
#include <immintrin.h>
#else
#define VL_CPU_GEMM_AVX2 0
#endif

namespace vl::cpu {

inline constexpr index_t gemm_mr = 6;    // micro-tile rows
inline constexpr index_t gemm_nr = 16;   // micro-tile columns (two 8-float vectors)
inline constexpr index_t gemm_kc = 256;  // k block: Bp panel 16 KiB (L1), Ap tile 132 KiB (L2)

// true when every product is fused into its sum (c = fma(a, b, c)); false on
// builds without FMA, which round a·b + c twice.
#if VL_CPU_GEMM_AVX2 || defined(__FMA__) || defined(__ARM_FEATURE_FMA)
inline constexpr bool gemm_fused = true;
#else
inline constexpr bool gemm_fused = false;
#endif

// B elements the GEMM reads as stored (widened to f32, exactly).
template <class T>
concept gemm_b_element = std::same_as<T, float> || std::same_as<T, bf16>;

namespace gemm_detail {

inline float fused(float a, float b, float c) {
    if constexpr (gemm_fused)
        return std::fma(a, b, c);
    else
        return a * b + c;
}

inline float widen(float v) { return v; }
inline float widen(bf16 v) { return v.to_float(); }

// The per-thread Bp panel (gemm_kc × gemm_nr floats, 16 KiB): static storage, no
// allocation.
inline float* b_panel_buffer() {
    alignas(64) static thread_local float panel[gemm_kc * gemm_nr];
    return panel;
}

// Ap panel from rows of A (row stride lda): rows ≤ gemm_mr, kc values each.
inline void pack_a_panel(const float* a, index_t lda, index_t rows, index_t kc, float* ap) {
    if (rows == gemm_mr) {
        const float *r0 = a, *r1 = a + lda, *r2 = a + 2 * lda, *r3 = a + 3 * lda, *r4 = a + 4 * lda, *r5 = a + 5 * lda;
        for (index_t k = 0; k < kc; ++k, ap += gemm_mr) {
            ap[0] = r0[k];
            ap[1] = r1[k];
            ap[2] = r2[k];
            ap[3] = r3[k];
            ap[4] = r4[k];
            ap[5] = r5[k];
        }
        return;
    }
    for (index_t k = 0; k < kc; ++k, ap += gemm_mr)
        for (index_t i = 0; i < gemm_mr; ++i) ap[i] = i < rows ? a[i * lda + k] : 0.0f;
}

#if VL_CPU_GEMM_AVX2
// Transposes the 8 × 8 block r[0..7] (r[i] = row i) and stores column kk at bp + kk · gemm_nr.
inline void transpose_8x8_store(const __m256 (&r)[8], float* bp) {
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
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
// 8 bf16 → 8 f32: the 16 bits become the high half of each float (exact).
inline __m256 load8(const bf16* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <gemm_b_element T>
inline void transpose_8x16_into(const T* src, index_t ld, float* bp) {
    __m256 lo[8], hi[8];
    for (int i = 0; i < 8; ++i) {
        lo[i] = load8(src + i * ld);
        hi[i] = load8(src + i * ld + 8);
    }
    transpose_8x8_store(lo, bp);
    transpose_8x8_store(hi, bp + 8 * gemm_nr);
}
#endif

// Bp panel from B[N, K] (row stride ldb): b points at B[j][k0]; cols ≤ gemm_nr rows of B.
template <gemm_b_element T>
inline void pack_b_nk(const T* b, index_t ldb, index_t cols, index_t kc, float* bp) {
    index_t k = 0;
#if VL_CPU_GEMM_AVX2
    // Eight rows at a time, 16 k (a whole cache line of each) per step: rows of B
    // are often 2^n bytes apart, all in one L1 set, and 16 rows' lines (with the
    // lines prefetched ahead of them) would evict each other before use.
    if (cols == gemm_nr) {
        for (index_t g = 0; g < gemm_nr; g += 8)
            for (k = 0; k + 16 <= kc; k += 16) transpose_8x16_into(b + g * ldb + k, ldb, bp + k * gemm_nr + g);
    }
#endif
    for (; k < kc; ++k)
        for (index_t j = 0; j < gemm_nr; ++j) bp[k * gemm_nr + j] = j < cols ? widen(b[j * ldb + k]) : 0.0f;
}

// Bp panel from B[K, N] (row stride ldb): b points at B[k0][j].
inline void pack_b_kn(const float* b, index_t ldb, index_t cols, index_t kc, float* bp) {
    if (cols == gemm_nr) {
        for (index_t k = 0; k < kc; ++k) std::copy_n(b + k * ldb, gemm_nr, bp + k * gemm_nr);
        return;
    }
    for (index_t k = 0; k < kc; ++k)
        for (index_t j = 0; j < gemm_nr; ++j) bp[k * gemm_nr + j] = j < cols ? b[k * ldb + j] : 0.0f;
}

// Where a micro-tile's chains start: row i at p + i · ld (ld = 0: one row for
// all, the bias), or zero when p is null.
struct tile_init {
    const float* p;
    index_t ld;
};

#if VL_CPU_GEMM_AVX2
// rows × 16 tile of C (row stride ldc): chains from init, then kc fused steps.
static_assert(gemm_mr == 6 && gemm_nr == 16, "the AVX2 micro-kernel is 6 x 16");

template <int Rows>
inline void kernel_avx2(index_t kc, const float* __restrict ap, const float* __restrict bp, index_t ldb, float* c, index_t ldc, tile_init init) {
    // Named accumulators (not arrays), so that they live in registers.
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    const auto start = [&](int i, __m256& lo, __m256& hi) {
        lo = init.p ? _mm256_loadu_ps(init.p + i * init.ld) : _mm256_setzero_ps();
        hi = init.p ? _mm256_loadu_ps(init.p + i * init.ld + 8) : _mm256_setzero_ps();
    };
    start(0, c00, c01);
    if constexpr (Rows > 1) start(1, c10, c11);
    if constexpr (Rows > 2) start(2, c20, c21);
    if constexpr (Rows > 3) start(3, c30, c31);
    if constexpr (Rows > 4) start(4, c40, c41);
    if constexpr (Rows > 5) start(5, c50, c51);
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
    const auto finish = [&](int i, __m256 lo, __m256 hi) {
        _mm256_storeu_ps(c + i * ldc, lo);
        _mm256_storeu_ps(c + i * ldc + 8, hi);
    };
    finish(0, c00, c01);
    if constexpr (Rows > 1) finish(1, c10, c11);
    if constexpr (Rows > 2) finish(2, c20, c21);
    if constexpr (Rows > 3) finish(3, c30, c31);
    if constexpr (Rows > 4) finish(4, c40, c41);
    if constexpr (Rows > 5) finish(5, c50, c51);
}
#endif

// One row of C, gemm_wide_panels panels of gemm_nr columns: enough independent
// chains to hide the fma latency when there is a single row (decode).
// a: A[0][k0…] (contiguous); panel p of B at bp + p · panel_stride, rows ldb apart.
inline constexpr index_t gemm_wide_panels = 4;
inline constexpr index_t gemm_wide_cols = gemm_wide_panels * gemm_nr;

inline void kernel_row_wide(index_t kc, const float* __restrict a, const float* __restrict bp, index_t ldb, index_t panel_stride, float* c, tile_init init) {
#if VL_CPU_GEMM_AVX2
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
#else
    float acc[gemm_wide_cols];
    for (index_t j = 0; j < gemm_wide_cols; ++j) acc[j] = init.p ? init.p[j] : 0.0f;
    for (index_t k = 0; k < kc; ++k)
        for (index_t p = 0; p < gemm_wide_panels; ++p)
            for (index_t j = 0; j < gemm_nr; ++j) acc[p * gemm_nr + j] = fused(a[k], bp[p * panel_stride + k * ldb + j], acc[p * gemm_nr + j]);
    std::copy_n(acc, gemm_wide_cols, c);
#endif
}

// Rows rows of A (row stride lda) times 8 rows of B[N, K] (decode, a GEMV or a batch of them): dot
// products along k, which read B as it lies — each chunk of B once for all the rows. Fixed order, per
// output and whatever Rows: lane l of a column's accumulator chains k = 8q + l (q = 0, 1, …, fma), the
// lanes are added as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)), then the k ≥ 8⌊K/8⌋ tail is
// chained on (fma) and the bias added last — so a row gets the same bits in any batch.
// r: the 8 rows of B; c: Rows × 8 outputs (row stride ldc).
template <int Rows, gemm_b_element T>
inline void gemv_dot8_rows(index_t k, const float* __restrict a, index_t lda, const T* const (&r)[8], const float* bias, float* c, index_t ldc) {
    const index_t k8 = k / 8 * 8;
    float sum[Rows][8];
#if VL_CPU_GEMM_AVX2
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
#else
    for (int i = 0; i < Rows; ++i)
        for (int j = 0; j < 8; ++j) {
            float l[8] = {};
            for (index_t q = 0; q < k8; q += 8)
                for (int t = 0; t < 8; ++t) l[t] = fused(a[i * lda + q + t], widen(r[j][q + t]), l[t]);
            sum[i][j] = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        }
#endif
    for (int i = 0; i < Rows; ++i)
        for (int j = 0; j < 8; ++j) {
            float t = sum[i][j];
            for (index_t q = k8; q < k; ++q) t = fused(a[i * lda + q], widen(r[j][q]), t);
            c[i * ldc + j] = bias ? t + bias[j] : t;
        }
}

// Portable micro-kernel: same tile, same order of summation.
template <int Rows>
inline void kernel_portable(index_t kc, const float* __restrict ap, const float* __restrict bp, index_t ldb, float* c, index_t ldc, tile_init init) {
    float acc[Rows][gemm_nr];
    for (int i = 0; i < Rows; ++i)
        for (index_t j = 0; j < gemm_nr; ++j) acc[i][j] = init.p ? init.p[i * init.ld + j] : 0.0f;
    for (index_t k = 0; k < kc; ++k, ap += gemm_mr, bp += ldb)
        for (int i = 0; i < Rows; ++i)
            for (index_t j = 0; j < gemm_nr; ++j) acc[i][j] = fused(ap[i], bp[j], acc[i][j]);
    for (int i = 0; i < Rows; ++i)
        for (index_t j = 0; j < gemm_nr; ++j) c[i * ldc + j] = acc[i][j];
}

template <int Rows>
inline void kernel(index_t kc, const float* ap, const float* bp, index_t ldb, float* c, index_t ldc, tile_init init) {
#if VL_CPU_GEMM_AVX2
    kernel_avx2<Rows>(kc, ap, bp, ldb, c, ldc, init);
#else
    kernel_portable<Rows>(kc, ap, bp, ldb, c, ldc, init);
#endif
}

template <int Rows>
inline void kernel_rows(index_t kc, const float* ap, const float* bp, index_t ldb, float* c, index_t ldc, index_t cols, tile_init init) {
    if (cols == gemm_nr) {
        kernel<Rows>(kc, ap, bp, ldb, c, ldc, init);
        return;
    }
    // ragged right edge: run on a full-width copy (padding columns of Bp are 0)
    float tile[gemm_mr * gemm_nr] = {};
    if (init.p)
        for (int i = 0; i < Rows; ++i) std::copy_n(init.p + i * init.ld, cols, tile + i * gemm_nr);
    kernel<Rows>(kc, ap, bp, ldb, tile, gemm_nr, tile_init{init.p ? tile : nullptr, gemm_nr});
    for (int i = 0; i < Rows; ++i) std::copy_n(tile + i * gemm_nr, cols, c + i * ldc);
}

// C micro-tile (rows ≤ gemm_mr, cols ≤ gemm_nr) = init ⊕ Ap panel · B, where
// B[k][j] = bp[k · ldb + j] (a Bp panel: ldb = gemm_nr; with cols = gemm_nr also
// B[K, N] itself: ldb = N).
inline void micro_tile(index_t kc, const float* ap, const float* bp, index_t ldb, float* c, index_t ldc, index_t rows, index_t cols, tile_init init) {
    switch (rows) {
        case 1: kernel_rows<1>(kc, ap, bp, ldb, c, ldc, cols, init); break;
        case 2: kernel_rows<2>(kc, ap, bp, ldb, c, ldc, cols, init); break;
        case 3: kernel_rows<3>(kc, ap, bp, ldb, c, ldc, cols, init); break;
        case 4: kernel_rows<4>(kc, ap, bp, ldb, c, ldc, cols, init); break;
        case 5: kernel_rows<5>(kc, ap, bp, ldb, c, ldc, cols, init); break;
        default: kernel_rows<6>(kc, ap, bp, ldb, c, ldc, cols, init); break;
    }
}

}  // namespace gemm_detail
}  // namespace vl::cpu
