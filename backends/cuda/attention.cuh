// backends/cuda/attention.cuh — scaled dot-product attention (ops/attention.hpp),
// flash-style: the N × M score matrix is never materialised.
//
// One CTA of 256 threads per (query tile of 64 consecutive queries, query head).
// It walks the keys its queries may see in tiles of 64, staging each K and V tile
// in shared memory (converted to f32 once), and keeps per query a running max m,
// a running sum l and an output accumulator o (f32, in registers):
//
//     S = scale · Q_tile · K_tileᵀ                    [64, 64], masked keys -> -inf
//     m' = max(m, rowmax S);  P = exp(S - m');  c = exp(m - m')
//     l = c·l + rowsum P;     o = c·o + P · V_tile
//     out = o / l                                      after the last key tile
//
// Thread layout: thread (ty, tx) = (tid / 16, tid % 16) owns the query rows
// ty + 16i (i < 4). In S it owns the key columns tx + 16j (j < 4), so the 16
// threads of a half-warp hold whole rows of S and reduce max and sum with
// shuffles (no shared-memory pass over S); in o it owns the value columns
// tx + 16c, so the rescaling factor c of its rows is already in registers. Only
// P goes through shared memory, to be re-read by rows for P · V.
//
// Masks. Each query i sees a contiguous key range [lo_i, hi_i), and lo_i, hi_i
// never decrease with i:
//   segments: the segment s with cu[s] <= i < cu[s + 1] (binary search in the
//             cu_seqlens array uploaded to the device; zero-length segments are
//             never found), [lo, hi) = [cu[s], cu[s + 1]);
//   causal:   [0, min(M, i + offset + 1)).
// So a tile only visits the keys [lo of its first query, hi of its last query):
// the keys of the segment(s) its queries belong to, or the causal prefix. Keys
// outside a row's own range get a score of -inf; a row whose running max is
// still -inf (no visible key seen yet — a tile straddling two segments) takes
// exponentials against 0 instead, so it accumulates exact zeros, never NaN.
//
// Shapes: GQA (query head h reads kv head h / (Hq / Hkv)), D != Dv, head dims up
// to 256. The accumulator's size is a template parameter (Dv <= 128 or <= 256),
// so two kernels per storage dtype exist. Shared memory is sized to D and Dv at
// run time (at most ~213 KB for D = Dv = 256; the vision tower's 72 needs ~75 KB).
//
// Precision (docs/numerics.md): inputs converted from T to f32, scores as f32
// FMA dot products, f32 online softmax (expf), f32 accumulation, one rounding to
// T at the output. The CPU backend takes the global row max and sums in f64, so
// results differ from it by f32 rounding only.
#pragma once

#include <vlgraph/backends/cuda/executor.cuh>
#include <vlgraph/ops/attention.hpp>

#include <array>
#include <string>
#include <vector>

namespace vl {
namespace cuda::detail {

inline constexpr int attention_bq = 64;        // queries per CTA
inline constexpr int attention_bk = 64;        // keys per shared-memory tile
inline constexpr int attention_threads = 256;  // 16 × 16: (ty, tx), see above
inline constexpr index_t attention_max_head_dim = 256;

// Row strides of the shared-memory tiles, in floats. Odd strides (Q, Kᵀ) and a
// stride ≡ 16 (mod 32) (P) keep every access pattern below free of bank conflicts.
__host__ __device__ inline int attention_q_stride(index_t d) { return static_cast<int>(d | 1); }
inline constexpr int attention_kt_stride = attention_bk + 1;
inline constexpr int attention_p_stride = attention_bk + 16;

inline std::size_t attention_smem_bytes(index_t d, index_t dv) {
    const index_t floats = attention_bq * attention_q_stride(d)  // Q tile       [bq][d | 1]
                           + d * attention_kt_stride              // K tile, transposed [d][bk + 1]
                           + attention_bk * dv                    // V tile       [bk][dv]
                           + attention_bq * attention_p_stride;   // P            [bq][bk + 16]
    return static_cast<std::size_t>(floats) * sizeof(float);
}

struct attention_params {
    index_t n, m, hq, hkv, d, dv;
    float scale;
    const index_t* cu;  // segments: cu_seqlens on the device (segments + 1 entries); causal: null
    index_t segments;
    index_t offset;             // causal
    const std::int64_t* past;   // causal: the offset read on the device (a recorded step's cache length), or null
};

// The keys [lo, hi) query i may see.
__device__ __forceinline__ void visible_keys(const attention_params& p, index_t i, index_t& lo, index_t& hi) {
    if (p.cu) {
        // The last s with cu[s] <= i: invariant cu[a] <= i < cu[b] (cu[0] = 0, cu[segments] = N).
        index_t a = 0, b = p.segments;
        while (b - a > 1) {
            const index_t mid = a + (b - a) / 2;
            if (p.cu[mid] <= i) a = mid;
            else b = mid;
        }
        lo = p.cu[a];
        hi = p.cu[a + 1];
    } else {
        lo = 0;
        hi = min(p.m, i + (p.past ? static_cast<index_t>(*p.past) : p.offset) + 1);
    }
}

// Sum / max over the 16 lanes of a half-warp (xor offsets below 16 stay inside it).
__device__ __forceinline__ float half_warp_max(float v) {
    for (int o = 8; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float half_warp_sum(float v) {
    for (int o = 8; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Chunks: the value columns a thread accumulates (tx + 16c, c < Chunks), so Dv <= 16 · Chunks.
template <class T, int Chunks>
__global__ void __launch_bounds__(attention_threads) attention_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                                                      T* __restrict__ out, attention_params p) {
    constexpr int bq = attention_bq, bk = attention_bk, rows_per_thread = bq / 16, cols_per_thread = bk / 16;
    const int d = static_cast<int>(p.d), dv = static_cast<int>(p.dv);
    const int qs_stride = attention_q_stride(p.d);
    extern __shared__ float smem[];
    float* qs = smem;                                // [bq][qs_stride]
    float* kt = qs + bq * qs_stride;                 // [d][bk + 1]: K tile transposed, so S reads it along keys
    float* vs = kt + d * attention_kt_stride;        // [bk][dv]
    float* ps = vs + bk * dv;                        // [bq][bk + 16]

    const index_t q0 = static_cast<index_t>(blockIdx.x) * bq, h = blockIdx.y, g = h / (p.hq / p.hkv);
    const int rows = static_cast<int>(min(static_cast<index_t>(bq), p.n - q0));
    const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16, warp = tid / 32, lane = tid % 32;
    constexpr int warps = attention_threads / 32;

    // Q tile, a warp per row so that global reads are coalesced along D; rows past N are zero.
    for (int r = warp; r < bq; r += warps) {
        const T* src = q + ((q0 + r) * p.hq + h) * p.d;
        for (int c = lane; c < d; c += 32) qs[r * qs_stride + c] = r < rows ? to_float(src[c]) : 0.0f;
    }

    index_t lo[rows_per_thread], hi[rows_per_thread];
    #pragma unroll
    for (int i = 0; i < rows_per_thread; ++i) {
        lo[i] = hi[i] = 0;  // rows past N see nothing and are never written
        if (ty + 16 * i < rows) visible_keys(p, q0 + ty + 16 * i, lo[i], hi[i]);
    }
    index_t k_begin, k_end, ignored;
    visible_keys(p, q0, k_begin, ignored);
    visible_keys(p, q0 + rows - 1, ignored, k_end);

    float row_max[rows_per_thread], row_sum[rows_per_thread], acc[rows_per_thread][Chunks];
    #pragma unroll
    for (int i = 0; i < rows_per_thread; ++i) {
        row_max[i] = -INFINITY;
        row_sum[i] = 0.0f;
        #pragma unroll
        for (int c = 0; c < Chunks; ++c) acc[i][c] = 0.0f;
    }

    for (index_t k0 = k_begin; k0 < k_end; k0 += bk) {
        const int keys = static_cast<int>(min(static_cast<index_t>(bk), k_end - k0));
        __syncthreads();  // the previous tile's K, V and P are no longer read
        for (int j = warp; j < bk; j += warps) {
            const T* ksrc = k + ((k0 + j) * p.hkv + g) * p.d;
            const T* vsrc = v + ((k0 + j) * p.hkv + g) * p.dv;
            for (int c = lane; c < d; c += 32) kt[c * attention_kt_stride + j] = j < keys ? to_float(ksrc[c]) : 0.0f;
            for (int c = lane; c < dv; c += 32) vs[j * dv + c] = j < keys ? to_float(vsrc[c]) : 0.0f;
        }
        __syncthreads();  // (and, on the first tile, the Q tile)

        float s[rows_per_thread][cols_per_thread] = {};
        for (int c = 0; c < d; ++c) {
            float a[rows_per_thread], b[cols_per_thread];
            #pragma unroll
            for (int i = 0; i < rows_per_thread; ++i) a[i] = qs[(ty + 16 * i) * qs_stride + c];
            #pragma unroll
            for (int j = 0; j < cols_per_thread; ++j) b[j] = kt[c * attention_kt_stride + tx + 16 * j];
            #pragma unroll
            for (int i = 0; i < rows_per_thread; ++i)
                #pragma unroll
                for (int j = 0; j < cols_per_thread; ++j) s[i][j] = fmaf(a[i], b[j], s[i][j]);
        }

        #pragma unroll
        for (int i = 0; i < rows_per_thread; ++i) {
            float tile_max = -INFINITY;
            #pragma unroll
            for (int j = 0; j < cols_per_thread; ++j) {
                const index_t key = k0 + tx + 16 * j;
                s[i][j] = key >= lo[i] && key < hi[i] ? s[i][j] * p.scale : -INFINITY;
                tile_max = fmaxf(tile_max, s[i][j]);
            }
            const float new_max = fmaxf(row_max[i], half_warp_max(tile_max));
            const float base = new_max == -INFINITY ? 0.0f : new_max;  // no visible key yet: exp(-inf - 0) = 0
            const float rescale = expf(row_max[i] - base);
            float tile_sum = 0.0f;
            #pragma unroll
            for (int j = 0; j < cols_per_thread; ++j) {
                const float e = expf(s[i][j] - base);
                tile_sum += e;
                ps[(ty + 16 * i) * attention_p_stride + tx + 16 * j] = e;
            }
            row_sum[i] = row_sum[i] * rescale + half_warp_sum(tile_sum);
            row_max[i] = new_max;
            #pragma unroll
            for (int c = 0; c < Chunks; ++c) acc[i][c] *= rescale;
        }
        __syncthreads();  // P complete

        for (int j = 0; j < keys; ++j) {
            float pj[rows_per_thread];
            #pragma unroll
            for (int i = 0; i < rows_per_thread; ++i) pj[i] = ps[(ty + 16 * i) * attention_p_stride + j];
            #pragma unroll
            for (int c = 0; c < Chunks; ++c) {
                const int col = tx + 16 * c;
                if (col < dv) {
                    const float vj = vs[j * dv + col];
                    #pragma unroll
                    for (int i = 0; i < rows_per_thread; ++i) acc[i][c] = fmaf(pj[i], vj, acc[i][c]);
                }
            }
        }
    }

    #pragma unroll
    for (int i = 0; i < rows_per_thread; ++i) {
        const int r = ty + 16 * i;
        if (r >= rows) continue;
        const float inv = 1.0f / row_sum[i];  // row_sum >= 1: the row's max contributes exp(0)
        T* dst = out + ((q0 + r) * p.hq + h) * p.dv;
        #pragma unroll
        for (int c = 0; c < Chunks; ++c) {
            const int col = tx + 16 * c;
            if (col < dv) dst[col] = from_float<T>(acc[i][c] * inv);
        }
    }
}

template <class T, int Chunks>
void launch_attention(executor<T>& ex, const T* q, const T* k, const T* v, T* out, const attention_params& p) {
    const auto kernel = attention_kernel<T, Chunks>;
    const std::size_t smem = attention_smem_bytes(p.d, p.dv);
    // Above 48 KB a kernel's dynamic shared memory must be raised explicitly (per device, so on every launch).
    if (smem > 48 * 1024) VL_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    const dim3 grid(static_cast<unsigned>((p.n + attention_bq - 1) / attention_bq), static_cast<unsigned>(p.hq));
    kernel<<<grid, attention_threads, smem, ex.stream>>>(q, k, v, out, p);
    VL_CUDA_CHECK_LAUNCH("attention");
}

}  // namespace cuda::detail

template <class T>
struct lowering<cuda::executor<T>, ops::attention> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value q = ctx.contiguous(node.q), k = ctx.contiguous(node.k), v = ctx.contiguous(node.v);
        const bool segments = node.mask.type() == attention_mask::kind::segments;
        const std::vector<index_t>& cu = node.mask.cu_seqlens();
        // The segment boundaries on the device: uploaded with the launch, or once when a program is recorded.
        value cu_dev;
        const bool upload_cu = segments && !ctx.recording();
        if (upload_cu) cu_dev = ctx.alloc(std::array<index_t, 1>{static_cast<index_t>(cu.size())}, dtype::i64);
        else if (segments && !ctx.dry()) cu_dev = value::of(cuda::to_device(tensor::from(cu, {static_cast<index_t>(cu.size())})));
        const tensor& past = node.mask.past();
        if (past.defined() && past.space() != memory_space::device)
            throw backend_error("cuda attention: the run-time causal offset must be a device tensor (vl::cuda::to_device)");
        value out = ctx.alloc(node.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            cuda::detail::attention_params p{};
            p.n = q.shape[0], p.hq = q.shape[1], p.d = q.shape[2];
            p.m = k.shape[0], p.hkv = k.shape[1], p.dv = v.shape[2];
            p.scale = node.scale;
            p.offset = node.mask.offset();
            if (p.n == 0 || p.hq == 0 || p.dv == 0) return;
            if (p.d > cuda::detail::attention_max_head_dim || p.dv > cuda::detail::attention_max_head_dim)
                throw backend_error("cuda attention: head dimensions up to " + std::to_string(cuda::detail::attention_max_head_dim) + " are supported, got D = " +
                                    std::to_string(p.d) + ", Dv = " + std::to_string(p.dv));
            if (p.hq > 65535) throw backend_error("cuda attention: at most 65535 query heads (a grid dimension), got " + std::to_string(p.hq));
            p.past = past.defined() ? static_cast<const std::int64_t*>(past.raw_data()) : nullptr;
            if (segments) {
                // Pageable source: cudaMemcpyAsync stages it before returning.
                if (upload_cu) VL_CUDA_CHECK(cudaMemcpyAsync(cu_dev.data, cu.data(), cu.size() * sizeof(index_t), cudaMemcpyHostToDevice, ex.stream));
                p.cu = cu_dev.ptr<const index_t>();
                p.segments = static_cast<index_t>(cu.size()) - 1;
            }
            const T *qp = q.ptr<const T>(), *kp = k.ptr<const T>(), *vp = v.ptr<const T>();
            if (p.dv <= 128) cuda::detail::launch_attention<T, 8>(ex, qp, kp, vp, out.ptr<T>(), p);
            else cuda::detail::launch_attention<T, 16>(ex, qp, kp, vp, out.ptr<T>(), p);
        });
        return out;
    }
};

}  // namespace vl
