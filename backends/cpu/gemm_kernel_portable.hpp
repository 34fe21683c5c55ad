// backends/cpu/gemm_kernel_portable.hpp — the CPU GEMM's kernels as plain loops: for machines without
// AVX2, and the reference the vector kernels (gemm_kernel_avx2.hpp, gemm_kernel_avx512.hpp) match bit for
// bit — same tiles, same order of summation, the same fused multiply-adds.
#pragma once

#include <vlgraph/backends/cpu/gemm_layout.hpp>

namespace vl::cpu::gemm_detail {

// Bp panel columns from B[N, K] (row stride ldb; b at B[j][k0]), k in [k_begin, kc); cols ≤ gemm_nr.
template <gemm_b_element T>
inline void pack_b_nk_portable(const T* b, index_t ldb, index_t cols, index_t k_begin, index_t kc, float* bp) {
    for (index_t k = k_begin; k < kc; ++k)
        for (index_t j = 0; j < gemm_nr; ++j) bp[k * gemm_nr + j] = j < cols ? widen(b[j * ldb + k]) : 0.0f;
}

// Rows × gemm_nr tile of C (row stride ldc): chains from init, then kc fused steps; B[k][j] = bp[k · ldb + j].
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

// One row of C, gemm_wide_cols columns; a: A[0][k0…]; panel p of B at bp + p · panel_stride, rows ldb apart.
inline void kernel_row_wide_portable(index_t kc, const float* __restrict a, const float* __restrict bp, index_t ldb, index_t panel_stride, float* c, tile_init init) {
    float acc[gemm_wide_cols];
    for (index_t j = 0; j < gemm_wide_cols; ++j) acc[j] = init.p ? init.p[j] : 0.0f;
    for (index_t k = 0; k < kc; ++k)
        for (index_t p = 0; p < gemm_wide_panels; ++p)
            for (index_t j = 0; j < gemm_nr; ++j) acc[p * gemm_nr + j] = fused(a[k], bp[p * panel_stride + k * ldb + j], acc[p * gemm_nr + j]);
    std::copy_n(acc, gemm_wide_cols, c);
}

// The lane sums of gemv_dot8_rows (gemm_kernel.hpp) over k < k8 (a multiple of 8): lane l of column j
// chains k = 8q + l, then the lanes are added as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
template <int Rows, gemm_b_element T>
inline void gemv_dot8_sums_portable(index_t k8, const float* __restrict a, index_t lda, const T* const (&r)[8], float (&sum)[Rows][8]) {
    for (int i = 0; i < Rows; ++i)
        for (int j = 0; j < 8; ++j) {
            float l[8] = {};
            for (index_t q = 0; q < k8; q += 8)
                for (int t = 0; t < 8; ++t) l[t] = fused(a[i * lda + q + t], widen(r[j][q + t]), l[t]);
            sum[i][j] = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        }
}

}  // namespace vl::cpu::gemm_detail
