// backends/cpu/gemm.hpp — the one GEMM of the CPU backend, used by linear and
// matmul:  C[M, N] = A[M, K] · op(B) (+ bias[N]),  op(B) = B[N, K]ᵀ or B[K, N].
//
// The output is cut into fixed tiles (tile_m × tile_n), each computed by
// single-threaded Eigen with the full K. Tiles depend only on the shape, never
// on the thread count, so every element's summation order is fixed: results are
// bit-identical for any number of threads. (Eigen's own parallel GEMM picks its
// blocking from the thread count, which is why it is not used.)
#pragma once

#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE
#endif
#include <Eigen/Core>

#include <vlgraph/backends/cpu/thread_pool.hpp>

namespace vl::cpu {

inline constexpr index_t gemm_tile_m = 128;
inline constexpr index_t gemm_tile_n = 256;

// b_transposed: B is [N, K] (checkpoint weight layout); otherwise B is [K, N].
inline void gemm(thread_pool& pool, index_t m, index_t n, index_t k, const float* a, const float* b, bool b_transposed, const float* bias, float* c) {
    using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using cmap = Eigen::Map<const matrix>;
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (index_t i = 0; i < m; ++i)
            for (index_t j = 0; j < n; ++j) c[i * n + j] = bias ? bias[j] : 0.0f;
        return;
    }
    const index_t tm = (m + gemm_tile_m - 1) / gemm_tile_m, tn = (n + gemm_tile_n - 1) / gemm_tile_n;
    pool.parallel_for(tm * tn, [&](index_t t) {
        const index_t i0 = (t / tn) * gemm_tile_m, j0 = (t % tn) * gemm_tile_n;
        const index_t mi = std::min(gemm_tile_m, m - i0), nj = std::min(gemm_tile_n, n - j0);
        cmap A(a + i0 * k, mi, k);
        Eigen::Map<matrix, 0, Eigen::OuterStride<>> C(c + i0 * n + j0, mi, nj, Eigen::OuterStride<>(n));
        if (b_transposed) {
            cmap B(b + j0 * k, nj, k);
            C.noalias() = A * B.transpose();
        } else {
            Eigen::Map<const matrix, 0, Eigen::OuterStride<>> B(b + j0, k, nj, Eigen::OuterStride<>(n));
            C.noalias() = A * B;
        }
        if (bias) C.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias + j0, nj);
    });
}

}  // namespace vl::cpu
