// backends/cpu/gemm.hpp — the one GEMM of the CPU backend, used by linear and
// matmul:  C[M, N] = A[M, K] · op(B) (+ bias[N]),  op(B) = B[N, K]ᵀ or B[K, N].
//
// A packed GEMM in the BLIS / GotoBLAS structure (micro-kernels in gemm_kernel.hpp):
//
//   pack A once:     A → Ap, per row tile: per k block: gemm_mr-row micro-panels [kc][mr]
//   parallel_for over output tiles (gemm_tile_m × gemm_tile_n), each task:
//     for k0 in 0, gemm_kc, 2·gemm_kc, … < K              (k blocks, in order)
//       for jr over the tile's columns, step gemm_nr
//         pack B[k0 : k0+kc, jr : jr+nr] → Bp [kc][gemm_nr]   (thread-local, L1-sized)
//         for ir over the tile's rows, step gemm_mr (two panels at once with AVX-512)
//           micro-kernel: Ctile(mr × nr) = (k0 == 0 ? bias or 0 : Ctile) ⊕ Ap·Bp
//
// Tiles of at most gemm_small_m rows (decode, small batches), where streaming B
// is the cost: with B[N, K] the jr and k0 loops swap (each B row is read from
// k = 0 to K), with B[K, N] the kernel reads B in place (no Bp), and a single
// row uses kernel_row_wide (64 columns: enough chains to hide the fma latency).
//
// The micro-kernel keeps an mr × nr block of C in registers and, for every k of the
// block in increasing order, fuses acc = fma(a[i][k], b[k][j], acc) — so each
// element of C is one fused-multiply-add chain
//
//     c = fma(a[K-1] b[K-1], … fma(a[1] b[1], fma(a[0] b[0], bias or 0)) …)
//
// (the chain is continued across k blocks by loading C back into the registers).
// That order depends on nothing but K: not on the tile, the micro-tile, the k
// block, which thread ran the task, nor on the B layout. Tasks are whole output
// tiles whose boundaries depend only on M and N (never on the thread count), and
// no k range is ever split across tasks, so results are bit-identical for any
// number of threads — and identical between the two B layouts, and between the
// instruction sets (cpu_isa.hpp: AVX-512, AVX2 and the portable loops all keep it).
//
// One exception to the chain: up to gemm_dot_rows rows with B[N, K] (decode
// against checkpoint weights, one sequence or a batch of them) read B as it lies,
// with dot products along k in 8 lanes (order in gemv_dot8_rows) — the fma chain would
// need B transposed, twice the memory traffic. Each row is then computed alone, so
// a row's bits do not depend on the other rows: a sequence decoded in a batch of
// up to gemm_dot_rows gets the bits it gets alone.
#pragma once

#include <vlgraph/backends/cpu/gemm_kernel.hpp>
#include <vlgraph/backends/cpu/thread_pool.hpp>

#include <vlgraph/error.hpp>

#include <algorithm>
#include <type_traits>
#include <vector>

namespace vl::cpu {

// Output tile one task computes (fixed, so the task split never depends on the
// thread count). 256 rows of A packed (256 KiB per k block) stay in L2, and a prefill chunk of up to
// 256 tokens packs each weight panel once.
inline constexpr index_t gemm_tile_m = 256;
inline constexpr index_t gemm_tile_n = 256;
// Packed A is built for at most this many floats at a time (M is processed in
// chunks of whole row tiles beyond it), bounding the per-thread buffer.
inline constexpr index_t gemm_a_pack_floats = index_t{4} << 20;
// Tiles with at most this many rows take the small-M loop order (see above).
inline constexpr index_t gemm_small_m = 2 * gemm_mr;
// At most this many rows times B[N, K] are dot products, row by row (decode batches).
inline constexpr index_t gemm_dot_rows = 16;
// Rows of such a batch computed together (sharing each widened chunk of B; 3 × 8 accumulators fill the
// registers): groups of 3, the last of 2 or 1.
inline constexpr index_t gemm_dot_group = 3;

namespace gemm_detail {

// micro-panels of gemm_mr rows in one row tile
inline constexpr index_t tile_panels = (gemm_tile_m + gemm_mr - 1) / gemm_mr;

// Ap for rows [i0, i0 + rows) of A (rows ≤ gemm_tile_m), all k blocks:
// block k0 holds tile_panels panels of kc × gemm_mr, panel p at p · kc · gemm_mr.
inline void pack_a_tile(const float* a, index_t k, index_t rows, float* ap) {
    for (index_t k0 = 0; k0 < k; k0 += gemm_kc) {
        const index_t kc = std::min(gemm_kc, k - k0);
        float* block = ap + k0 * tile_panels * gemm_mr;
        for (index_t p = 0; p * gemm_mr < rows; ++p)
            pack_a_panel(a + (p * gemm_mr) * k + k0, k, std::min(gemm_mr, rows - p * gemm_mr), kc, block + p * kc * gemm_mr);
    }
}

}  // namespace gemm_detail

// b_transposed: B is [N, K] (checkpoint weight layout); otherwise B is [K, N]. A bf16 B (weights as
// stored) must be [N, K]; it is widened where read, so C is bit for bit that of B converted to f32.
template <gemm_b_element TB>
inline void gemm(thread_pool& pool, index_t m, index_t n, index_t k, const float* a, const TB* b, bool b_transposed, const float* bias, float* c) {
    using namespace gemm_detail;
    constexpr bool b_f32 = std::is_same_v<TB, float>;
    const cpu_isa isa = active_isa();
    if (!b_f32 && !b_transposed) throw error("cpu::gemm: a bf16 B is read as B[N, K] only");
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (index_t i = 0; i < m; ++i)
            for (index_t j = 0; j < n; ++j) c[i * n + j] = bias ? bias[j] : 0.0f;
        return;
    }
    const index_t tiles_m = (m + gemm_tile_m - 1) / gemm_tile_m, tiles_n = (n + gemm_tile_n - 1) / gemm_tile_n;
    if (m <= gemm_dot_rows && b_transposed) {
        // a few rows times B[N, K] (decode): dot products, 8 columns at a time for every row while those
        // 8 rows of B are in cache, one task per column tile
        pool.parallel_for(tiles_n, [&](index_t t) {
            const index_t j0 = t * gemm_tile_n, cols = std::min(gemm_tile_n, n - j0);
            for (index_t jr = 0; jr < cols; jr += 8) {
                const index_t j = j0 + jr, nr = std::min<index_t>(8, cols - jr);
                const TB* r[8];
                float bias8[8], out[gemm_dot_group * 8];
                for (index_t q = 0; q < 8; ++q) {  // a ragged end repeats its last column
                    r[q] = b + (j + std::min(q, nr - 1)) * k;
                    bias8[q] = bias ? bias[j + std::min(q, nr - 1)] : 0.0f;
                }
                for (index_t i = 0; i < m;) {  // gemm_dot_group rows at a time share each widened chunk of B
                    const float* b8 = bias ? bias8 : nullptr;
                    const index_t rows = std::min(gemm_dot_group, m - i);
                    if (rows == 3) gemv_dot8_rows<3>(isa, k, a + i * k, k, r, b8, out, 8);
                    else if (rows == 2) gemv_dot8_rows<2>(isa, k, a + i * k, k, r, b8, out, 8);
                    else gemv_dot8_rows<1>(isa, k, a + i * k, k, r, b8, out, 8);
                    for (index_t g = 0; g < rows; ++g) std::copy_n(out + g * 8, nr, c + (i + g) * n + j);
                    i += rows;
                }
            }
        });
        return;
    }
    const float* b_kn = nullptr;  // B[K, N] (f32 only: a bf16 B is [N, K])
    if constexpr (b_f32) b_kn = b;
    const index_t tile_floats = tile_panels * gemm_mr * k;  // packed A of one row tile
    const index_t chunk_tiles = std::max<index_t>(1, gemm_a_pack_floats / tile_floats);
    thread_local std::vector<float> a_packed;  // grow-only, owned by the calling thread, read by all
    const auto a_floats = static_cast<std::size_t>(std::min(chunk_tiles, tiles_m) * tile_floats);
    if (a_packed.size() < a_floats) a_packed.resize(a_floats);

    for (index_t t0 = 0; t0 < tiles_m; t0 += chunk_tiles) {
        const index_t tm = std::min(chunk_tiles, tiles_m - t0);
        float* ap = a_packed.data();
        // 1. pack A, one task per row tile
        pool.parallel_for(tm, [&](index_t t) {
            const index_t i0 = (t0 + t) * gemm_tile_m;
            pack_a_tile(a + i0 * k, k, std::min(gemm_tile_m, m - i0), ap + t * tile_floats);
        });
        // 2. one task per output tile; consecutive tasks share columns (B rows), so
        //    threads running at the same time read the same part of B.
        pool.parallel_for(tm * tiles_n, [&](index_t task) {
            const index_t tr = task % tm, tc = task / tm;
            const index_t i0 = (t0 + tr) * gemm_tile_m, j0 = tc * gemm_tile_n;
            const index_t rows = std::min(gemm_tile_m, m - i0), cols = std::min(gemm_tile_n, n - j0);
            const float* a_tile = ap + tr * tile_floats;
            float* bp = b_panel_buffer();
            const auto start = [&](index_t k0, float* ct, index_t j) { return k0 > 0 ? tile_init{ct, n} : tile_init{bias ? bias + j : nullptr, 0}; };
            const bool few_rows = rows <= gemm_small_m;
            const index_t row_step = micro_rows(isa), col_step = micro_cols(isa);  // per micro-kernel call
            // Bp panels (k block k0, columns jr…, one or two of gemm_nr) times every Ap panel of the tile
            const auto panel = [&](index_t k0, index_t jr) {
                const index_t kc = std::min(gemm_kc, k - k0), nr = std::min(col_step, cols - jr), j = j0 + jr;
                const float *bk0 = bp, *bk1 = bp + kc * gemm_nr;
                index_t ldb = gemm_nr;
                if (few_rows && !b_transposed && nr == col_step) {
                    bk0 = b_kn + k0 * n + j, bk1 = bk0 + gemm_nr, ldb = n;  // few rows: read B[K, N] in place
                } else {
                    for (index_t h = 0; h * gemm_nr < nr; ++h) {
                        const index_t jh = j + h * gemm_nr, nh = std::min(gemm_nr, nr - h * gemm_nr);
                        if (b_transposed)
                            pack_b_nk(isa, b + jh * k + k0, k, nh, kc, bp + h * kc * gemm_nr);
                        else
                            pack_b_kn(b_kn + k0 * n + jh, n, nh, kc, bp + h * kc * gemm_nr);
                    }
                }
                const float* a_block = a_tile + k0 * tile_panels * gemm_mr;
                for (index_t ir = 0; ir < rows; ir += row_step) {
                    float* ct = c + (i0 + ir) * n + j;
                    micro_tile(isa, kc, a_block + (ir / gemm_mr) * kc * gemm_mr, bk0, bk1, ldb, ct, n, std::min(row_step, rows - ir), nr,
                               start(k0, ct, j));
                }
            };
            index_t done = 0;  // columns [0, done) of the tile are finished
            if constexpr (b_f32) {  // B[K, N] is read in place only in f32
                if (rows == 1 && !b_transposed) {
                    // a single row times B[K, N]: gemm_wide_cols columns at a time, read in place
                    const index_t wide = cols / gemm_wide_cols * gemm_wide_cols;
                    for (index_t k0 = 0; k0 < k; k0 += gemm_kc)
                        for (index_t jr = 0; jr < wide; jr += gemm_wide_cols) {
                            const index_t kc = std::min(gemm_kc, k - k0), j = j0 + jr;
                            kernel_row_wide(isa, kc, a + i0 * k + k0, b + k0 * n + j, n, gemm_nr, c + i0 * n + j, start(k0, c + i0 * n + j, j));
                        }
                    done = wide;
                }
            }
            if (few_rows && b_transposed) {
                // few rows: B is the traffic; walk each B row from k = 0 to K
                for (index_t jr = done; jr < cols; jr += col_step)
                    for (index_t k0 = 0; k0 < k; k0 += gemm_kc) panel(k0, jr);
            } else {
                // the Ap block of k0 stays in L2 while the tile's Bp panels pass through L1
                for (index_t k0 = 0; k0 < k; k0 += gemm_kc)
                    for (index_t jr = done; jr < cols; jr += col_step) panel(k0, jr);
            }
        });
    }
}

}  // namespace vl::cpu
