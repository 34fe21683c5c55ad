// backends/cpu/gemm_kernel.hpp — the CPU GEMM's packing routines and micro-kernels, dispatched on the
// instruction set chosen at run time (cpu_isa.hpp): AVX-512 (gemm_kernel_avx512.hpp), AVX2 + FMA
// (gemm_kernel_avx2.hpp) or plain loops (gemm_kernel_portable.hpp). The layouts are in gemm_layout.hpp;
// gemm.hpp explains the loop nest and the order of summation every kernel keeps.
#pragma once

#include <vlgraph/backends/cpu/gemm_kernel_avx2.hpp>
#include <vlgraph/backends/cpu/gemm_kernel_avx512.hpp>
#include <vlgraph/backends/cpu/gemm_kernel_portable.hpp>

namespace vl::cpu::gemm_detail {

// The per-thread Bp panels (two of gemm_kc × gemm_nr floats, one after the other, 32 KiB): static storage,
// no allocation.
inline float* b_panel_buffer() {
    alignas(64) static thread_local float panel[2 * gemm_kc * gemm_nr];
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

// Bp panel from B[N, K] (row stride ldb): b points at B[j][k0]; cols ≤ gemm_nr rows of B.
template <gemm_b_element T>
inline void pack_b_nk(cpu_isa isa, const T* b, index_t ldb, index_t cols, index_t kc, float* bp) {
    index_t k = 0;
#if VL_CPU_AVX2
    if (isa >= cpu_isa::avx2 && cols == gemm_nr) k = pack_b_nk_avx2(b, ldb, kc, bp);
#else
    (void)isa;
#endif
    pack_b_nk_portable(b, ldb, cols, k, kc, bp);
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

// Rows and columns of C one micro-kernel call computes: two Ap panels and two Bp panels with AVX-512.
inline index_t micro_rows(cpu_isa isa) { return isa == cpu_isa::avx512 ? 2 * gemm_mr : gemm_mr; }
inline index_t micro_cols(cpu_isa isa) { return isa == cpu_isa::avx512 ? 2 * gemm_nr : gemm_nr; }

template <int Rows>
inline void kernel_narrow(cpu_isa isa, index_t kc, const float* ap, const float* bp, index_t ldb, float* c, index_t ldc, tile_init init) {
#if VL_CPU_AVX2
    if (isa >= cpu_isa::avx2) return kernel_avx2<Rows>(kc, ap, bp, ldb, c, ldc, init);
#else
    (void)isa;
#endif
    kernel_portable<Rows>(kc, ap, bp, ldb, c, ldc, init);
}

template <int Rows>
inline void kernel_rows(cpu_isa isa, index_t kc, const float* ap, const float* bp0, const float* bp1, index_t ldb, float* c, index_t ldc, index_t cols,
                        tile_init init) {
#if VL_CPU_AVX512
    if (isa == cpu_isa::avx512) {
        const float* ap1 = Rows > gemm_mr ? ap + kc * gemm_mr : ap;
        if (cols > gemm_nr) return kernel_avx512<Rows, true>(kc, ap, ap1, bp0, bp1, ldb, c, ldc, cols, init);
        return kernel_avx512<Rows, false>(kc, ap, ap1, bp0, bp0, ldb, c, ldc, cols, init);
    }
#endif
    (void)bp1;
    if constexpr (Rows <= gemm_mr) {
        if (cols == gemm_nr) return kernel_narrow<Rows>(isa, kc, ap, bp0, ldb, c, ldc, init);
        // ragged right edge: run on a full-width copy (padding columns of Bp are 0)
        float tile[gemm_mr * gemm_nr] = {};
        if (init.p)
            for (int i = 0; i < Rows; ++i) std::copy_n(init.p + i * init.ld, cols, tile + i * gemm_nr);
        kernel_narrow<Rows>(isa, kc, ap, bp0, ldb, tile, gemm_nr, tile_init{init.p ? tile : nullptr, gemm_nr});
        for (int i = 0; i < Rows; ++i) std::copy_n(tile + i * gemm_nr, cols, c + i * ldc);
    }
}

// C micro-tile (rows ≤ micro_rows(isa), cols ≤ micro_cols(isa)) = init ⊕ Ap · B: the Ap panel at ap (and, for
// rows past gemm_mr, the next one at ap + kc · gemm_mr); columns [0, 16) of B from bp0, [16, 32) from bp1,
// B[k][j] = bp[k · ldb + j] (Bp panels: ldb = gemm_nr; with all columns present also B[K, N] itself: ldb = N).
inline void micro_tile(cpu_isa isa, index_t kc, const float* ap, const float* bp0, const float* bp1, index_t ldb, float* c, index_t ldc, index_t rows,
                       index_t cols, tile_init init) {
    switch (rows) {
        case 1: return kernel_rows<1>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
        case 2: return kernel_rows<2>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
        case 3: return kernel_rows<3>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
        case 4: return kernel_rows<4>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
        case 5: return kernel_rows<5>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
        case 6: return kernel_rows<6>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
    }
#if VL_CPU_AVX512
    switch (rows) {  // AVX-512 only (micro_rows)
        case 7: return kernel_rows<7>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
        case 8: return kernel_rows<8>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
        case 9: return kernel_rows<9>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
        case 10: return kernel_rows<10>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
        case 11: return kernel_rows<11>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
        default: return kernel_rows<12>(isa, kc, ap, bp0, bp1, ldb, c, ldc, cols, init);
    }
#endif
}

// One row of C, gemm_wide_cols columns of B[K, N] read in place; a: A[0][k0…] (contiguous); panel p of B
// at bp + p · panel_stride, rows ldb apart.
inline void kernel_row_wide(cpu_isa isa, index_t kc, const float* a, const float* bp, index_t ldb, index_t panel_stride, float* c, tile_init init) {
#if VL_CPU_AVX2
    if (isa >= cpu_isa::avx2) return kernel_row_wide_avx2(kc, a, bp, ldb, panel_stride, c, init);
#else
    (void)isa;
#endif
    kernel_row_wide_portable(kc, a, bp, ldb, panel_stride, c, init);
}

// Rows rows of A (row stride lda) times 8 rows of B[N, K] (decode, a GEMV or a batch of them): dot
// products along k, which read B as it lies — each chunk of B once for all the rows. Fixed order, per
// output and whatever Rows: lane l of a column's accumulator chains k = 8q + l (q = 0, 1, …, fma), the
// lanes are added as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)), then the k ≥ 8⌊K/8⌋ tail is
// chained on (fma) and the bias added last — so a row gets the same bits in any batch. Eight lanes' order on
// every ISA (AVX-512 packs two columns' eight lanes into one register: the same chains).
// r: the 8 rows of B; c: Rows × 8 outputs (row stride ldc).
template <int Rows, gemm_b_element T>
inline void gemv_dot8_rows(cpu_isa isa, index_t k, const float* a, index_t lda, const T* const (&r)[8], const float* bias, float* c, index_t ldc) {
    const index_t k8 = k / 8 * 8;
    float sum[Rows][8];
#if VL_CPU_AVX512
    if (isa == cpu_isa::avx512)
        gemv_dot8_sums_avx512<Rows>(k8, a, lda, r, sum);
    else
#endif
#if VL_CPU_AVX2
    if (isa >= cpu_isa::avx2)
        gemv_dot8_sums_avx2<Rows>(k8, a, lda, r, sum);
    else
#else
    (void)isa;
#endif
        gemv_dot8_sums_portable<Rows>(k8, a, lda, r, sum);
    for (int i = 0; i < Rows; ++i)
        for (int j = 0; j < 8; ++j) {
            float t = sum[i][j];
            for (index_t q = k8; q < k; ++q) t = fused(a[i * lda + q], widen(r[j][q]), t);
            c[i * ldc + j] = bias ? t + bias[j] : t;
        }
}

}  // namespace vl::cpu::gemm_detail
