// backends/cpu/gemm_layout.hpp — the packed layouts and micro-tile shape of the CPU GEMM, shared by the
// per-ISA micro-kernels (gemm_kernel_*.hpp; gemm.hpp explains the loop nest and the order of summation).
//
// Packed layouts (row-major C, gemm_mr × gemm_nr micro-tiles):
//   Ap panel: kc × gemm_mr, ap[k · gemm_mr + i] = A[i][k]      (rows past mr: 0)
//   Bp panel: kc × gemm_nr, bp[k · gemm_nr + j] = op(B)[k][j]  (columns past nr: 0)
// The panels of one k block lie one after another (panel p at p · kc · gemm_mr), so a kernel may take two
// neighbouring Ap panels (12 rows) at once.
//
// B[N, K] (a checkpoint weight) may be bf16 as stored: it is widened to f32 where it is read (packing a Bp
// panel, or the GEMV's loads), which is exact, so the products, their order and every result bit are those
// of the same weights converted to f32.
#pragma once

#include <vlgraph/backends/cpu/cpu_isa.hpp>
#include <vlgraph/config.hpp>
#include <vlgraph/dtype.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>

namespace vl::cpu {

inline constexpr index_t gemm_mr = 6;    // micro-tile rows (one Ap panel)
inline constexpr index_t gemm_nr = 16;   // micro-tile columns (one zmm, two ymm)
inline constexpr index_t gemm_kc = 256;  // k block: Bp panel 16 KiB (L1), Ap tile 132 KiB (L2)

// One row of C times B[K, N] read in place (decode against a [K, N] operand): gemm_wide_panels panels of
// gemm_nr columns, enough independent chains to hide the fma latency.
inline constexpr index_t gemm_wide_panels = 4;
inline constexpr index_t gemm_wide_cols = gemm_wide_panels * gemm_nr;

// B elements the GEMM reads as stored (widened to f32, exactly).
template <class T>
concept gemm_b_element = std::same_as<T, float> || std::same_as<T, bf16>;

// Where a micro-tile's chains start: row i at p + i · ld (ld = 0: one row for all, the bias), or zero
// when p is null.
struct tile_init {
    const float* p;
    index_t ld;
};

namespace gemm_detail {

// Every kernel fuses each product into its sum, as one rounding: std::fma is the instruction where the
// compiler targets FMA and the C library's exact fma elsewhere, so the portable loops give the bits the
// vector kernels give.
inline float fused(float a, float b, float c) { return std::fma(a, b, c); }

inline float widen(float v) { return v; }
inline float widen(bf16 v) { return v.to_float(); }

}  // namespace gemm_detail
}  // namespace vl::cpu
